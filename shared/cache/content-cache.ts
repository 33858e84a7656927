/**
 * A small on-disk cache of derived text keyed by a content hash, so that a short-lived CLI process
 * can skip expensive work whose result depends only on its input: loading the TypeScript compiler
 * to inspect a derivation module (≈ 200 ms), compiling JSON schemas with ajv (≈ 50–100 ms each).
 *
 * Where: nowhere in a Lambda function; `$SLUICE_CACHE_DIR`, else `$XDG_CACHE_HOME/sluice`, else `~/.cache/sluice`; `SLUICE_CACHE_DIR=off`
 * disables it. Entries are content-addressed (the key hashes everything the value depends on, plus a
 * version per kind), so they never go stale and any number of projects and processes can share the
 * folder. Writes go to a temporary file renamed into place (atomic), and every failure (read-only
 * home, full disk) only means a cache miss: the cache can make a command faster, never make it fail.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The cache folder, or undefined when caching is off. Read from the environment on each call (tests set it). */
export function cacheDir(): string | undefined {
  // A Lambda function (or its local sandbox) compiles at init, once per instance: nothing to share.
  if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined || process.env.LAMBDA_TASK_ROOT !== undefined) {
    return undefined;
  }
  const explicit = process.env.SLUICE_CACHE_DIR;
  if (explicit === 'off') return undefined;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(homedir(), '.cache'), 'sluice');
}

/** sha256 (hex) of the parts, each length-prefixed so that ('ab','c') and ('a','bc') differ. */
export function contentKey(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.length}:`).update(p);
  return h.digest('hex');
}

function entryPath(dir: string, kind: string, key: string): string {
  return join(dir, kind, key);
}

/** The cached text of `kind`/`key`, or undefined (absent, unreadable, or caching off). */
export function readCached(kind: string, key: string): string | undefined {
  const dir = cacheDir();
  if (dir === undefined) return undefined;
  try {
    return readFileSync(entryPath(dir, kind, key), 'utf8');
  } catch {
    return undefined;
  }
}

/** Stores `text` under `kind`/`key`; silently does nothing when the cache folder is not writable. */
export function writeCached(kind: string, key: string, text: string): void {
  const dir = cacheDir();
  if (dir === undefined) return;
  const file = entryPath(dir, kind, key);
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    // Private to the user: cached validators are code that later runs (new Function).
    mkdirSync(join(dir, kind), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // A cache that cannot be written is a cache miss next time, nothing more.
  }
}
