/**
 * Remote catalog files and schemas (`import: [https://…]`, `$ref: https://…`), fetched when the catalog
 * is loaded (`sluice check`, `sluice test`, synth) into a cache folder beside the root catalog
 * (`.sluice/remote/`), so that the built catalog, and what deploys, holds their content. Offline, the
 * cached copy is used (with a warning); with no cached copy, loading fails with an error that says so.
 * A remote file's relative references resolve against its URL, as Estuary resolves them.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Report, Where } from './report.ts';

/** How long one fetch may take before the cached copy (or an error) stands in. */
export const REMOTE_FETCH_TIMEOUT_MS = 10_000;

/** GET `url` within REMOTE_FETCH_TIMEOUT_MS: its body, or what went wrong (`HTTP 404 Not Found`, `ECONNREFUSED`). */
export async function fetchRemote(url: URL): Promise<{ body: Buffer } | { problem: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(REMOTE_FETCH_TIMEOUT_MS) });
    if (!res.ok) return { problem: `HTTP ${res.status} ${res.statusText}`.trim() };
    return { body: Buffer.from(await res.arrayBuffer()) };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { problem: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

export class RemoteFiles {
  /** Cached file → the URL it holds. */
  private readonly origins = new Map<string, string>();
  private readonly fetched = new Map<string, Promise<string | undefined>>();
  private readonly dir: string;

  constructor(
    rootCatalog: string,
    private readonly report: Report,
  ) {
    this.dir = join(dirname(rootCatalog), '.sluice', 'remote');
  }

  /** The URL relative references in `file` resolve against: its remote URL, or its own file URL. */
  baseOf(file: string): string {
    return this.origins.get(file) ?? pathToFileURL(file).href;
  }

  /** The URL a (possibly cached) file stands for. */
  urlOf(file: string): string | undefined {
    return this.origins.get(file);
  }

  /** Fetch `url` (http or https, no fragment) into the cache; the local path, or undefined (reported). */
  localPath(url: URL, at: Where, what: string): Promise<string | undefined> {
    const key = url.href;
    let p = this.fetched.get(key);
    if (!p) {
      p = this.fetch(url, at, what);
      this.fetched.set(key, p);
    }
    return p;
  }

  private async fetch(url: URL, at: Where, what: string): Promise<string | undefined> {
    const hash = createHash('sha256').update(url.href).digest('hex').slice(0, 16);
    const file = join(this.dir, `${hash}-${basename(url.pathname) || 'index'}`);
    this.origins.set(file, url.href);
    const got = await fetchRemote(url);
    if ('body' in got) {
      await mkdir(this.dir, { recursive: true });
      await writeFile(file, got.body);
      return file;
    }
    const { problem } = got;
    if (existsSync(file)) {
      this.report.warning(
        'RemoteFetchFailed',
        at,
        `cannot fetch ${what} ${url.href} (${problem}): using the copy cached in ${file}`,
      );
      return file;
    }
    this.report.error(
      'RemoteFetchFailed',
      at,
      `cannot fetch ${what} ${url.href} (${problem}) and no copy is cached in ${this.dir}`,
      'connect to the network once (the fetched file is cached for offline use), or save the file beside the catalog and reference it by relative path',
    );
    return undefined;
  }
}
