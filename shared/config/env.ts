/**
 * The environment contract between the infrastructure (CDK stack, local runner) and the Lambda handlers.
 * Parsed once per process into a typed object; every error names the variable.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `SLUICE_CATALOG` | path of the built catalog JSON (BuiltCatalog), relative to the working dir; or inline JSON when it starts with `{` | `./catalog.json` |
 * | `SLUICE_TASK` | name of the capture / derivation (collection) / materialization this function runs | (required by handlers) |
 * | `SLUICE_PREFIX` | prefix of every resource name (streams) | `sluice` |
 * | `SLUICE_STREAMS` | JSON `{collection: streamName}`; a collection not listed uses `streamNameFor(prefix, collection)` | `{}` |
 * | `SLUICE_STATE_TABLE` | DynamoDB table of reduced state and checkpoints (pk `p` S, sk `k` B) | `<prefix>-state` |
 * | `SLUICE_BUCKET` | S3 bucket of collection fragments when no storage mapping names one | `<prefix>-fragments` |
 * | `SLUICE_FRAGMENTS` | JSON `{collection: "s3://bucket/prefix/"}`: where a collection's fragments go (overrides storage mappings) | `{}` |
 * | `SLUICE_PARKED` | `s3://bucket/_sluice/parked/<task label>/`: the task's failure policy is `park` and its parked documents go here (ports/parking.ts) | unset: `halt` |
 * | `SLUICE_DERIVATION_MODULE` | path of the bundled derivation module (derive functions); else the catalog's module path | unset |
 * | `SLUICE_REDACT_SALT` | salt of `redact: {strategy: sha256}` (schema/redact.ts): a secret reference (`secretsmanager:`, `ssm:`, `env:`) or the salt itself | empty salt |
 * | `SLUICE_TOMBSTONE_TTL_SECONDS` | a reduced view's tombstones (deleted documents) expire this long after they are written (DynamoDB TTL attribute `ttl`); longer than the stream's retention, so no replay can outlive one | unset: kept |
 * | `SLUICE_APPLIED_HORIZON_SECONDS` | entries of the per-key `applied` maps (source → position) that have not moved for this long are pruned on write: no redelivery (the stream's retention; for a materialization, re-backfill from fragments too) can reach them any more | unset: never pruned |
 * | `SLUICE_VIEW` | `off`: the persister writes fragments only, no reduced view (SluiceCatalogProps.views) | on |
 * | `SLUICE_MAX_BODY_BYTES` | HTTP ingest request size limit | `10485760` |
 * | `SLUICE_MEMORY_MB` | memory for usage accounting (else `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`) | `1024` |
 * | `AWS_REGION` | region of the clients | `us-east-1` |
 * | `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3` | emulator endpoints (local stack only) | unset |
 */
import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.ts';

export interface SluiceEnv {
  catalog: string;
  task: string | undefined;
  prefix: string;
  streams: Record<string, string>;
  stateTable: string;
  bucket: string;
  fragments: Record<string, { bucket: string; prefix: string }>;
  derivationModule: string | undefined;
  /** Where the task parks documents it cannot process (`park` policy); undefined: it halts on them. */
  parked: { bucket: string; prefix: string } | undefined;
  redactSalt: string | undefined;
  tombstoneTtlSeconds: number | undefined;
  appliedHorizonSeconds: number | undefined;
  /** SLUICE_VIEW=off: the persister keeps no reduced view. */
  view: boolean;
  maxBodyBytes: number;
  memoryMb: number;
  region: string;
  endpoints: { kinesis?: string; dynamodb?: string; s3?: string };
}

export class EnvError extends SluiceError {
  readonly code = 'BadEnvironment';
  constructor(
    readonly variable: string,
    readonly value: string | undefined,
    detail: string,
  ) {
    super(`environment variable ${variable}=${JSON.stringify(value ?? null)}: ${detail}`);
    this.name = 'EnvError';
  }
}

function jsonStrings(env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  const raw = env[name];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new EnvError(name, raw, `not JSON: ${(e as Error).message}`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  )
    throw new EnvError(name, raw, 'expected a JSON object of strings');
  return parsed as Record<string, string>;
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new EnvError(name, v, 'expected a positive integer');
  return n;
}

function viewSetting(v: string | undefined): boolean {
  if (v === undefined || v === '' || v === 'on') return true;
  if (v === 'off') return false;
  throw new EnvError('SLUICE_VIEW', v, "expected 'on' or 'off'");
}

export function parseEnv(env: NodeJS.ProcessEnv = process.env): SluiceEnv {
  const prefix = env.SLUICE_PREFIX || 'sluice';
  if (!/^[a-zA-Z0-9-]{1,40}$/.test(prefix))
    throw new EnvError('SLUICE_PREFIX', prefix, 'expected 1-40 letters, digits or dashes');
  const streams = jsonStrings(env, 'SLUICE_STREAMS');
  const fragments: SluiceEnv['fragments'] = {};
  for (const [c, url] of Object.entries(jsonStrings(env, 'SLUICE_FRAGMENTS'))) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!m)
      throw new EnvError(
        'SLUICE_FRAGMENTS',
        env.SLUICE_FRAGMENTS,
        `${c}: expected s3://bucket/prefix/, got ${url}`,
      );
    fragments[c] = { bucket: m[1], prefix: m[2] };
  }
  let parked: SluiceEnv['parked'];
  if (env.SLUICE_PARKED) {
    const m = /^s3:\/\/([^/]+)\/(.+\/)$/.exec(env.SLUICE_PARKED);
    if (!m) throw new EnvError('SLUICE_PARKED', env.SLUICE_PARKED, 'expected s3://bucket/prefix/');
    parked = { bucket: m[1], prefix: m[2] };
  }
  return {
    catalog: env.SLUICE_CATALOG || './catalog.json',
    task: env.SLUICE_TASK || undefined,
    prefix,
    streams,
    stateTable: env.SLUICE_STATE_TABLE || `${prefix}-state`,
    bucket: env.SLUICE_BUCKET || `${prefix}-fragments`,
    fragments,
    derivationModule: env.SLUICE_DERIVATION_MODULE || undefined,
    parked,
    redactSalt: env.SLUICE_REDACT_SALT || undefined,
    tombstoneTtlSeconds: env.SLUICE_TOMBSTONE_TTL_SECONDS
      ? positiveInt(env, 'SLUICE_TOMBSTONE_TTL_SECONDS', 1)
      : undefined,
    appliedHorizonSeconds: env.SLUICE_APPLIED_HORIZON_SECONDS
      ? positiveInt(env, 'SLUICE_APPLIED_HORIZON_SECONDS', 1)
      : undefined,
    view: viewSetting(env.SLUICE_VIEW),
    maxBodyBytes: positiveInt(env, 'SLUICE_MAX_BODY_BYTES', 10 * 1024 * 1024),
    memoryMb: positiveInt(env, 'SLUICE_MEMORY_MB', positiveInt(env, 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 1024)),
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    endpoints: {
      kinesis: env.AWS_ENDPOINT_URL_KINESIS || undefined,
      dynamodb: env.AWS_ENDPOINT_URL_DYNAMODB || undefined,
      s3: env.AWS_ENDPOINT_URL_S3 || undefined,
    },
  };
}

let cached: SluiceEnv | undefined;
/** The process environment, parsed once. */
export function sluiceEnv(): SluiceEnv {
  cached ??= parseEnv();
  return cached;
}

/** The handler's task name; throws naming SLUICE_TASK when unset. */
export function requireTask(env: SluiceEnv): string {
  if (!env.task) throw new EnvError('SLUICE_TASK', undefined, 'required: the task this function runs');
  return env.task;
}

/**
 * Kinesis stream name of a collection: `<prefix>-<collection with / as .>`, characters outside
 * `[a-zA-Z0-9_.-]` replaced by `_`; names over 128 characters are cut and suffixed with a hash.
 * Deterministic, so the CDK stack and the handlers agree without configuration.
 */
export function streamNameFor(prefix: string, collection: string): string {
  const base = `${prefix}-${collection.replace(/\//g, '.').replace(/[^a-zA-Z0-9_.-]/g, '_')}`;
  if (base.length <= 128) return base;
  const h = createHash('sha256').update(collection).digest('hex').slice(0, 10);
  return `${base.slice(0, 117)}-${h}`;
}

export function streamName(env: SluiceEnv, collection: string): string {
  return env.streams[collection] ?? streamNameFor(env.prefix, collection);
}
