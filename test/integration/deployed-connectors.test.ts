/**
 * The connectors as deployed: each fixture catalog (test/fixtures/deployed/) is synthesized with the
 * project's CDK app and its cloud assembly runs on the emulators (test/support/assembly.ts): every
 * function from its bundle, every AWS call it makes checked against its role's policies from the
 * template, and events in the shapes AWS delivers them (EventBridge schedules, S3 "Object Created").
 *
 * One rule of S3 that the emulator does not follow is applied on the wire (`s3MissingKeyRule`): a
 * GetObject of a missing key is answered 403 AccessDenied, not 404 NoSuchKey, unless the caller may also
 * s3:ListBucket the bucket with that key as s3:prefix — what AWS does. A role that may read an object
 * but not learn that it is missing fails here as it fails deployed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AwsClients,
  destroyClients,
  EMULATOR_CREDENTIALS,
  makeClients,
} from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../../shared/adapters/s3.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { isObject, type JsonObject } from '../../shared/json/types.ts';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import { evaluatePolicies } from '../../shared/local/iam/policy.ts';
import type { CannedResponse, ProxyHooks } from '../../shared/local/sandbox/proxy.ts';
import { startAssembly } from '../support/assembly.ts';
import { startPostgres } from '../support/postgres.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/deployed/', import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sluice-deployed-'));
  cleanup.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function load(file: string): Promise<BuiltCatalog> {
  const r = await loadCatalog(join(FIXTURES, file));
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  return r.catalog;
}

// ------------------------------------------------------------------ S3's 403 for a missing key

interface MissingKeyRule {
  hooks: ProxyHooks;
  /** Objects answered 403 because they were missing and the caller could not list them. */
  answered403: string[];
  attach(runner: AssemblyRunner): void;
}

/**
 * S3 answers a GetObject (or HEAD) of a missing key with 403 AccessDenied unless the caller may
 * s3:ListBucket with s3:prefix = that key; the emulator always answers 404. Objects are known to
 * exist from every successful PutObject of a function and every "Object Created" event.
 */
function s3MissingKeyRule(): MissingKeyRule {
  const existing = new Set<string>();
  const answered403: string[] = [];
  let runner: AssemblyRunner | undefined;
  const objectOf = (arn: string) => {
    const m = /^arn:[^:]+:s3:::([^/]+)\/(.+)$/.exec(arn);
    return m ? { bucket: m[1], key: m[2] } : undefined;
  };
  return {
    answered403,
    hooks: {
      before(c): CannedResponse | undefined {
        if (c.service !== 's3' || !runner) return undefined;
        const get = c.iam.find((r) => r.action === 's3:GetObject');
        const o = get ? objectOf(get.resource) : undefined;
        if (!o || existing.has(`${o.bucket}/${o.key}`)) return undefined;
        const fn = runner.template.functions.find((f) => f.name === c.functionName);
        const role = fn?.roleLogicalId ? runner.template.roles.get(fn.roleLogicalId) : undefined;
        const list = {
          action: 's3:ListBucket',
          resource: `arn:aws:s3:::${o.bucket}`,
          context: { 's3:prefix': o.key },
        };
        if (evaluatePolicies(role?.policies ?? [], list).effect === 'allow') return undefined;
        answered403.push(`${c.functionName} s3://${o.bucket}/${o.key}`);
        const body =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>' +
          '<Message>Access Denied</Message><RequestId>LOCAL</RequestId><HostId>LOCAL</HostId></Error>';
        return {
          status: 403,
          headers: { 'content-type': 'application/xml' },
          body: c.call.method === 'HEAD' ? '' : body,
        };
      },
      after(c, status) {
        if (c.service !== 's3' || c.call.method !== 'PUT' || status !== 200) return;
        const put = c.iam.find((r) => r.action === 's3:PutObject');
        const o = put ? objectOf(put.resource) : undefined;
        if (o) existing.add(`${o.bucket}/${o.key}`);
      },
    },
    attach(r) {
      runner = r;
      const off = r.emulators.onS3Event((e) => {
        if (e.eventName.startsWith('ObjectCreated'))
          existing.add(`${e.s3.bucket.name}/${decodeURIComponent(e.s3.object.key.replace(/\+/g, ' '))}`);
      });
      cleanup.push(off);
    },
  };
}

// ------------------------------------------------------------------ running an assembly

async function start(
  catalog: string | BuiltCatalog,
  opts: { shards?: number } = {},
): Promise<{
  runner: AssemblyRunner;
  admin: AwsClients;
  rule: MissingKeyRule;
}> {
  const rule = s3MissingKeyRule();
  const runner = await startAssembly(catalog, { dataDir: tempDir(), hooks: rule.hooks, ...opts });
  cleanup.push(() => runner.stop());
  rule.attach(runner);
  const admin = makeClients({
    region: runner.template.region,
    endpoints: runner.emulators.endpoints,
    credentials: EMULATOR_CREDENTIALS,
  });
  cleanup.push(() => destroyClients(admin));
  return { runner, admin, rule };
}

/** What went wrong so far: denied calls, failed EventBridge deliveries, functions' error lines. */
function problems(runner: AssemblyRunner, rule: MissingKeyRule) {
  const unique = (xs: string[]) => [...new Set(xs)];
  return {
    denied: unique(runner.denied.map((d) => d.message)),
    missingKey403: unique(rule.answered403),
    rules: runner.ruleErrors(),
    errors: unique(runner.tasks.flatMap((t) => t.recentErrors.map((e) => `${t.label}: ${e.slice(0, 300)}`))),
  };
}

const CLEAN = { denied: [], missingKey403: [], rules: [], errors: [] };

/** Deliver everything in the streams; a mapping that keeps failing (halted) fails the test with why. */
async function settle(runner: AssemblyRunner, rule: MissingKeyRule, ms = 45_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const drained = runner.drain();
  drained.catch(() => undefined);
  try {
    await Promise.race([
      drained,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `streams not drained in ${ms} ms (a halted task?): ${JSON.stringify(
                  {
                    ...problems(runner, rule),
                    mappings: runner.mappings.map((m) => m.lastError).filter((e) => e !== undefined),
                  },
                  null,
                  1,
                )}`,
              ),
            ),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(
  what: string,
  runner: AssemblyRunner,
  rule: MissingKeyRule,
  cond: () => Promise<boolean>,
  ms = 45_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until || runner.ruleErrors().length > 0)
      throw new Error(`${what}: not within ${ms} ms: ${JSON.stringify(problems(runner, rule), null, 1)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function envOf(runner: AssemblyRunner, label: string): Record<string, string> {
  const fn = runner.tasks.find((t) => t.label === label)?.fn.fn;
  if (!fn) throw new Error(`no function ${label}`);
  return fn.environment;
}

/** The reduced view of a collection (what `sluice read` prints), from the state table. */
async function view(runner: AssemblyRunner, admin: AwsClients, collection: string): Promise<JsonObject[]> {
  const table = envOf(runner, `persister:${collection}`).SLUICE_STATE_TABLE;
  const out: JsonObject[] = [];
  for await (const it of new DynamoStateStore({ client: admin.dynamodb, table }).scan(collection))
    if (isObject(it.doc)) out.push(it.doc);
  return out;
}

// ------------------------------------------------------------------ the tests

describe('source-postgres-batch as deployed', () => {
  it('a scheduled poll keeps its cursor in the fragments bucket (Get/Put of its own object only) and resumes after it', async () => {
    const server = await startPostgres();
    cleanup.push(() => server.stop());
    await server.createDatabase('shop');
    const shop = await server.client('shop');
    cleanup.push(() => shop.end());
    await shop.query(
      'CREATE TABLE public.orders (order_id INTEGER PRIMARY KEY, amount DOUBLE PRECISION NOT NULL, updated_at TIMESTAMPTZ NOT NULL)',
    );
    const insert = async (from: number, n: number, at: string) => {
      for (let i = from; i < from + n; i++)
        await shop.query('INSERT INTO public.orders VALUES ($1, $2, $3)', [i, i * 1.5, at]);
    };
    await insert(1, 20, '2026-01-01T00:00:00Z');

    const catalog = await load('pg.flow.yaml');
    const cfg = catalog.captures['deployed/from-pg'].endpoint.config as JsonObject;
    // The function sees only its template's environment: the test server's password goes in as a literal.
    Object.assign(cfg, { address: server.address, user: server.user, password: server.password });
    const { runner, admin, rule } = await start(catalog);

    await runner.runSchedules();
    expect(problems(runner, rule)).toEqual(CLEAN);
    await settle(runner, rule);
    const first = await view(runner, admin, 'deployed/orders');
    expect(first.map((d) => d.order_id).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );

    // The cursor state is the capture's own object in the default fragments bucket.
    const bucket = envOf(runner, 'capture:deployed/from-pg').SLUICE_BUCKET;
    expect(runner.template.buckets.map((b) => b.name)).toContain(bucket);
    const state = await new S3BlobStore({ client: admin.s3, bucket }).get(
      '_sluice/captures/deployed/from-pg.json',
    );
    expect(state).toBeDefined();

    // The next poll resumes after the saved cursor: only the new rows are captured.
    await insert(21, 5, '2026-01-02T00:00:00Z');
    await runner.runSchedules();
    await settle(runner, rule);
    expect(problems(runner, rule)).toEqual(CLEAN);
    const second = await view(runner, admin, 'deployed/orders');
    expect(second).toHaveLength(25);
    const byId = new Map(second.map((d) => [d.order_id, d]));
    for (const d of first) expect(byId.get(d.order_id)).toEqual(d); // not re-read (same _meta/uuid)
  });
});

describe('materialize-s3 as deployed', () => {
  it('writes delta files and reads its own checkpoint: a first run (no checkpoint yet) is a 404, never AccessDenied', async () => {
    // One shard: s3rver writes objects in place, so a GetObject (a cold start's open()) concurrent with
    // a PutObject of the same key can read half a file (S3 cannot).
    const { runner, admin, rule } = await start(join(FIXTURES, 'lake.flow.yaml'), { shards: 1 });
    await new S3BlobStore({ client: admin.s3, bucket: 'deployed-lake' }).ensureBucket();
    const post = async (ids: number[]) => {
      const res = await fetch(`${runner.ingestUrl}/deployed/ingest/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(ids.map((i) => ({ id: `e${i}`, n: i }))),
      });
      expect(res.status).toBe(200);
    };
    const lakeDocs = async () => {
      const lake = new S3BlobStore({ client: admin.s3, bucket: 'deployed-lake' });
      const ids: string[] = [];
      for (const k of await lake.list('lake/events/')) {
        expect(k).toMatch(/^lake\/events\/utc_date=\d{4}-\d{2}-\d{2}\/utc_hour=\d{2}\/.+\.jsonl\.gz$/);
        for (const line of gunzipSync((await lake.get(k)) as Uint8Array)
          .toString()
          .split('\n'))
          if (line) ids.push((JSON.parse(line) as { id: string }).id);
      }
      // One checkpoint object per source shard, under the materialization's own folder.
      const parts: string[] = [];
      for (const k of await lake.list('lake/_sluice/checkpoints/deployed/lake/'))
        parts.push(Buffer.from((await lake.get(k)) as Uint8Array).toString());
      return { ids: [...new Set(ids)].sort(), checkpoint: parts.length > 0 ? parts.join('\n') : undefined };
    };

    await post(Array.from({ length: 30 }, (_, i) => i));
    await settle(runner, rule);
    expect(problems(runner, rule)).toEqual(CLEAN);
    const first = await lakeDocs();
    expect(first.ids).toEqual(Array.from({ length: 30 }, (_, i) => `e${i}`).sort());
    expect(first.checkpoint).toBeDefined();

    // A second transaction advances it (open() listed and read it back under the role's grants).
    await post(Array.from({ length: 10 }, (_, i) => 30 + i));
    await settle(runner, rule);
    expect(problems(runner, rule)).toEqual(CLEAN);
    const second = await lakeDocs();
    expect(second.ids).toEqual(Array.from({ length: 40 }, (_, i) => `e${i}`).sort());
    expect(second.checkpoint).not.toBe(first.checkpoint);
    const fn = runner.task('materialization:deployed/lake').fn;
    expect(fn.stats.errors, fn.lastError?.message).toBe(0);
  });
});

describe('source-s3 as deployed', () => {
  it('an object written under the watched prefix is captured from its EventBridge event; the scheduled poll keeps its own state', async () => {
    const { runner, admin, rule } = await start(join(FIXTURES, 'files.flow.yaml'));
    await new S3BlobStore({ client: admin.s3, bucket: 'deployed-drop' }).ensureBucket();
    const put = (key: string, lines: unknown[]) =>
      admin.s3.send(
        new PutObjectCommand({
          Bucket: 'deployed-drop',
          Key: key,
          Body: lines.map((l) => JSON.stringify(l)).join('\n'),
        }),
      );
    // A key with a space and an '=': EventBridge delivers it as is (S3 notifications URL-encode it).
    const key = 'incoming/day=2026-01-01/batch 1.jsonl';
    await put(key, [
      { sku: 'a', qty: 1 },
      { sku: 'b', qty: 2 },
      { sku: 'c', qty: 3 },
    ]);
    await put('elsewhere/ignored.jsonl', [{ sku: 'x', qty: 9 }]); // outside the prefix: no event delivered

    const capture = runner.task('capture:deployed/from-s3');
    await waitFor('the Object Created event reaches the capture', runner, rule, async () => {
      if (capture.fn.stats.invocations === 0) return false;
      await settle(runner, rule);
      return (await view(runner, admin, 'deployed/files')).length >= 3;
    });
    expect(problems(runner, rule)).toEqual(CLEAN);
    const docs = await view(runner, admin, 'deployed/files');
    expect(
      docs.map((d) => [d.sku, d.qty, (d._meta as JsonObject).file, (d._meta as JsonObject).offset]).sort(),
    ).toEqual([
      // `_meta/file` is the object's path, bucket first, as Estuary's filesource writes it.
      ['a', 1, `deployed-drop/${key}`, 0],
      ['b', 2, `deployed-drop/${key}`, 1],
      ['c', 3, `deployed-drop/${key}`, 2],
    ]);

    // The schedule (interval) polls the prefix with its state in the fragments bucket; the same object
    // gives the same documents (same key), so the view is unchanged.
    await runner.runSchedules();
    await settle(runner, rule);
    expect(problems(runner, rule)).toEqual(CLEAN);
    expect(await view(runner, admin, 'deployed/files')).toHaveLength(3);
    const bucket = envOf(runner, 'capture:deployed/from-s3').SLUICE_BUCKET;
    const state = await new S3BlobStore({ client: admin.s3, bucket }).get(
      '_sluice/captures/deployed/from-s3.json',
    );
    expect(JSON.parse(Buffer.from(state as Uint8Array).toString())).toEqual({
      done: { '': [key] },
      since: { '': expect.any(Number) },
      seen: { '': { [key]: expect.any(Number) } },
    });
  });
});
