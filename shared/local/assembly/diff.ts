/**
 * What changed between two synthesized templates of one stack, as the local stack must act on it (a
 * `cdk diff` for `sluice dev`'s re-synthesis on edit): a function whose code (asset), handler, memory,
 * timeout, environment or role policies changed is restarted alone; anything else — a stream, table,
 * bucket, queue, event-source mapping, rule or Function URL added, removed or changed, or a function
 * added or removed — changes the wiring, and the stack is restarted on the same emulators (state and
 * mapping checkpoints are kept, so it resumes where it stood).
 */
import { basename } from 'node:path';
import type { FunctionResource, StackTemplate } from './template.ts';

export interface FunctionChange {
  logicalId: string;
  /** The task label (`derivation:acme/x`), else the logical id. */
  label: string;
  /** What changed: `code`, `handler`, `memory`, `timeout`, `environment`, `policies`. */
  what: string[];
}

export interface TemplateDiff {
  /** Functions to restart with their new definition (same wiring). */
  functions: FunctionChange[];
  /** Wiring changes (`+ stream X`, `- mapping Y`, `~ rule Z`): the stack restarts when any. */
  wiring: string[];
}

export const isEmptyDiff = (d: TemplateDiff): boolean => d.functions.length === 0 && d.wiring.length === 0;

const labelOf = (f: FunctionResource): string => f.environment.POWERTOOLS_SERVICE_NAME ?? f.logicalId;

/** Compare resources of one kind by logical id: added, removed, and changed (by a canonical form). */
function compare<T extends { logicalId: string }>(
  kind: string,
  a: T[],
  b: T[],
  canon: (x: T) => unknown,
  out: string[],
): void {
  const before = new Map(a.map((x) => [x.logicalId, x]));
  const after = new Map(b.map((x) => [x.logicalId, x]));
  for (const [id, x] of after) {
    const old = before.get(id);
    if (!old) out.push(`+ ${kind} ${id}`);
    else if (JSON.stringify(canon(old)) !== JSON.stringify(canon(x))) out.push(`~ ${kind} ${id}`);
  }
  for (const id of before.keys()) if (!after.has(id)) out.push(`- ${kind} ${id}`);
}

/** Without the template folder, so two assemblies of the same stack compare equal where they are. */
const sameDir = (o: unknown, dir: string): unknown => JSON.parse(JSON.stringify(o).replaceAll(dir, '<dir>'));

export function diffTemplates(a: StackTemplate, b: StackTemplate): TemplateDiff {
  const wiring: string[] = [];
  const plain = <T>(x: T) => x;
  compare('stream', a.streams, b.streams, plain, wiring);
  compare('table', a.tables, b.tables, plain, wiring);
  compare('bucket', a.buckets, b.buckets, plain, wiring);
  compare('queue', a.queues, b.queues, plain, wiring);
  compare('mapping', a.mappings, b.mappings, plain, wiring);
  compare('rule', a.rules, b.rules, plain, wiring);
  compare('url', a.urls, b.urls, plain, wiring);
  const fa = new Map(a.functions.map((f) => [f.logicalId, f]));
  const fb = new Map(b.functions.map((f) => [f.logicalId, f]));
  for (const id of fb.keys()) if (!fa.has(id)) wiring.push(`+ function ${id}`);
  for (const id of fa.keys()) if (!fb.has(id)) wiring.push(`- function ${id}`);
  const functions: FunctionChange[] = [];
  for (const [id, next] of fb) {
    const prev = fa.get(id);
    if (!prev) continue;
    const what: string[] = [];
    // Asset folders are named by the content hash of what they hold (`asset.<sha256>`).
    if (basename(prev.assetDir) !== basename(next.assetDir)) what.push('code');
    if (prev.handler !== next.handler) what.push('handler');
    if (prev.memoryMb !== next.memoryMb) what.push('memory');
    if (prev.timeoutSeconds !== next.timeoutSeconds) what.push('timeout');
    if (JSON.stringify(sameDir(prev.environment, a.dir)) !== JSON.stringify(sameDir(next.environment, b.dir)))
      what.push('environment');
    const policies = (t: StackTemplate, f: FunctionResource) =>
      JSON.stringify(f.roleLogicalId ? (t.roles.get(f.roleLogicalId)?.policies ?? []) : []);
    if (policies(a, prev) !== policies(b, next)) what.push('policies');
    if (what.length > 0) functions.push({ logicalId: id, label: labelOf(next), what });
  }
  return { functions, wiring };
}

/** One line per change, for the terminal: `~ derivation:acme/x (code)`, `+ stream …`. */
export function formatDiff(d: TemplateDiff): string[] {
  return [...d.functions.map((f) => `~ ${f.label} (${f.what.join(', ')})`), ...d.wiring];
}
