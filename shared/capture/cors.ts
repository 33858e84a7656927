/**
 * CORS for source-http-ingest (`allowedCorsOrigins`, Estuary's connector setting): a browser may post to
 * the capture from these origins. A preflight (`OPTIONS` with `Origin`) is answered before authentication,
 * as browsers send no credentials with it; the answers to an allowed origin's requests carry
 * `Access-Control-Allow-Origin`. `*` allows any origin. Without the setting nothing changes: OPTIONS is a 405.
 */
export interface CorsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  constructor(origins: readonly string[]) {
    this.any = origins.includes('*');
    this.origins = new Set(origins.map((o) => o.replace(/\/+$/, '')));
  }

  /** The policy a config asks for (camelCase, as Estuary, or snake_case), or undefined. */
  static fromConfig(config: Record<string, unknown>): CorsPolicy | undefined {
    const list = config.allowedCorsOrigins ?? config.allowed_cors_origins;
    if (!Array.isArray(list) || list.length === 0) return undefined;
    return new CorsPolicy(list.filter((o): o is string => typeof o === 'string'));
  }

  allows(origin: string): boolean {
    return this.any || this.origins.has(origin);
  }

  /** Headers for an answer to `origin` (none when it is not allowed: the browser then refuses it). */
  headersFor(origin: string | undefined): Record<string, string> {
    if (origin === undefined || !this.allows(origin)) return {};
    return this.any
      ? { 'access-control-allow-origin': '*' }
      : { 'access-control-allow-origin': origin, vary: 'Origin' };
  }

  /** The answer to a preflight from `origin` asking for `requestHeaders`. */
  preflight(origin: string, requestHeaders: string | undefined): CorsAnswer {
    if (!this.allows(origin))
      return {
        status: 403,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: `origin ${origin} is not allowed` }),
      };
    return {
      status: 204,
      headers: {
        ...this.headersFor(origin),
        'access-control-allow-methods': 'POST, PUT, OPTIONS',
        'access-control-allow-headers': requestHeaders ?? 'authorization, content-type',
        'access-control-max-age': '600',
      },
      body: '',
    };
  }
}
