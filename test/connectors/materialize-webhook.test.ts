import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectorConfigError, EndpointError } from '../../shared/connectors/errors.ts';
import { signBody, WebhookMaterialization } from '../../shared/connectors/materialize-webhook.ts';
import type { Json } from '../../shared/json/types.ts';
import type { MaterializeTransaction } from '../../shared/materialize/connector.ts';
import { materialization } from './fixtures.ts';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];
/** Status codes to answer, in order; 200 once exhausted. */
let script: number[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += String(c);
    });
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      const status = script.shift() ?? 200;
      if (status === 0) return; // never answer: the client times out
      res.writeHead(status, status === 429 ? { 'retry-after': '0.01' } : {});
      res.end(status >= 400 ? `error ${status}` : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** The receiver's check, as docs/connectors.md shows it (independent of the connector's code). */
function verifySluiceSignature(
  secret: string,
  header: string,
  rawBody: Buffer,
  toleranceSec = 300,
  nowSec = Date.now() / 1000,
): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSec - t) > toleranceSec) return false; // too old (or from the future): a replay
  const expected = createHmac('sha256', secret).update(`${t}.`).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(m[2] as string, 'hex'));
}

/** Another real HTTP server for one test; `requests` counts what it received. */
async function serve(
  handler: RequestListener,
): Promise<{ url: string; requests: Seen[]; close: () => Promise<void> }> {
  const requests: Seen[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += String(c);
    });
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body });
      handler(req, res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

async function hook(config: Record<string, Json> = {}) {
  seen.length = 0;
  const spec = materialization('acme/hook', 'materialize-webhook', { address: `${base}/hooks/`, ...config }, [
    { relativePath: 'orders' },
  ]);
  return await WebhookMaterialization.create({ spec, backoff: { baseMs: 5, maxMs: 20 } });
}

const txn = (n: number, from = 0, position = 7): MaterializeTransaction => ({
  bindings: [
    {
      binding: 0,
      docs: Array.from({ length: n - from }, (_, j) => {
        const i = from + j;
        return { key: [i], doc: { id: i, qty: i * 2 }, deleted: i === 0 };
      }),
    },
  ],
  checkpoint: { 'acme/orders/shard-0': `${String(position).padStart(128, '0')}:000000` },
});

describe('materialize-webhook against a real HTTP server', () => {
  it('POSTs batches with custom headers, an HMAC signature and a stable idempotency key', async () => {
    process.env.SLUICE_TEST_HOOK_TOKEN = 'tok-123';
    const h = await hook({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${ENV_NAME} secret syntax, not a template
      headers: { customHeaders: [{ name: 'Authorization', value: '${SLUICE_TEST_HOOK_TOKEN}' }] },
      signingSecret: 's3cret',
      batchSize: 2,
    });
    await h.commit(txn(3));
    expect(seen.map((s) => s.url)).toEqual(['/hooks/orders', '/hooks/orders']);
    const first = seen[0] as Seen;
    expect(JSON.parse(first.body)).toEqual([
      { id: 0, qty: 0, _meta: { op: 'd' } },
      { id: 1, qty: 2 },
    ]);
    expect(JSON.parse((seen[1] as Seen).body)).toEqual([{ id: 2, qty: 4 }]);
    expect(first.headers.authorization).toBe('tok-123');
    expect(first.headers['content-type']).toBe('application/json');
    // Stripe-style: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, checked as docs/connectors.md shows
    const sig = String(first.headers['x-sluice-signature']);
    const t = Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(sig)?.[1]);
    expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(30);
    expect(sig).toBe(signBody('s3cret', first.body, t));
    expect(verifySluiceSignature('s3cret', sig, Buffer.from(first.body))).toBe(true);
    expect(verifySluiceSignature('other', sig, Buffer.from(first.body))).toBe(false);
    expect(verifySluiceSignature('s3cret', sig, Buffer.from(`${first.body} `))).toBe(false);
    // the timestamp is signed: moving it breaks the signature; an old one is refused
    expect(
      verifySluiceSignature('s3cret', sig.replace(`t=${t}`, `t=${t + 1}`), Buffer.from(first.body)),
    ).toBe(false);
    expect(verifySluiceSignature('s3cret', sig, Buffer.from(first.body), 300, t + 301)).toBe(false);
    const keys = seen.map((s) => s.headers['idempotency-key']);
    expect(new Set(keys).size).toBe(2);
    // a redelivered transaction carries the same idempotency keys
    seen.length = 0;
    await h.commit(txn(3));
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual(keys);
  });

  it('retries 5xx and 429 with backoff, then succeeds', async () => {
    const h = await hook({ maxRetries: 5 });
    script = [503, 429, 500];
    await h.commit(txn(1));
    expect(h.attempts).toBe(4);
    expect(seen.map((s) => s.body)).toEqual(Array(4).fill(seen[0]?.body));
  });

  it('a 4xx is a permanent rejection: no retry, error carries the status and the body length only', async () => {
    const saved = { v: process.env.SLUICE_LOG_VALUES, l: process.env.POWERTOOLS_LOG_LEVEL };
    try {
      delete process.env.SLUICE_LOG_VALUES;
      process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
      const h = await hook({ maxRetries: 5 });
      script = [422];
      const err = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
      expect(err).toBeInstanceOf(EndpointError);
      expect(err.code).toBe('WebhookRejected');
      expect(err.status).toBe(422);
      // The endpoint's answer may echo the documents: only its length, not its text ('error 422').
      expect(err.message).toContain('HTTP 422 (not retried): response body of 9 bytes');
      expect(err.message).not.toContain('error 422');
      expect(h.attempts).toBe(1);
      // A retried status's last problem, in the give-up error, is summarized the same way.
      const g = await hook({ maxRetries: 1 });
      script = [503, 503];
      const gave = (await g.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
      expect(gave.message).toContain('HTTP 503: response body of 9 bytes');
      expect(gave.message).not.toContain('error 503');
      // A debug level asks for the body.
      process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
      script = [422];
      const debug = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
      expect(debug.message).toContain('response body of 9 bytes: error 422');
    } finally {
      script = [];
      for (const [k, v] of [
        ['SLUICE_LOG_VALUES', saved.v],
        ['POWERTOOLS_LOG_LEVEL', saved.l],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('gives up after maxRetries on persistent failure or timeouts', async () => {
    const h = await hook({ maxRetries: 2, timeoutMs: 200 });
    script = [500, 0, 502];
    const err = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
    expect(err.code).toBe('WebhookUnavailable');
    expect(err.message).toContain('gave up after 3 attempts: HTTP 502');
    expect(h.attempts).toBe(3);
    script = [];
  });

  it('validates the config', async () => {
    const spec = materialization(
      'acme/hook2',
      'materialize-webhook',
      { address: 'ftp://x', headers: { customHeaders: [{ name: 'Bad Name', value: 'v' }] } },
      [{ relativePath: 'x' }],
    );
    const err = (await WebhookMaterialization.create({ spec }).catch(
      (e: unknown) => e,
    )) as ConnectorConfigError;
    expect(err).toBeInstanceOf(ConnectorConfigError);
    expect(err.issues.map((i) => i.pointer).sort()).toEqual(['/address', '/headers/customHeaders/0/name']);
  });

  it('never follows a redirect: a 307 to another origin sends that origin nothing', async () => {
    const other = await serve((_req, res) => res.end('ok'));
    const redirector = await serve((_req, res) => {
      res.writeHead(307, { location: `${other.url}/steal` });
      res.end();
    });
    const spec = materialization(
      'acme/hook-redirect',
      'materialize-webhook',
      {
        address: redirector.url,
        signingSecret: 's3cret',
        headers: { customHeaders: [{ name: 'Authorization', value: 'Bearer api-key' }] },
      },
      [{ relativePath: 'orders' }],
    );
    const h = await WebhookMaterialization.create({ spec, backoff: { baseMs: 5, maxMs: 20 } });
    const err = (await h.commit(txn(2)).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('WebhookRejected');
    expect(err.message).toContain('redirect');
    expect(redirector.requests.length).toBe(1); // not retried: a redirect is a configuration problem
    expect(other.requests).toEqual([]);
    await other.close();
    await redirector.close();
  });

  it('address is https://, or http:// to a loopback address only; relative paths stay on its origin', async () => {
    const create = (address: string, relativePath = 'orders') =>
      WebhookMaterialization.create({
        spec: materialization('acme/hook3', 'materialize-webhook', { address }, [{ relativePath }]),
      });
    for (const ok of [
      'https://hooks.example.com/in',
      'http://localhost:9/hook',
      'http://127.0.0.1:9/',
      'http://127.9.8.7/',
      'http://[::1]:9/x',
    ])
      await expect(create(ok)).resolves.toBeInstanceOf(WebhookMaterialization);
    for (const bad of [
      'http://hooks.example.com/in',
      'http://10.0.0.1/',
      'http://128.0.0.1/',
      'http://localhost.evil.com/',
    ]) {
      const err = (await create(bad).catch((e: unknown) => e)) as ConnectorConfigError;
      expect(err).toBeInstanceOf(ConnectorConfigError);
      expect(err.where).toBe('acme/hook3/endpoint/connector/config');
      expect(err.issues.map((i) => i.pointer)).toEqual(['/address']);
      expect(err.message).toContain(bad);
      expect(err.message).toContain('https');
    }
    // the value is named, without the password of its userinfo
    const cred = (await create('http://user:hunter2@example.com/').catch((e: unknown) => e)) as Error;
    expect(cred).toBeInstanceOf(ConnectorConfigError);
    expect(cred.message).not.toContain('hunter2');
    // an absolute relativePath would take the signature and headers elsewhere
    const away = (await create('https://hooks.example.com/in/', 'https://evil.example/x').catch(
      (e: unknown) => e,
    )) as ConnectorConfigError;
    expect(away).toBeInstanceOf(ConnectorConfigError);
    expect(away.where).toBe('acme/hook3/bindings/0/resource');
    expect(away.issues.map((i) => i.pointer)).toEqual(['/relativePath']);
    expect(away.message).toContain('https://evil.example/x');
  });

  it('retries and timeouts stop at the caller deadline: the commit fails in time, nothing is dropped silently', async () => {
    const silent = await serve(() => {}); // never answers
    const spec = materialization(
      'acme/hook-deadline',
      'materialize-webhook',
      { address: silent.url, timeoutMs: 2000, maxRetries: 5 },
      [{ relativePath: 'orders' }],
    );
    const start = Date.now();
    const h = await WebhookMaterialization.create({
      spec,
      backoff: { baseMs: 5, maxMs: 20 },
      deadlineMs: () => start + 500,
    });
    const err = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
    const took = Date.now() - start;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('WebhookUnavailable');
    expect(err.message).toMatch(/deadline/);
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(1500);
    expect(h.attempts).toBe(1);
    await silent.close();
  });

  it('without a deadline the total budget bounds a commit; a Retry-After beyond it fails at once', async () => {
    const busy = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '30' });
      res.end('busy');
    });
    const spec = materialization(
      'acme/hook-budget',
      'materialize-webhook',
      { address: busy.url, maxRetries: 5 },
      [{ relativePath: 'orders' }],
    );
    const h = await WebhookMaterialization.create({
      spec,
      backoff: { baseMs: 5, maxMs: 60_000 },
      budgetMs: 1000,
    });
    const start = Date.now();
    const err = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
    expect(Date.now() - start).toBeLessThan(900);
    expect(err.code).toBe('WebhookUnavailable');
    expect(err.message).toContain('HTTP 503');
    expect(err.message).toMatch(/deadline/);
    expect(busy.requests.length).toBe(1);
    await busy.close();

    // a budget spent on retries: 5xx answered at once, backoff between them
    const failing = await serve((_req, res) => {
      res.writeHead(500);
      res.end('down');
    });
    const h2 = await WebhookMaterialization.create({
      spec: materialization(
        'acme/hook-budget2',
        'materialize-webhook',
        { address: failing.url, maxRetries: 20 },
        [{ relativePath: 'orders' }],
      ),
      backoff: { baseMs: 100, maxMs: 100 },
      budgetMs: 600,
    });
    const start2 = Date.now();
    const err2 = (await h2.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
    expect(Date.now() - start2).toBeLessThan(1000);
    expect(err2.code).toBe('WebhookUnavailable');
    expect(err2.message).toMatch(/deadline/);
    expect(h2.attempts).toBeLessThan(21);
    await failing.close();
  });

  it('idempotency keys follow each chunk: after a bisect, halves never reuse the whole batch keys', async () => {
    const h = await hook({ batchSize: 2 });
    await h.commit(txn(4, 0, 9)); // the whole batch: chunks [0,1] [2,3], checkpoint at position 9
    const whole = seen.map((s) => s.headers['idempotency-key']);
    expect(new Set(whole).size).toBe(2);
    // the mapping bisects: first half ends at position 8, second half ends where the whole batch did
    seen.length = 0;
    await h.commit(txn(2, 0, 8));
    await h.commit(txn(4, 2, 9));
    const halves = seen.map((s) => s.headers['idempotency-key']);
    expect(JSON.parse((seen[1] as Seen).body)).toEqual([
      { id: 2, qty: 4 },
      { id: 3, qty: 6 },
    ]);
    // the second half's only chunk is not the whole batch's first chunk (a receiver would drop it as a
    // duplicate of documents 0 and 1), it is the whole batch's second chunk: same documents, same key
    expect(halves[1]).not.toBe(whole[0]);
    expect(halves[1]).toBe(whole[1]);
    // the first half ends at another checkpoint: a key of its own (at least once: delivered again)
    expect(whole).not.toContain(halves[0]);
    // the same chunk delivered again carries the same key
    seen.length = 0;
    await h.commit(txn(4, 2, 9));
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual([halves[1]]);
  });
});
