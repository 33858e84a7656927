import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryJournal } from '../../shared/adapters/memory.ts';
import {
  HttpIngestCapture,
  type IngestRequest,
  MAX_DEPTH,
  nestingDepth,
  parseBody,
} from '../../shared/capture/http-ingest.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { MAX_DOCUMENT_BYTES } from '../../shared/ports/framing.ts';
import { unpackFrame } from '../../shared/ports/index.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

let catalog: BuiltCatalog;
let registry: SchemaRegistry;
beforeAll(async () => {
  const r = await loadCatalog(
    fileURLToPath(new URL('../fixtures/localstack/ingest/flow.yaml', import.meta.url)),
  );
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  catalog = r.catalog;
  registry = new SchemaRegistry(catalog.schemas);
});

function setup(capture = 'test/webhooks', maxBodyBytes?: number) {
  const journal = new MemoryJournal();
  journal.ensure('test/hooks');
  journal.ensure('test/orders');
  const cap = new HttpIngestCapture(catalog.captures[capture], catalog, registry, journal, { maxBodyBytes });
  const written = (c: string) => journal.allRecords(c).flatMap((r) => unpackFrame(r.data));
  return { cap, written };
}

function req(path: string, body: string, headers: Record<string, string> = {}, query = {}): IngestRequest {
  return {
    method: 'POST',
    path,
    headers: { authorization: 'Bearer s3cret', ...headers },
    query,
    body: Buffer.from(body),
  };
}

describe('source-http-ingest', () => {
  it('path parameters, query, idFromHeader and _meta/uuid land in _meta', async () => {
    const { cap, written } = setup();
    const res = await cap.handle(
      req('/test/webhooks/users/ann/hooks', '{"n": 1}', { 'X-Delivery-Id': 'd-1' }, { src: 'gh' }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ published: 1 });
    const [doc] = written('test/hooks') as { n: number; _meta: Record<string, unknown> }[];
    expect(doc.n).toBe(1);
    expect(doc._meta).toMatchObject({
      webhookId: 'd-1',
      pathParams: { userId: 'ann' },
      query: { src: 'gh' },
    });
    expect(doc._meta.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  });

  it('without idFromHeader every document gets its own webhookId (default path /webhook-data)', async () => {
    const { cap, written } = setup('test/open');
    expect((await cap.handle(req('/test/open/webhook-data', '[{"n":1},{"n":2}]'))).status).toBe(200);
    const ids = written('test/hooks').map((d) => (d as { _meta: { webhookId: string } })._meta.webhookId);
    expect(new Set(ids).size).toBe(2);
  });

  it('a binding path without its leading slash is the same path (as Estuary strips it)', async () => {
    const journal = new MemoryJournal();
    journal.ensure('test/orders');
    const spec = structuredClone(catalog.captures['test/open']);
    spec.bindings = [{ ...spec.bindings[0], resource: { path: 'orders/new' }, target: 'test/orders' }];
    // It threw HttpIngestConfigError ("must start with /") on the first request, after `sluice check` passed.
    const cap = new HttpIngestCapture(spec, catalog, registry, journal);
    expect(cap.paths).toEqual(['/test/open/orders/new']);
    expect((await cap.handle(req('/test/open/orders/new', '{"id":"a","qty":1}'))).status).toBe(200);
    expect(journal.allRecords('test/orders').flatMap((r) => unpackFrame(r.data))).toMatchObject([
      { id: 'a' },
    ]);
  });

  it('combines one request by key before appending (sum)', async () => {
    const { cap, written } = setup();
    const body = ['{"id":"a","qty":1}', '{"id":"b","qty":5}', '{"id":"a","qty":2}'].join('\n');
    expect((await cap.handle(req('/test/webhooks/orders', body))).status).toBe(200);
    const docs = written('test/orders') as { id: string; qty: number }[];
    expect(docs.map((d) => [d.id, d.qty])).toEqual([
      ['a', 3],
      ['b', 5],
    ]);
  });

  it('401 without a bearer token, 403 with a wrong one (Estuary’s codes), nothing written', async () => {
    const { cap, written } = setup();
    const wrong = await cap.handle(
      req('/test/webhooks/orders', '{"id":"a","qty":1}', { authorization: 'Bearer nope' }),
    );
    expect([wrong.status, JSON.parse(wrong.body)]).toEqual([403, { error: 'invalid authorization token' }]);
    const missing = await cap.handle({ ...req('/test/webhooks/orders', '{"id":"a","qty":1}'), headers: {} });
    expect([missing.status, JSON.parse(missing.body)]).toEqual([
      401,
      { error: 'missing required header: Authorization' },
    ]);
    expect(written('test/orders')).toEqual([]);
  });

  it("reads Estuary's `requireAuthToken` (an Estuary catalog's token was ignored: the endpoint was open)", async () => {
    const spec = structuredClone(catalog.captures['test/webhooks']);
    spec.endpoint.config = { requireAuthToken: 'camel' };
    const journal = new MemoryJournal();
    journal.ensure('test/orders');
    const cap = new HttpIngestCapture(spec, catalog, registry, journal);
    const post = (authorization?: string) =>
      cap.handle({
        ...req('/test/webhooks/orders', '{"id":"a","qty":1}'),
        headers: authorization ? { authorization } : {},
      });
    expect((await post()).status).toBe(401);
    expect((await post('Bearer s3cret')).status).toBe(403);
    expect((await post('Bearer camel')).status).toBe(200);
  });

  it('answers a CORS preflight from an allowed origin before authentication, and marks its answers; others get none', async () => {
    const spec = structuredClone(catalog.captures['test/webhooks']);
    spec.endpoint.config = { requireAuthToken: 's3cret', allowedCorsOrigins: ['https://app.example.com'] };
    const journal = new MemoryJournal();
    journal.ensure('test/orders');
    const cap = new HttpIngestCapture(spec, catalog, registry, journal);
    const preflight = await cap.handle({
      method: 'OPTIONS',
      path: '/test/webhooks/orders',
      headers: {
        Origin: 'https://app.example.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type',
      },
      query: {},
      body: Buffer.alloc(0),
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'POST, PUT, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type',
    });
    const posted = await cap.handle(
      req('/test/webhooks/orders', '{"id":"a","qty":1}', { Origin: 'https://app.example.com' }),
    );
    expect(posted.status).toBe(200);
    expect(posted.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const other = await cap.handle(
      req('/test/webhooks/orders', '{"id":"b","qty":1}', { Origin: 'https://evil.example' }),
    );
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const otherPreflight = await cap.handle({
      method: 'OPTIONS',
      path: '/test/webhooks/orders',
      headers: { Origin: 'https://evil.example' },
      query: {},
      body: Buffer.alloc(0),
    });
    expect(otherPreflight.status).toBe(403);
    // Without the setting, OPTIONS is not a method of the capture.
    expect(
      (await setup().cap.handle({ ...req('/test/webhooks/orders', ''), method: 'OPTIONS' })).status,
    ).toBe(405);
  });

  it("copies the request's headers into _meta/headers, as Estuary's connector, but for credentials and transport", async () => {
    const { cap, written } = setup();
    const res = await cap.handle(
      req('/test/webhooks/orders', '{"id":"a","qty":1}', {
        'X-GitHub-Event': 'push',
        'User-Agent': 'GitHub-Hookshot/1',
        Cookie: 'session=secret',
        'Content-Type': 'application/json',
        Accept: '*/*',
      }),
    );
    expect(res.status).toBe(200);
    const meta = (written('test/orders')[0] as { _meta: Record<string, unknown> })._meta;
    expect(meta.headers).toEqual({ 'x-github-event': 'push', 'user-agent': 'GitHub-Hookshot/1' });
  });

  it('400 names the document index and schema error; nothing of the request is written', async () => {
    const { cap, written } = setup();
    const res = await cap.handle(req('/test/webhooks/orders', '[{"id":"a","qty":1},{"id":"b","qty":"x"}]'));
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body);
    expect(body.index).toBe(1);
    expect(body.error).toMatch(/document 1 of test\/orders: \/qty/);
    expect(written('test/orders')).toEqual([]);
    expect((await cap.handle(req('/test/webhooks/orders', '[1]'))).status).toBe(400);
  });

  it('400 for an integer JSON.parse would round (two keys would become one), naming the document and pointer; nothing written', async () => {
    const { cap, written } = setup();
    const body = '[{"id":"a","qty":9007199254740992},{"id":"b","qty":9007199254740993}]';
    const res = await cap.handle(req('/test/webhooks/orders', body));
    expect(res.status).toBe(400);
    // The value only where values may be shown (config/debug-values.ts): the body is document data.
    expect(JSON.parse(res.body).error).toBe(
      'document 1: /qty: the integer of 16 digits cannot be held exactly (Sluice keeps integers exact within ±9007199254740991); send it as a string (with `format: integer` to sum it exactly)',
    );
    const lines = await cap.handle(
      req('/test/webhooks/orders', '{"id":"a","qty":1}\n{"id":"b","qty":-9223372036854775807}\n'),
    );
    expect(JSON.parse(lines.body).error).toMatch(
      /^line 2: \/qty: the integer of 19 digits cannot be held exactly/,
    );
    expect(written('test/orders')).toEqual([]);
    // A number beyond a double would parse as Infinity and be written as null: refused, as serde_json does.
    expect(parseBody(Buffer.from('[{"a":1},{"a":-2e400}]'))).toEqual({
      error:
        'document 1: /a: the number is beyond what JSON numbers hold here (a 64-bit float, at most ±1.8e308); send it as a string',
    });
    expect(parseBody(Buffer.from('{"a":1}\n{"b":{"c":1E+999}}\n'))).toEqual({
      error:
        'line 2: /b/c: the number is beyond what JSON numbers hold here (a 64-bit float, at most ±1.8e308); send it as a string',
    });
    // 2^53 itself is exact, and a string or a number past uint64 (a double in Estuary too) is no integer to keep.
    expect(
      parseBody(Buffer.from('{"a":9007199254740992,"b":"9007199254740993","c":123456789012345678901234}')),
    ).toEqual({
      docs: [{ a: 9007199254740992, b: '9007199254740993', c: Number('123456789012345678901234') }],
    });
  });

  it('413 over the size limit, 404 unknown path, 405 other methods', async () => {
    const { cap } = setup('test/webhooks', 10);
    expect((await cap.handle(req('/test/webhooks/orders', '{"id":"a","qty":1}'))).status).toBe(413);
    expect((await cap.handle(req('/test/webhooks/nope', '{}'))).status).toBe(404);
    expect((await cap.handle({ ...req('/test/webhooks/orders', ''), method: 'GET' })).status).toBe(405);
  });

  it('authenticates before anything else: a wrong token gets 403 on every path, and a 404 names nothing', async () => {
    const { cap } = setup();
    for (const path of ['/test/webhooks/orders', '/test/webhooks/nope', '/%E0%A4%A', '/'])
      expect((await cap.handle(req(path, '{}', { authorization: 'Bearer nope' }))).status, path).toBe(403);
    const notFound = await cap.handle(req('/test/webhooks/nope', '{}'));
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body)).toEqual({ error: 'not found' });
    expect(notFound.body).not.toContain('orders');
  });

  it('a malformed percent-encoded path is a 400 after authentication, not a crash', async () => {
    const { cap, written } = setup();
    const res = await cap.handle(
      req('/test/webhooks/users/%E0%A4%A/hooks', '{"n":1}', { 'X-Delivery-Id': 'x' }),
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/malformed path/);
    expect(written('test/hooks')).toEqual([]);
  });

  it('refuses invalid UTF-8 (400), never replacing bytes silently', async () => {
    const { cap, written } = setup();
    const body = Buffer.concat([
      Buffer.from('{"id":"a'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('","qty":1}'),
    ]);
    const res = await cap.handle({ ...req('/test/webhooks/orders', ''), body });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toBe('body is not valid UTF-8');
    expect(written('test/orders')).toEqual([]);
  });

  it('a document nested deeper than MAX_DEPTH is a 400 naming its index, not a RangeError', async () => {
    const { cap, written } = setup();
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const res = await cap.handle(req('/test/webhooks/orders', `[{"id":"a","qty":1},${deep}]`));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      error: `document 1 nests deeper than ${MAX_DEPTH} levels`,
      index: 1,
    });
    expect(written('test/orders')).toEqual([]);
    expect(nestingDepth({ a: [{ b: 1 }] })).toBe(3);
  });

  it('a document too large for one journal record is a 413 naming its index (under the body limit)', async () => {
    const { cap, written } = setup();
    const big = { id: 'b', qty: 1, pad: 'x'.repeat(MAX_DOCUMENT_BYTES) };
    const res = await cap.handle(req('/test/webhooks/orders', JSON.stringify([{ id: 'a', qty: 1 }, big])));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).index).toBe(1);
    expect(JSON.parse(res.body).error).toMatch(/^document 1 is \d+ bytes/);
    expect(written('test/orders')).toEqual([]);
  });

  it("the client's _meta cannot set webhookId, receivedAt, uuid or pathParams; other fields pass to the schema", async () => {
    const { cap, written } = setup();
    const forged = {
      n: 1,
      _meta: {
        webhookId: 'forged',
        uuid: 'forged',
        receivedAt: 'then',
        pathParams: { userId: 'eve' },
        note: 'kept',
      },
    };
    expect(
      (
        await cap.handle(
          req('/test/webhooks/users/ann/hooks', JSON.stringify(forged), { 'X-Delivery-Id': 'd-9' }),
        )
      ).status,
    ).toBe(200);
    const [doc] = written('test/hooks') as { _meta: Record<string, unknown> }[];
    expect(doc._meta).toMatchObject({ webhookId: 'd-9', pathParams: { userId: 'ann' }, note: 'kept' });
    expect(doc._meta.uuid).not.toBe('forged');
    expect(doc._meta.receivedAt).not.toBe('then');
  });

  it('idFromHeader makes the header required (400 without it), as in Estuary', async () => {
    const { cap, written } = setup();
    const res = await cap.handle(req('/test/webhooks/users/ann/hooks', '{"n":1}'));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toBe('missing required header: x-delivery-id');
    expect(written('test/hooks')).toEqual([]);
  });

  it('counts only schema violations as such', async () => {
    const { cap } = setup();
    await cap.handle(req('/test/webhooks/orders', '{"id": '));
    await cap.handle(req('/test/webhooks/orders', '{}', { authorization: 'Bearer nope' }));
    await cap.handle(req('/test/webhooks/nope', '{}'));
    expect(cap.stats.schemaViolations).toBe(0);
    await cap.handle(req('/test/webhooks/orders', '{"id":"a","qty":"many"}'));
    expect(cap.stats.schemaViolations).toBe(1);
  });

  it('parses a JSON object, an array, or JSON lines', () => {
    expect(parseBody(Buffer.from('{"a":1}'))).toEqual({ docs: [{ a: 1 }] });
    expect(parseBody(Buffer.from('[{"a":1},{"a":2}]'))).toEqual({ docs: [{ a: 1 }, { a: 2 }] });
    expect(parseBody(Buffer.from('{"a":1}\n{"a":2}\n'))).toEqual({ docs: [{ a: 1 }, { a: 2 }] });
    expect(parseBody(Buffer.from('{"a":1}\n{"a":'))).toEqual({ error: expect.stringMatching(/line 2/) });
  });
});
