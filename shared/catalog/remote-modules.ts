/**
 * Remote modules of TypeScript derivations: Deno's `https://…` imports (Estuary's stock-stats example
 * imports momentjs from deno.land) and `deno.json` import-map entries that name URLs. Estuary's runtime is
 * Deno, which fetches them; Sluice fetches them when the catalog is loaded (`sluice check`, `sluice test`,
 * synth) into `.sluice/remote/modules/` beside the root catalog, laid out as their URLs
 * (`https/deno.land/x/momentjs@2.29.1-deno/mod.ts`), so that a remote module's relative imports resolve
 * on disk as they resolve against its URL. The derivation's import map then maps `https://` and `http://`
 * to those folders, and every build bundles the modules offline like local files: `sluice test`, the
 * type check, the Lambda bundle (which therefore never fetches at run time, as Deno would).
 *
 * As Deno does, a module once fetched is used from the cache: remote modules are immutable by
 * convention (versioned URLs). Delete the folder to fetch again.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { Plugin } from 'esbuild';
import { fetchRemote } from './remote.ts';

const URL_SPECIFIER = /^https?:\/\//;
/** Extensions a remote module may have: esbuild and TypeScript pick the loader by extension. */
const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.tsx', '.js', '.mjs', '.jsx', '.json']);

export const REMOTE_IMPORTS_PLUGIN = 'sluice-remote-imports';
/** The `detail` of the plugin's error for a module that could not be fetched (derive-check reports its code). */
export const FETCH_FAILED = 'RemoteFetchFailed';

/** The folder remote modules of a catalog are fetched into. */
export function remoteModulesDir(rootCatalog: string): string {
  return join(dirname(rootCatalog), '.sluice', 'remote', 'modules');
}

/** Where `url` (a file, or a folder when it ends in `/`) is laid out below `dir`: scheme, host, path. */
function mirrorPath(dir: string, url: URL): string | undefined {
  const segments = url.pathname.split('/').map((s) => decodeURIComponent(s));
  // URL parsing has removed `..`; a decoded segment must not smuggle one (or a separator) back in.
  if (segments.some((s) => s === '..' || s.includes(sep))) return undefined;
  return join(dir, url.protocol.slice(0, -1), url.host, ...segments);
}

/** Where the module at `url` is cached below `dir`, or why it cannot be. */
export function cachedModulePath(dir: string, url: URL): { file: string } | { problem: string } {
  if (url.search || url.hash)
    return { problem: 'a query or fragment in a module URL is not supported (the URL must name a file)' };
  if (!MODULE_EXTENSIONS.has(extname(url.pathname)))
    return {
      problem: `a remote module's URL must end in .ts, .tsx, .js, .mjs, .jsx or .json (as deno.land/x's do); found ${url.pathname}`,
    };
  const file = mirrorPath(dir, url);
  return file ? { file } : { problem: 'the URL path has an encoded `..` or separator' };
}

/** The URL a file below `dir` was fetched from (cachedModulePath's inverse), or undefined. */
function urlOfCached(dir: string, file: string): URL | undefined {
  const rel = relative(dir, file);
  if (rel.startsWith('..')) return undefined;
  const [scheme, host, ...path] = rel.split(sep);
  if ((scheme !== 'https' && scheme !== 'http') || !host) return undefined;
  const url = new URL(`${scheme}://${host}/`);
  // The pathname setter escapes only what a path cannot hold: `@` (deno.land/x's versions) stays.
  url.pathname = `/${path.join('/')}`;
  return url;
}

/**
 * Fetches in flight, by file: one build resolves a module once per importer, and two importers of the
 * same URL must share one download (two would race on the temporary file).
 */
const inFlight = new Map<string, Promise<string | undefined>>();

/** Fetch `url` into `file` unless it is there already; undefined when it is, else the problem. */
function fetchInto(url: URL, file: string): Promise<string | undefined> {
  let p = inFlight.get(file);
  if (!p) {
    p = download(url, file).finally(() => inFlight.delete(file));
    inFlight.set(file, p);
  }
  return p;
}

async function download(url: URL, file: string): Promise<string | undefined> {
  if (existsSync(file)) return undefined;
  const got = await fetchRemote(url);
  if ('problem' in got) return got.problem;
  try {
    await mkdir(dirname(file), { recursive: true });
    // Written under a temporary name first: an interrupted fetch never leaves half a module cached.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, got.body);
    await rename(tmp, file);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Import-map entries whose target is a URL (deno.json `"moment": "https://…"`, `"std/": "https://…/"`). */
export function urlEntries(imports: Record<string, string>): [string, string][] {
  return Object.entries(imports).filter(
    ([k, v]) => URL_SPECIFIER.test(v) && k !== 'https://' && k !== 'http://',
  );
}

/** The URL a bare specifier names through a URL-valued import-map entry (exact, else longest prefix). */
function throughMap(specifier: string, entries: [string, string][]): string | undefined {
  let best: [string, string] | undefined;
  for (const [k, v] of entries) {
    if (k === specifier && !k.endsWith('/')) return v;
    if (k.endsWith('/') && specifier.startsWith(k) && (!best || k.length > best[0].length)) best = [k, v];
  }
  return best ? best[1] + specifier.slice(best[0].length) : undefined;
}

export interface RemoteImportsUse {
  /** Whether the build resolved any remote module. */
  used: boolean;
}

/**
 * esbuild plugin resolving remote imports to their cached files: `https://…` and `http://…` specifiers,
 * bare specifiers that a URL-valued import-map entry maps, and relative imports inside a cached module
 * (against its URL). With `fetch`, a module not cached yet is fetched (catalog load); without, it is an
 * error (esbuild would otherwise leave a URL import external, to fail only when the bundle runs).
 */
export function remoteImports(
  dir: string,
  imports: Record<string, string>,
  opts: { fetch: boolean; use?: RemoteImportsUse },
): Plugin {
  const entries = urlEntries(imports);
  return {
    name: REMOTE_IMPORTS_PLUGIN,
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        let url: URL | undefined;
        if (URL_SPECIFIER.test(args.path)) url = new URL(args.path);
        else if (/^\.{0,2}\//.test(args.path)) {
          const base = args.importer ? urlOfCached(dir, args.importer) : undefined;
          if (!base) return undefined; // a local file's own relative import
          url = new URL(args.path, base);
        } else {
          const mapped = throughMap(args.path, entries);
          if (!mapped) return undefined;
          url = new URL(mapped);
        }
        const at = cachedModulePath(dir, url);
        if ('problem' in at) return { errors: [{ text: `remote import \`${url.href}\`: ${at.problem}` }] };
        if (opts.use) opts.use.used = true;
        if (existsSync(at.file)) return { path: at.file };
        if (!opts.fetch)
          return {
            errors: [
              {
                text: `remote import \`${url.href}\` is not fetched: \`sluice check\` fetches it into ${dir}`,
              },
            ],
          };
        const problem = await fetchInto(url, at.file);
        if (problem)
          return {
            errors: [
              {
                text: `cannot fetch remote import \`${url.href}\` (${problem}) and no copy is cached in ${dir}`,
                detail: FETCH_FAILED,
              },
            ],
          };
        return { path: at.file };
      });
    },
  };
}

/**
 * The import map every later build uses once a module's remote imports are cached: `https://` and
 * `http://` map to their folders below `dir` (tsconfig paths, which the TypeScript compiler honours), and
 * each URL-valued entry to its cached file or folder, so that a build with no plugin (the Lambda bundle)
 * resolves what it can on disk.
 */
export function withCachedRemotes(imports: Record<string, string>, dir: string): Record<string, string> {
  const out: Record<string, string> = { ...imports };
  for (const [k, v] of urlEntries(imports)) {
    const at = k.endsWith('/') ? mirrorPath(dir, new URL(v)) : cachedModulePath(dir, new URL(v));
    if (typeof at === 'string') out[k] = `${at}/`;
    else if (at && 'file' in at) out[k] = at.file;
  }
  out['https://'] = `${join(dir, 'https')}/`;
  out['http://'] = `${join(dir, 'http')}/`;
  return out;
}

/**
 * The remote-imports plugin for a build of a module whose import map is final (withCachedRemotes): no
 * fetching, the folder read from the map. Without remote entries any URL import is an error.
 */
export function cachedRemoteImports(imports: Record<string, string> | undefined): Plugin {
  const dir = remoteDirOf(imports) ?? join('.sluice', 'remote', 'modules');
  return remoteImports(dir, imports ?? {}, { fetch: false });
}

/**
 * The folder a final import map's remote modules are cached in (withCachedRemotes put it there), or
 * undefined when the module has none: its builds need no remote-imports plugin. A URL-valued entry left
 * in such a map is one no module imports (used ones were mapped to their cached files).
 */
export function remoteDirOf(imports: Record<string, string> | undefined): string | undefined {
  const https = imports?.['https://'];
  return https === undefined ? undefined : dirname(https.replace(/\/+$/, ''));
}
