import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
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

async function hook(config: Record<string, Json> = {}) {
  seen.length = 0;
  const spec = materialization('acme/hook', 'materialize-webhook', { address: `${base}/hooks/`, ...config }, [
    { relativePath: 'orders' },
  ]);
  return await WebhookMaterialization.create({ spec, backoff: { baseMs: 5, maxMs: 20 } });
}

const txn = (n: number): MaterializeTransaction => ({
  bindings: [
    {
      binding: 0,
      docs: Array.from({ length: n }, (_, i) => ({ key: [i], doc: { id: i, qty: i * 2 }, deleted: i === 0 })),
    },
  ],
  checkpoint: { 'acme/orders/shard-0': `${'0'.repeat(127)}7:000000` },
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
    expect(first.headers['x-sluice-signature']).toBe(signBody('s3cret', first.body));
    expect(first.headers['x-sluice-signature']).not.toBe(signBody('other', first.body));
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

  it('a 4xx is a permanent rejection: no retry, error carries the status', async () => {
    const h = await hook({ maxRetries: 5 });
    script = [422];
    const err = (await h.commit(txn(1)).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.code).toBe('WebhookRejected');
    expect(err.status).toBe(422);
    expect(err.message).toContain('error 422');
    expect(h.attempts).toBe(1);
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
});
