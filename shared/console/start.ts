/**
 * The web console as `sluice dev` runs it: the host over the running stack (which a re-synthesis may
 * replace), a publish applied through the catalog watcher (as an edit saved in an editor would be), and
 * a stable URL across restarts — the secret path kept in `<data>/console-token` (owner-only), the
 * preferred port or any free one when it is taken.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCatalog } from '../catalog/load.ts';
import type { BuiltCatalog } from '../catalog/model.ts';
import type { AssemblyRunner } from '../local/assembly/runner.ts';
import type { ApplyResult } from '../local/assembly/watch.ts';
import { ConsoleError } from './collections.ts';
import type { ConsoleHost, ReloadSummary } from './host.ts';
import { ConsoleServer } from './server.ts';

function token(dataDir: string): string {
  const file = join(dataDir, 'console-token');
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (/^[\w-]{16,}$/.test(t)) return t;
  }
  const t = randomBytes(12).toString('base64url');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${t}\n`, { mode: 0o600 });
  return t;
}

export interface DevConsoleOptions {
  /** The catalog `sluice dev` runs; undefined with `--assembly` (then the assembly's shipped catalog). */
  catalogPath?: string;
  /** The stack running now. */
  runner: () => AssemblyRunner;
  /** The catalog shipped in the running assembly (`--assembly`, or before the files load). */
  shipped: () => BuiltCatalog | undefined;
  /** Re-synthesize the files and apply them (the watcher's refresh); undefined: not watching. */
  refresh?: () => Promise<ApplyResult | undefined>;
  dataDir: string;
  /** Preferred port on 127.0.0.1. */
  port: number;
}

/** The ConsoleHost of `sluice dev`: the catalog is loaded again whenever the running assembly changes. */
export function devConsoleHost(o: DevConsoleOptions): ConsoleHost {
  let cache: { dir: string; catalog: BuiltCatalog } | undefined;
  const first = o.shipped();
  const catalogPath = resolve(o.catalogPath ?? first?.root ?? 'flow.yaml');
  return {
    catalogPath,
    runner: o.runner,
    deployCommand: `npx cdk deploy -c catalog=${o.catalogPath ?? catalogPath}`,
    async catalog() {
      const dir = o.runner().template.dir;
      if (cache?.dir === dir) return cache.catalog;
      const loaded = o.catalogPath ? (await loadCatalog(o.catalogPath)).catalog : undefined;
      const catalog = loaded ?? o.shipped();
      if (!catalog) throw new ConsoleError(503, 'the running assembly ships no catalog.json');
      cache = { dir, catalog };
      return catalog;
    },
    async reload(): Promise<ReloadSummary> {
      if (!o.refresh)
        return {
          ok: false,
          messages: [
            'sluice dev is not watching the catalog (--assembly or --no-watch): restart it to run the files',
          ],
        };
      const r = await o.refresh();
      if (!r) return { ok: false, messages: ['the files did not synthesize: see the sluice dev terminal'] };
      return {
        ok: true,
        messages: [
          r.restarted === 'nothing'
            ? 'nothing to restart'
            : r.restarted === 'stack'
              ? 'the wiring changed: the stack restarted'
              : 'restarted the changed functions',
          ...r.changes,
        ],
      };
    },
  };
}

export async function startConsole(o: DevConsoleOptions): Promise<ConsoleServer> {
  const host = devConsoleHost(o);
  const t = token(o.dataDir);
  const server = new ConsoleServer(host, { port: o.port, token: t });
  try {
    await server.start();
    return server;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code !== 'EADDRINUSE' && code !== 'EACCES') || o.port === 0) throw e;
    await server.stop();
    const any = new ConsoleServer(host, { port: 0, token: t });
    await any.start();
    return any;
  }
}
