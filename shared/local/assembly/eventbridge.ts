/**
 * EventBridge as the local stack needs it: the events it delivers to rule targets (Scheduled Event,
 * S3 Object Created) in the exact shape AWS delivers them, schedule expressions, and event-pattern
 * matching (exact values, `prefix`, `suffix`, `exists`, `anything-but`, nested objects), so a rule's
 * pattern in the template decides what reaches the function, as on AWS.
 */
import { randomUUID } from 'node:crypto';
import { AssemblyError } from './errors.ts';

export interface EventBridgeEvent {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

export function scheduledEvent(ruleArn: string, env: { account: string; region: string }): EventBridgeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: env.account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: env.region,
    resources: [ruleArn],
    detail: {},
  };
}

/** The "Object Created" event S3 sends to EventBridge (key not URL-encoded, unlike S3 notifications). */
export function objectCreatedEvent(
  o: { bucket: string; key: string; size?: number; etag?: string; sequencer?: string; reason?: string },
  env: { account: string; region: string },
): EventBridgeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: env.account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: env.region,
    resources: [`arn:aws:s3:::${o.bucket}`],
    detail: {
      version: '0',
      bucket: { name: o.bucket },
      object: { key: o.key, size: o.size ?? 0, etag: o.etag ?? '', sequencer: o.sequencer ?? '0' },
      'request-id': randomUUID(),
      requester: env.account,
      'source-ip-address': '127.0.0.1',
      reason: o.reason ?? 'PutObject',
    },
  };
}

/** `rate(5 minutes)` → ms; `cron(...)` is approximated by its smallest period, one minute. */
export function scheduleMs(expression: string, where: string): number {
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const n = Number(rate[1]);
    const unit = rate[2].startsWith('minute') ? 60_000 : rate[2].startsWith('hour') ? 3_600_000 : 86_400_000;
    return n * unit;
  }
  if (/^cron\(.+\)$/.test(expression.trim())) return 60_000;
  throw new AssemblyError(
    where,
    `schedule expression ${JSON.stringify(expression)}: expected rate(...) or cron(...)`,
  );
}

function matchValue(rule: unknown, value: unknown, present: boolean): boolean {
  if (rule !== null && typeof rule === 'object') {
    const r = rule as Record<string, unknown>;
    if ('prefix' in r) return typeof value === 'string' && value.startsWith(String(r.prefix));
    if ('suffix' in r) return typeof value === 'string' && value.endsWith(String(r.suffix));
    if ('exists' in r) return r.exists === present;
    if ('anything-but' in r) {
      const but = r['anything-but'];
      const list = Array.isArray(but) ? but : [but];
      return present && !list.some((b) => matchValue(b, value, present));
    }
    if ('equals-ignore-case' in r)
      return (
        typeof value === 'string' && value.toLowerCase() === String(r['equals-ignore-case']).toLowerCase()
      );
    return false;
  }
  return present && value === rule;
}

/** Does an event match an EventBridge pattern? Arrays are alternatives; every named field must match. */
export function matchesPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  const obj = (event ?? {}) as Record<string, unknown>;
  for (const [field, rule] of Object.entries(pattern)) {
    const present = field in obj;
    const value = obj[field];
    if (Array.isArray(rule)) {
      const values = Array.isArray(value) ? value : [value];
      if (!rule.some((r) => values.some((v) => matchValue(r, v, present)))) return false;
    } else if (rule !== null && typeof rule === 'object') {
      if (!present || value === null || typeof value !== 'object') return false;
      if (!matchesPattern(rule as Record<string, unknown>, value)) return false;
    } else if (!matchValue(rule, value, present)) return false;
  }
  return true;
}
