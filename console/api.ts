/** The console API (same origin, relative to the page's secret path) and the one live event stream. */
import type { LiveSnapshot } from '../shared/console/api-types.ts';
import { SluiceError } from '../shared/errors.ts';

export class ApiError extends SluiceError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function answer<T>(r: Response): Promise<T> {
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text (a file)
  }
  if (!r.ok) {
    const msg = (body as { error?: string })?.error ?? `${r.status} ${r.statusText}`;
    throw new ApiError(r.status, msg);
  }
  return body as T;
}

export async function get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const qs = q.toString();
  return answer<T>(await fetch(`api/${path}${qs ? `?${qs}` : ''}`));
}

/** A file's text as is (never parsed: a JSON file must keep its formatting). */
export async function getText(path: string, query: Record<string, string>): Promise<string> {
  const r = await fetch(`api/${path}?${new URLSearchParams(query)}`);
  const text = await r.text();
  if (!r.ok) throw new ApiError(r.status, text);
  return text;
}

export async function post<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(`api/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

type Listener = (s: LiveSnapshot) => void;

/** Live figures: one EventSource for the whole app, whichever page listens. */
export class Live {
  last: LiveSnapshot | undefined;
  private readonly listeners = new Set<Listener>();
  private source: EventSource | undefined;
  onConnection: (connected: boolean) => void = () => {};

  connect(): void {
    this.source = new EventSource('api/events');
    this.source.addEventListener('stats', (e) => {
      const snap = JSON.parse((e as MessageEvent<string>).data) as LiveSnapshot;
      this.last = snap;
      for (const f of this.listeners) f(snap);
    });
    this.source.addEventListener('open', () => this.onConnection(true));
    this.source.addEventListener('error', () => this.onConnection(false));
  }

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    if (this.last) f(this.last);
    return () => this.listeners.delete(f);
  }
}

export const live = new Live();
