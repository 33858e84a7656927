/**
 * materialize-webhook: POST each transaction's documents to an HTTP endpoint.
 *
 * Config (Estuary's `{address, headers: {customHeaders: [{name, value}]}}` plus Sluice's
 * `signingSecret?`, `maxRetries = 5`, `batchSize = 500`, `timeoutMs = 10000`); resource `{relativePath}`
 * (joined to `address`). Header values and `signingSecret` may be secret references (config.ts).
 *
 * Each request: `POST <address>/<relativePath>`, body a JSON array of at most `batchSize` documents,
 * `Content-Type: application/json`, the custom headers, `Idempotency-Key`, and with `signingSecret`
 * `X-Sluice-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe-style: the timestamp
 * is signed with the exact body bytes, so a receiver verifies it before parsing the body and refuses old
 * timestamps, i.e. replays; re-signed at each attempt).
 *
 * Idempotency-Key: a hash of the materialization, binding, source checkpoint and the chunk's own body. A
 * retried or redelivered transaction sends the same chunks with the same keys, so the receiver can drop
 * duplicates; chunks of different content never share a key — in particular after the event-source mapping
 * bisects a failed batch, the second half (which ends at the same checkpoint as the whole batch) gets keys of
 * its own, not the whole batch's first chunks'. (StoreDoc carries no per-document position, so the chunk's
 * content stands for its first..last documents.)
 *
 * Where: `address` must be `https://`; plain `http://` only to a loopback host (127.0.0.0/8, ::1,
 * localhost) for local testing; every binding URL must stay on the address's origin. Redirects are never
 * followed (`redirect: 'error'`): a 3xx would otherwise carry the headers, signature and body to another
 * origin; it fails the commit at once as `WebhookRejected` (set `address` to the final URL).
 *
 * Responses: 2xx = delivered. 408, 429 and 5xx, network errors and timeouts are retried with exponential
 * backoff and full jitter (honouring `Retry-After` seconds), up to `maxRetries` times, then the commit fails
 * (EndpointError `WebhookUnavailable`) and the source batch is redelivered later. Any other status (4xx) is
 * a permanent rejection: the commit fails at once with EndpointError `WebhookRejected` carrying the
 * status and the response body's length; the task stops and alarms rather than dropping documents. The
 * body itself is quoted (its first 300 characters) only when a debug level asks (config/debug-values.ts):
 * endpoints echo the documents they were sent, and error messages end up in logs.
 * Delivery is at least once (a webhook is not transactional); deletes are sent with `_meta/op = "d"`.
 * The checkpoint (source positions, backfill markers) is saved after a transaction's requests succeeded,
 * in `checkpoints` (deployed: the state table), and read back by `open()`: a new instance neither
 * re-sends what was committed nor backfills the history again.
 *
 * Time: a commit never outlives its deadline — `deadlineMs()` from the caller (e.g. the Lambda's
 * remaining time), else `budgetMs` (default 90 s) from the commit's start. Each request's timeout is cut
 * to the time left, and no retry starts (nor backoff waits) past it: the commit then fails with
 * `WebhookUnavailable` naming the deadline and the last problem, and the batch is redelivered.
 */
import { createHash, createHmac } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { valuesInErrors } from '../config/debug-values.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import type {
  Checkpoint,
  MaterializeConnector,
  MaterializeConnectorContext,
  MaterializeTransaction,
} from '../materialize/connector.ts';
import { resolveConfigSecrets, validateConnectorJson } from './config.ts';
import { ConnectorConfigError, EndpointError } from './errors.ts';

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
  /**
   * When the caller must be done (ms since epoch), read at the start of each commit: e.g.
   * `() => Date.now() + context.getRemainingTimeInMillis() - 5000` in a Lambda. Without it, `budgetMs`.
   */
  deadlineMs?: () => number;
  /** Without `deadlineMs`: the time one commit may take, retries included (default 90000, below the 2-minute function timeout). */
  budgetMs?: number;
  /**
   * Where the checkpoint (positions, backfill markers) is kept: an endpoint has no state to read back.
   * Deployed, the state table (state-checkpoints.ts). Without it, `open()` knows nothing: every new
   * instance backfills the history again (tests of the connector alone).
   */
  checkpoints?: { load(): Promise<Checkpoint>; save(checkpoint: Checkpoint): Promise<void> };
}

export const SIGNATURE_HEADER = 'x-sluice-signature';

export const DEFAULT_BUDGET_MS = 90_000;

/** Below this much time left, no request is started. */
const MIN_ATTEMPT_MS = 50;

/**
 * What an error says of a response body: its length, and its start only when a debug level asks — an
 * endpoint's answer often echoes the documents it was sent (a validation error quoting a field), and
 * errors are logged.
 */
function responseSummary(text: string, quote: number): string {
  const length = `response body of ${Buffer.byteLength(text)} bytes`;
  return valuesInErrors() ? `${length}: ${text.slice(0, quote)}` : length;
}

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function signBody(secret: string, body: string | Uint8Array, timestampSeconds: number): string {
  const t = Math.floor(timestampSeconds);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex')}`;
}

/** A URL for error messages: without the password of its userinfo. */
function shown(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return value;
  }
}

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return isIPv4(hostname) && hostname.startsWith('127.');
}

/** Why `value` is not an address the webhook may POST to, or undefined when it is. */
function addressProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `${JSON.stringify(shown(value))} is not a URL`;
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && isLoopback(u.hostname)) return undefined;
  if (u.protocol === 'http:')
    return `${JSON.stringify(shown(value))}: plain http:// is allowed only to a loopback address (127.0.0.0/8, ::1, localhost) for local testing; use https://`;
  return `${JSON.stringify(shown(value))}: only https:// (or http:// to a loopback address) is allowed`;
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
    const where = `${spec.name}/endpoint/connector/config`;
    const problem = addressProblem(config.address);
    if (problem)
      throw new ConnectorConfigError('materialize-webhook', where, [
        { pointer: '/address', message: problem },
      ]);
    await resolveConfigSecrets('materialize-webhook', config, opts.secret);
    const base = new URL(config.address.endsWith('/') ? config.address : `${config.address}/`);
    const urls = new Map<number, string>();
    spec.bindings.forEach((b, i) => {
      const at = `${spec.name}/bindings/${i}/resource`;
      const r = validateConnectorJson<{ relativePath?: string }>(
        'materialize-webhook',
        'resource',
        b.resource,
        at,
      );
      const url = new URL((r.relativePath ?? '').replace(/^\/+/, ''), base);
      if (url.origin !== base.origin) {
        throw new ConnectorConfigError('materialize-webhook', at, [
          {
            pointer: '/relativePath',
            message: `${JSON.stringify(r.relativePath)} resolves to ${shown(url.href)}, outside the origin of address ${base.origin}; use a path relative to address`,
          },
        ]);
      }
      if (!b.disable) urls.set(i, url.href);
    });
    return new WebhookMaterialization(spec.name, config, urls, opts);
  }

  async apply(): Promise<void> {}

  async open(): Promise<{ checkpoint: Checkpoint }> {
    return { checkpoint: (await this.opts.checkpoints?.load()) ?? {} };
  }

  async load(): Promise<Map<string, Json>> {
    return new Map();
  }

  async commit(txn: MaterializeTransaction): Promise<void> {
    const deadline = this.opts.deadlineMs?.() ?? Date.now() + (this.opts.budgetMs ?? DEFAULT_BUDGET_MS);
    const cp = JSON.stringify(Object.entries(txn.checkpoint).sort());
    for (const { binding, docs } of txn.bindings) {
      const url = this.urls.get(binding);
      if (!url) continue;
      for (let start = 0; start < docs.length; start += this.config.batchSize) {
        const batch = docs.slice(start, start + this.config.batchSize).map((d) => {
          if (!d.deleted) return d.doc;
          const doc: JsonObject = isObject(d.doc) ? d.doc : { value: d.doc };
          return { ...doc, _meta: { ...(isObject(doc._meta) ? doc._meta : {}), op: 'd' } };
        });
        const body = JSON.stringify(batch);
        const chunk = createHash('sha256').update(body).digest('hex');
        const key = createHash('sha256')
          .update(JSON.stringify([this.name, binding, cp, chunk]))
          .digest('hex');
        await this.post(url, body, key, deadline);
      }
    }
    // After every chunk was delivered: a failure before this delivers them again (at least once).
    await this.opts.checkpoints?.save(txn.checkpoint);
  }

  private async post(url: string, body: string, idempotencyKey: string, deadline: number): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'idempotency-key': idempotencyKey,
      'user-agent': 'sluice-materialize-webhook',
    };
    for (const h of this.config.headers.customHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
    const { baseMs, maxMs } = this.opts.backoff ?? { baseMs: 250, maxMs: 20_000 };
    let lastProblem = '';
    const outOfTime = (attempts: number, why: string) =>
      new EndpointError(
        'WebhookUnavailable',
        url,
        `out of time before the deadline (${new Date(deadline).toISOString()}) after ${attempts} attempt(s): ${why}${lastProblem ? `; last problem: ${lastProblem}` : ''}`,
      );
    for (let attempt = 0; attempt <= this.config.maxRetries; attempt++) {
      const left = deadline - Date.now();
      if (left < MIN_ATTEMPT_MS) throw outOfTime(attempt, `${Math.max(0, left)} ms left, no request started`);
      const timeout = Math.min(this.config.timeoutMs, left);
      this.attempts++;
      let retryAfterMs: number | undefined;
      try {
        if (this.config.signingSecret)
          headers[SIGNATURE_HEADER] = signBody(this.config.signingSecret, body, Date.now() / 1000);
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(timeout),
        });
        const text = await res.text().catch(() => '');
        if (res.ok) return;
        if (!isRetryable(res.status)) {
          throw new EndpointError(
            'WebhookRejected',
            url,
            `HTTP ${res.status} (not retried): ${responseSummary(text, 300)}`,
            res.status,
          );
        }
        lastProblem = `HTTP ${res.status}: ${responseSummary(text, 200)}`;
        const ra = Number(res.headers.get('retry-after'));
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = ra * 1000;
      } catch (err) {
        if (err instanceof EndpointError) throw err;
        const cause = (err as { cause?: { message?: unknown } }).cause;
        if (cause?.message === 'unexpected redirect') {
          throw new EndpointError(
            'WebhookRejected',
            url,
            'the endpoint answered with a redirect, which is not followed (it would carry the headers, signature and body elsewhere): set address to the final URL',
          );
        }
        lastProblem =
          (err as Error).name === 'TimeoutError'
            ? `timed out after ${timeout} ms${timeout < this.config.timeoutMs ? ' (cut to the deadline)' : ''}`
            : (err as Error).message;
      }
      if (attempt < this.config.maxRetries) {
        const exp = Math.min(maxMs, baseMs * 2 ** attempt);
        const wait = retryAfterMs !== undefined ? Math.min(retryAfterMs, maxMs) : Math.random() * exp;
        if (Date.now() + wait + MIN_ATTEMPT_MS > deadline)
          throw outOfTime(attempt + 1, `the next attempt (in ${Math.round(wait)} ms) would pass it`);
        await new Promise((r) => setTimeout(r, wait));
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
