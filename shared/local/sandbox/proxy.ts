/**
 * The AWS endpoint a sandboxed function talks to: one loopback HTTP server per function, in front of
 * the emulators. It tells the service from the request's SigV4 scope, checks every call against the
 * function's role policies from the template (shared/local/iam), answers a denied call exactly as AWS
 * does (so the function's SDK raises AccessDenied), and forwards the rest untouched, headers and
 * signature included, to the emulator. It is also where billable units are counted and where tests
 * inject faults on the wire (fail a chosen call N times, kill the instance after a chosen call).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { evaluatePolicies, type IamRequest, type PolicyDocument } from '../iam/policy.ts';
import {
  accessDenied,
  type HttpCall,
  iamRequestsOf,
  RequestMappingError,
  type Service,
  serviceOf,
} from '../iam/requests.ts';

export interface ProxiedCall {
  functionName: string;
  service: Service;
  call: HttpCall;
  /** The IAM requests the call was checked as (action, resource, context). */
  iam: IamRequest[];
}

export interface CannedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * What an `after` hook may do to the answer of a call the emulator applied: `reset` destroys the
 * client's connection instead of answering (the caller sees ECONNRESET, "socket hang up"); `hang` keeps
 * the connection silent for HANG_MS, then destroys it (an answer that never comes, as when a load
 * balancer or NAT drops an idle connection). Both leave the caller unable to tell whether the call took
 * effect — a fault a status code cannot express, and the one that retries must survive.
 */
export type LostAnswer = 'reset' | 'hang';

/** How long a `hang` keeps the caller waiting before its connection is dropped. */
export const HANG_MS = 300;

export interface ProxyHooks {
  /**
   * Before forwarding: return a response to answer with it instead (fault injection). May be async: a
   * test may apply part of the call itself first (a partial PutRecords).
   */
  before?: (c: ProxiedCall) => CannedResponse | undefined | Promise<CannedResponse | undefined>;
  /**
   * After the emulator answered (metering; crash injection). Returning a LostAnswer drops the answer on
   * the wire instead of sending it; throwing answers 500.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: observing hooks (metering, most tests) return nothing
  after?: (c: ProxiedCall, status: number, responseBody: Buffer) => LostAnswer | undefined | void;
  /** A denied call (the terminal shows it; tests assert it). */
  denied?: (c: ProxiedCall, denied: IamRequest) => void;
}

export interface ProxyOptions {
  functionName: string;
  principalArn: string;
  /** The role's policies; undefined: no IAM checks (only when asked for). */
  policies: PolicyDocument[] | undefined;
  upstream: Record<Service, string>;
  arnEnv: Parameters<typeof iamRequestsOf>[2];
  hooks?: ProxyHooks;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class FunctionProxy {
  private server: Server | undefined;
  port = 0;
  readonly stats = { calls: 0, denied: 0 };

  constructor(private readonly o: ProxyOptions) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        (r) => {
          if (r.lost === 'reset') return req.socket.destroy();
          if (r.lost === 'hang') {
            setTimeout(() => req.socket.destroy(), HANG_MS).unref();
            return;
          }
          res.writeHead(r.status, r.headers);
          res.end(r.body);
        },
        (e: Error) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`local proxy error: ${e.message}`);
        },
      );
    });
    this.server.keepAliveTimeout = 30_000;
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', () => ok()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage): Promise<{
    status: number;
    headers: Record<string, string | string[]>;
    body: Buffer | string;
    lost?: LostAnswer;
  }> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const call: HttpCall = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers,
      body: await readBody(req),
    };
    const service = serviceOf(call);
    let iam: IamRequest[];
    try {
      iam = iamRequestsOf(service, call, this.o.arnEnv);
    } catch (e) {
      // A call the IAM model cannot map is refused, never guessed into an allow.
      if (!(e instanceof RequestMappingError) || !this.o.policies) throw e;
      const r: IamRequest = { action: `${service}:${call.method} ${call.path}`, resource: '*' };
      this.stats.denied++;
      this.o.hooks?.denied?.({ functionName: this.o.functionName, service, call, iam: [r] }, r);
      const d = accessDenied(service, r, this.o.principalArn, { method: call.method });
      return { status: d.status, headers: d.headers, body: d.body };
    }
    const pc: ProxiedCall = { functionName: this.o.functionName, service, call, iam };
    this.stats.calls++;
    if (this.o.policies) {
      for (const r of iam) {
        if (evaluatePolicies(this.o.policies, r).effect !== 'allow') {
          this.stats.denied++;
          this.o.hooks?.denied?.(pc, r);
          const d = accessDenied(service, r, this.o.principalArn, { method: call.method });
          return { status: d.status, headers: d.headers, body: d.body };
        }
      }
    }
    const canned = await this.o.hooks?.before?.(pc);
    if (canned) return canned;
    const res = await forward(this.o.upstream[service], req, call);
    const lost = this.o.hooks?.after?.(pc, res.status, res.body);
    return lost ? { ...res, lost } : res;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => {
      if (!this.server) return r();
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

function forward(
  upstream: string,
  req: IncomingMessage,
  call: HttpCall,
): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
  const target = new URL(upstream);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: call.method,
        path: req.url,
        // Headers go through untouched (host included): s3rver checks the SigV4 signature over them.
        headers: req.headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v === undefined || k === 'transfer-encoding' || k === 'connection') continue;
            headers[k] = v;
          }
          const body = Buffer.concat(chunks);
          if (!('content-length' in headers) && call.method !== 'HEAD')
            headers['content-length'] = String(body.length);
          resolve({ status: res.statusCode ?? 500, headers, body });
        });
        res.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(call.body);
  });
}
