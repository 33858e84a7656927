/**
 * materialize-webhook: POST each transaction's documents to an HTTP endpoint.
 *
 * Config (Estuary's `{address, headers: {customHeaders: [{name, value}]}}` plus Sluice's
 * `signingSecret?`, `maxRetries = 5`, `batchSize = 500`, `timeoutMs = 10000`); resource `{relativePath}`
 * (joined to `address`). Header values and `signingSecret` may be secret references (config.ts).
 *
 * Each request: `POST <address>/<relativePath>`, body a JSON array of at most `batchSize` documents,
 * `Content-Type: application/json`, the custom headers, `Idempotency-Key` (a hash of the materialization,
 * binding, source checkpoint and batch index: a retried or redelivered transaction sends the same key, so
 * the receiver can drop duplicates), and with `signingSecret` `X-Sluice-Signature: sha256=<hex HMAC-SHA256
 * of the exact body bytes>` (verify it before parsing the body).
 *
 * Responses: 2xx = delivered. 408, 429 and 5xx, network errors and timeouts are retried with exponential
 * backoff and full jitter (honouring `Retry-After` seconds), up to `maxRetries` times, then the commit fails
 * (EndpointError `WebhookUnavailable`) and the source batch is redelivered later. Any other status (4xx) is
 * a permanent rejection: the commit fails at once with EndpointError `WebhookRejected` carrying the
 * status and the start of the response body; the task stops and alarms rather than dropping documents.
 * Delivery is at least once (a webhook is not transactional); deletes are sent with `_meta/op = "d"`.
 */
import { createHash, createHmac } from 'node:crypto';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type {
  Checkpoint,
  MaterializeConnector,
  MaterializeConnectorContext,
  MaterializeTransaction,
} from '../materialize/connector.ts';
import { resolveConfigSecrets, validateConnectorJson } from './config.ts';
import { EndpointError } from './errors.ts';

export interface MaterializeWebhookConfig {
  address: string;
  headers: { customHeaders?: { name: string; value: string }[] };
  signingSecret?: string;
  maxRetries: number;
  batchSize: number;
  timeoutMs: number;
}

export interface WebhookOptions extends MaterializeConnectorContext {
  /** Backoff base and cap in ms (default 250 and 20000). */
  backoff?: { baseMs: number; maxMs: number };
}

export const SIGNATURE_HEADER = 'x-sluice-signature';

/** The signature header value for a body: `sha256=<hex>`. */
export function signBody(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function isRetryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class WebhookMaterialization implements MaterializeConnector {
  /** Requests sent, including retries (for tests and metrics). */
  attempts = 0;

  private constructor(
    private readonly name: string,
    private readonly config: MaterializeWebhookConfig,
    private readonly urls: Map<number, string>,
    private readonly opts: WebhookOptions,
  ) {}

  static async create(opts: WebhookOptions): Promise<WebhookMaterialization> {
    const { spec } = opts;
    const config = validateConnectorJson<MaterializeWebhookConfig>(
      'materialize-webhook',
      'config',
      spec.endpoint.config,
      `${spec.name}/endpoint/connector/config`,
    );
    await resolveConfigSecrets('materialize-webhook', config, opts.secret);
    const urls = new Map<number, string>();
    spec.bindings.forEach((b, i) => {
      const r = validateConnectorJson<{ relativePath?: string }>(
        'materialize-webhook',
        'resource',
        b.resource,
        `${spec.name}/bindings/${i}/resource`,
      );
      const base = config.address.endsWith('/') ? config.address : `${config.address}/`;
      if (!b.disable) urls.set(i, new URL((r.relativePath ?? '').replace(/^\/+/, ''), base).href);
    });
    return new WebhookMaterialization(spec.name, config, urls, opts);
  }

  async apply(): Promise<void> {}

  async open(): Promise<{ checkpoint: Checkpoint }> {
    return { checkpoint: {} };
  }

  async load(): Promise<Map<string, Json>> {
    return new Map();
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    const cp = JSON.stringify(Object.entries(txn.checkpoint).sort());
    for (const { binding, docs } of txn.bindings) {
      const url = this.urls.get(binding);
      if (!url) continue;
      for (let start = 0, n = 0; start < docs.length; start += this.config.batchSize, n++) {
        const batch = docs.slice(start, start + this.config.batchSize).map((d) => {
          if (!d.deleted) return d.doc;
          const doc: JsonObject = isObject(d.doc) ? d.doc : { value: d.doc };
          return { ...doc, _meta: { ...(isObject(doc._meta) ? doc._meta : {}), op: 'd' } };
        });
        const key = createHash('sha256')
          .update(JSON.stringify([this.name, binding, cp, n]))
          .digest('hex');
        await this.post(url, JSON.stringify(batch), key);
      }
    }
  }

  private async post(url: string, body: string, idempotencyKey: string): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey,
      'user-agent': 'sluice-materialize-webhook',
    };
    for (const h of this.config.headers.customHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    if (this.config.signingSecret) headers[SIGNATURE_HEADER] = signBody(this.config.signingSecret, body);
    const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: 250, maxMs: 20_000 };
    let lastProblem = '';
    for (let attempt = 0; attempt <= this.config.maxRetries; attempt++) {
      this.attempts++;
      let retryAfterMs: number | undefined;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.config.timeoutMs),
        });
        const text = await res.text().catch(() => '');
        if (res.ok) return;
        if (!isRetryable(res.status)) {
          throw new EndpointError(
            'WebhookRejected',
            url,
            `HTTP ${res.status} (not retried): ${text.slice(0, 300)}`,
            res.status,
          );
        }
        lastProblem = `HTTP ${res.status}: ${text.slice(0, 200)}`;
        const ra = Number(res.headers.get('retry-after'));
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
      } catch (err) {
        if (err instanceof EndpointError) throw err;
        lastProblem =
          (err as Error).name === 'TimeoutError'
            ? `timed out after ${this.config.timeoutMs} ms`
            : (err as Error).message;
      }
      if (attempt < this.config.maxRetries) {
        const exp = Math.min(maxMs, baseMs * 2 ** attempt);
        await new Promise((r) =>
          setTimeout(r, retryAfterMs !== undefined ? Math.min(retryAfterMs, maxMs) : Math.random() * exp),
        );
      }
    }
    throw new EndpointError(
      'WebhookUnavailable',
      url,
      `gave up after ${this.config.maxRetries + 1} attempts: ${lastProblem}`,
    );
  }

  /** A bumped backfill counter re-delivers the history (delta, at least once): what the endpoint received stays; the history is POSTed again. */
  async reset(): Promise<void> {}

  async close(): Promise<void> {}
}
