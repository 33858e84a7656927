/**
 * source-http-ingest (Estuary's webhook capture). Fields follow Estuary's connector:
 * endpoint config `{requireAuthToken?: string (or require_auth_token), paths?: string[], allowedCorsOrigins?: string[]}`;
 * binding resource `{path?: string (default /webhook-data), stream?: string, idFromHeader?: string}`.
 *
 * A request POSTs or PUTs a JSON object, an array of objects, or JSON lines to
 * `/<capture name><binding path>`. Path parameters (`/users/{userId}`) land in `_meta/pathParams`,
 * the query string in `_meta/query`, the request's headers in `_meta/headers` (as Estuary's connector,
 * but for credentials and transport: REDACT_HEADERS), the id in `_meta/webhookId` (from the header named
 * by `idFromHeader`, else a UUID), the receive time in `_meta/receivedAt`, and `_meta/uuid` is set.
 *
 * As Estuary's connector, the client's `_meta` is not trusted where it matters: `webhookId`,
 * `receivedAt`, `uuid`, `pathParams`, `query` and `headers` are set here when there are any (a client's values are
 * overwritten); other `_meta` fields pass through, subject to the collection's schema (a schema that
 * deletes on `_meta/op = "d"` lets its writers delete, as in Estuary). With `idFromHeader`, the header
 * is required (400 without it), as in Estuary.
 *
 * Responses, checked in this order so nothing about the bindings leaks before authentication: 401
 * without an Authorization header, 403 with a wrong token (Estuary's codes); 400 a malformed (percent-encoded) path; 404 no binding at that path (the
 * answer names nothing); 405 other methods; 413 body over the size limit; 400 for a body that is not
 * UTF-8 or not JSON, a document nested deeper than MAX_DEPTH, or a schema violation (naming the document
 * index); 413 for a document too large for one journal record (naming its index); 200 `{published: n}`
 * only after every document is durably in the journal. Nothing of a rejected request is written.
 * The request's documents are validated and combined by key (one transaction) before the append.
 *
 * Retries. With `idFromHeader`, each appended document carries the origin
 * `<capture>/<binding path>/<hash of the id and the body>@<n>` (n: its index among the request's combined
 * documents, in key order), so a retry of the request — the same id and the same body, after a timeout,
 * or a 502 from an append that reached some shards and not others — appends documents the persister and
 * derivations drop: it adds nothing. Another body under the same id is another request (ids repeat:
 * `X-GitHub-Event: push`). Each is its own origin source (requests have no order): consumers keep one
 * entry per request (docs/connectors.md, limits).
 * Without it, as in Estuary's connector, a retried request is a new request: its documents are appended
 * again (a client that retries should send an id header, or the collection key should make duplicates
 * harmless).
 */

import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { BuiltCatalog, CaptureSpec, CollectionSpec } from '../catalog/model.ts';
import { ingestUrlPath } from '../catalog/resource-paths.ts';
import { Combiner } from '../combine/index.ts';
import { valuesInErrors } from '../config/debug-values.ts';
import { SluiceError } from '../errors.ts';
import { inexactNumberIn, inexactNumberMessage } from '../json/exact-integers.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { explicitHashKey } from '../keys/hash.ts';
import { type Router, routerOf } from '../keys/route.ts';
import { metaUuid } from '../meta/uuid.ts';
import type { Clock } from '../ports/blob.ts';
import { systemClock } from '../ports/blob.ts';
import { MAX_DOCUMENT_BYTES } from '../ports/framing.ts';
import type { AppendDoc, Journal } from '../ports/journal.ts';
import { formatOrigin } from '../ports/position.ts';
import { type SchemaRegistry, SchemaValidationError } from '../schema/registry.ts';
import { CorsPolicy } from './cors.ts';

export interface IngestRequest {
  method: string;
  /** Path without the query string, e.g. `/acmeCo/ingest/webhook-data`. */
  path: string;
  headers: Record<string, string | undefined>;
  query: Record<string, string>;
  body: Buffer;
}

export interface IngestResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class HttpIngestConfigError extends SluiceError {
  readonly code = 'BadIngestConfig';
  constructor(
    readonly capture: string,
    readonly pointer: string,
    detail: string,
  ) {
    super(`capture ${capture} ${pointer}: ${detail}`);
    this.name = 'HttpIngestConfigError';
  }
}

interface Route {
  binding: number;
  /** Path segments; `{name}` segments capture a parameter. */
  segments: string[];
  collection: CollectionSpec;
  idFromHeader?: string;
  combinerOf: () => Combiner;
  /** Set when shuffle keys narrow the collection's routing (catalog/routing.ts). */
  router?: Router;
}

/**
 * Deepest nesting accepted in a document: far beyond real payloads, well below what the validator's and
 * reducer's recursion can take (a depth-5000 document used to crash the function with a RangeError).
 */
export const MAX_DEPTH = 256;

/** How deep a JSON value nests (a scalar is 0), stopping once past `limit`; iterative, so never a RangeError. */
export function nestingDepth(v: Json, limit = MAX_DEPTH): number {
  let max = 0;
  const stack: [Json, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (d > max) max = d;
    if (max > limit) return max;
    if (Array.isArray(x)) for (const c of x) stack.push([c, d + 1]);
    else if (isObject(x)) for (const c of Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Headers left out of `_meta/headers`: Estuary's REDACT_HEADERS (source-http-ingest server.rs), plus what
 * carries credentials or describes only the transport (Function URLs and API Gateway add `x-amzn-*`,
 * `x-forwarded-*`; `cookie`, `x-api-key` and the like may hold secrets).
 */
const REDACT_HEADERS = new Set([
  'authorization',
  'cookie',
  'content-type',
  'accept',
  'proxy-authorization',
  'x-api-key',
  'set-cookie',
  'content-length',
  'connection',
  'host',
  'transfer-encoding',
]);

function json(status: number, body: Json): IngestResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}

/** Parse a body: one JSON value (object or array of objects) or JSON lines, strictly UTF-8. */
export function parseBody(body: Buffer): { docs: Json[] } | { error: string } {
  let text: string;
  try {
    text = utf8.decode(body).trim();
  } catch {
    return { error: 'body is not valid UTF-8' };
  }
  if (text.length === 0) return { error: 'empty body' };
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (whole) {
    const lines = text.split('\n').filter((l) => l.trim().length > 0);
    if (lines.length < 2) return { error: `body is not JSON: ${(whole as Error).message}` };
    const docs: Json[] = [];
    for (let i = 0; i < lines.length; i++) {
      try {
        docs.push(JSON.parse(lines[i]) as Json);
      } catch (e) {
        return { error: `line ${i + 1} is not JSON: ${(e as Error).message}` };
      }
      const rounded = inexactNumberIn(lines[i]);
      if (rounded)
        return {
          error: `line ${i + 1}: ${rounded.pointer}: ${inexactNumberMessage(rounded.literal, valuesInErrors())}`,
        };
    }
    return { docs };
  }
  // Refused before anything is written: JSON.parse would have rounded it (exact-integers.ts).
  const rounded = inexactNumberIn(text);
  if (rounded) {
    const [, index, rest] = Array.isArray(v) ? (/^\/(\d+)(.*)$/.exec(rounded.pointer) ?? []) : [];
    const where = index === undefined ? rounded.pointer : `document ${index}: ${rest}`;
    return { error: `${where}: ${inexactNumberMessage(rounded.literal, valuesInErrors())}` };
  }
  return { docs: Array.isArray(v) ? v : [v] };
}

export class HttpIngestCapture {
  private readonly routes: Route[];
  private readonly token: string | undefined;
  private readonly cors: CorsPolicy | undefined;
  /** docs: accepted; appended: written after combining by key; schemaViolations: documents refused by the schema. */
  readonly stats = { requests: 0, docs: 0, appended: 0, rejected: 0, schemaViolations: 0 };

  constructor(
    readonly spec: CaptureSpec,
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    private readonly journal: Journal,
    private readonly opts: { maxBodyBytes?: number; clock?: Clock } = {},
  ) {
    const config = isObject(spec.endpoint.config) ? spec.endpoint.config : {};
    // Estuary's field is `requireAuthToken` (serde camelCase); `require_auth_token` is Sluice's earlier
    // spelling, still read.
    const field = config.requireAuthToken !== undefined ? 'requireAuthToken' : 'require_auth_token';
    const token = config[field];
    if (token !== undefined && token !== null && typeof token !== 'string')
      throw new HttpIngestConfigError(spec.name, `/endpoint/connector/config/${field}`, 'must be a string');
    this.token = typeof token === 'string' && token.length > 0 ? token : undefined;
    this.cors = CorsPolicy.fromConfig(config);
    this.routes = spec.bindings
      .map((b, binding) => ({ b, binding }))
      .filter(({ b }) => !b.disable)
      .map(({ b, binding }) => {
        const resource = isObject(b.resource) ? b.resource : {};
        const path = ingestUrlPath(resource);
        const collection = catalog.collections[b.target];
        if (!collection)
          throw new HttpIngestConfigError(
            spec.name,
            `/bindings/${binding}/target`,
            `unknown collection ${b.target}`,
          );
        return {
          binding,
          segments: [...splitPath(spec.name), ...splitPath(path)],
          collection,
          idFromHeader:
            typeof resource.idFromHeader === 'string' ? resource.idFromHeader.toLowerCase() : undefined,
          combinerOf: () => new Combiner({ registry, collection, validate: false }),
          router: collection.routingKey ? routerOf(collection) : undefined,
        };
      });
    this.validators = new Map(
      this.routes.map((r) => [r.binding, registry.validator(r.collection.writeSchema)]),
    );
  }

  private readonly validators: Map<number, ReturnType<SchemaRegistry['validator']>>;

  /** The URL paths served, e.g. `/acmeCo/ingest/webhook-data`. */
  get paths(): string[] {
    return this.routes.map((r) => `/${r.segments.join('/')}`);
  }

  /** The binding at a path; throws URIError on a malformed percent-encoding. */
  private match(path: string): { route: Route; params: Record<string, string> } | undefined {
    const segs = splitPath(path).map((s) => decodeURIComponent(s));
    for (const route of this.routes) {
      if (route.segments.length !== segs.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      route.segments.forEach((s, i) => {
        const m = /^\{(.+)\}$/.exec(s);
        if (m) params[m[1]] = segs[i];
        else if (s !== segs[i]) ok = false;
      });
      if (ok) return { route, params };
    }
    return undefined;
  }

  /** As Estuary's connector answers: 401 without an Authorization header, 403 with a wrong token. */
  private unauthorized(headers: IngestRequest['headers']): IngestResponse | undefined {
    if (!this.token) return undefined;
    const h = headers.authorization;
    if (h === undefined) return json(401, { error: 'missing required header: Authorization' });
    const m = /^Bearer (.+)$/i.exec(h.trim());
    const a = Buffer.from(m?.[1] ?? '');
    const b = Buffer.from(this.token);
    return m && a.length === b.length && timingSafeEqual(a, b)
      ? undefined
      : json(403, { error: 'invalid authorization token' });
  }

  async handle(req: IngestRequest): Promise<IngestResponse> {
    this.stats.requests++;
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), v]));
    const origin = headers.origin;
    if (this.cors && origin !== undefined && req.method === 'OPTIONS')
      return this.cors.preflight(origin, headers['access-control-request-headers']);
    const res = await this.serve(req, headers);
    return this.cors ? { ...res, headers: { ...res.headers, ...this.cors.headersFor(origin) } } : res;
  }

  private async serve(
    req: IngestRequest,
    headers: Record<string, string | undefined>,
  ): Promise<IngestResponse> {
    const denied = this.unauthorized(headers);
    if (denied) return denied;
    let found: ReturnType<HttpIngestCapture['match']>;
    try {
      found = this.match(req.path);
    } catch {
      this.stats.rejected++;
      return json(400, { error: 'malformed path: bad percent-encoding' });
    }
    if (!found) return json(404, { error: 'not found' });
    if (req.method !== 'POST' && req.method !== 'PUT')
      return {
        ...json(405, { error: `method ${req.method} not allowed; use POST or PUT` }),
        headers: { allow: 'POST, PUT' },
      };
    const limit = this.opts.maxBodyBytes ?? 10 * 1024 * 1024;
    if (req.body.length > limit)
      return json(413, {
        error: `request body of ${req.body.length} bytes exceeds the limit of ${limit} bytes`,
      });
    const parsed = parseBody(req.body);
    if ('error' in parsed) {
      this.stats.rejected++;
      return json(400, { error: parsed.error });
    }
    const { route, params } = found;
    const now = (this.opts.clock ?? systemClock).now();
    const requestId = randomUUID();
    const headerId = route.idFromHeader ? headers[route.idFromHeader] : undefined;
    if (route.idFromHeader && !headerId) {
      this.stats.rejected++;
      return json(400, { error: `missing required header: ${route.idFromHeader}` });
    }
    // What makes a request a retry of an earlier one: its id and the very body it sent. The id alone
    // is not enough: Estuary's connector only copies it into `_meta/webhookId`, and ids such as GitHub's
    // `X-GitHub-Event: push` repeat across requests, whose documents a derivation then dropped as replays.
    const retryId = headerId
      ? `${headerId}\n${createHash('sha256').update(req.body).digest('hex')}`
      : undefined;
    const docs: Json[] = [];
    const validator = this.validators.get(route.binding)!;
    // The request's headers, as Estuary's connector copies them into `_meta/headers` (names in lower
    // case), but for the sensitive and the useless ones.
    const metaHeaders: JsonObject = {};
    for (const [k, v] of Object.entries(headers))
      if (!REDACT_HEADERS.has(k) && typeof v === 'string') metaHeaders[k] = v;
    for (let i = 0; i < parsed.docs.length; i++) {
      const d = parsed.docs[i];
      if (!isObject(d)) {
        this.stats.rejected++;
        return json(400, { error: `document ${i} is not a JSON object`, index: i });
      }
      if (nestingDepth(d) > MAX_DEPTH) {
        this.stats.rejected++;
        return json(400, { error: `document ${i} nests deeper than ${MAX_DEPTH} levels`, index: i });
      }
      const meta: JsonObject = {
        ...(isObject(d._meta) ? d._meta : {}),
        // With an id, the same id gives the same uuid bits but the time (a retry is dropped by its origin).
        uuid: metaUuid(now, `${this.spec.name}/${retryId ?? requestId}`, i),
        webhookId: headerId ?? (parsed.docs.length === 1 ? requestId : randomUUID()),
        receivedAt: new Date(now).toISOString(),
      };
      if (Object.keys(params).length > 0) meta.pathParams = params;
      if (Object.keys(req.query).length > 0) meta.query = req.query;
      if (Object.keys(metaHeaders).length > 0) meta.headers = metaHeaders;
      const doc: JsonObject = { ...d, _meta: meta };
      const violations = validator.validate(doc);
      if (violations.length > 0) {
        this.stats.rejected++;
        this.stats.schemaViolations++;
        const e = new SchemaValidationError(violations, {
          collection: route.collection.name,
          documentIndex: i,
        });
        return json(400, {
          error: e.message,
          index: i,
          collection: route.collection.name,
          violations: violations as unknown as Json,
        });
      }
      const bytes = Buffer.byteLength(JSON.stringify(doc));
      if (bytes > MAX_DOCUMENT_BYTES) {
        this.stats.rejected++;
        return json(413, {
          error: `document ${i} is ${bytes} bytes with its _meta; one document may be at most ${MAX_DOCUMENT_BYTES} bytes (a Kinesis record)`,
          index: i,
        });
      }
      docs.push(doc);
    }
    // One transaction: combine by key, then append (durable before we answer 200).
    const combiner = route.combinerOf();
    for (const d of docs) combiner.add(d);
    const out: AppendDoc[] = [];
    // The origin source of a request with an id: hashed, so any header value makes a bounded, '@'-free name;
    // 128 bits, because two ids sharing a hash would drop the second request's documents.
    const source = retryId
      ? `${route.segments.join('/')}/${createHash('sha256').update(retryId).digest('hex').slice(0, 32)}`
      : undefined;
    for await (const c of combiner.drain(false)) {
      // By the packed key the combiner already has, unless shuffle keys narrow the routing.
      const hashKey = route.router ? route.router(c.doc) : explicitHashKey(c.key);
      out.push(
        source
          ? { hashKey, doc: c.doc, origin: formatOrigin(source, String(out.length).padStart(9, '0')) }
          : { hashKey, doc: c.doc },
      );
    }
    await this.journal.append(route.collection.name, out);
    this.stats.docs += docs.length;
    this.stats.appended += out.length;
    return json(200, { published: docs.length });
  }
}
