/**
 * sql.js (SQLite compiled to WASM): the same engine runs in `sluice test`, the local stack and Lambda.
 * Its `.wasm` is found through SLUICE_SQLITE_WASM (set by infra for a SQLite derivation's function, the
 * file shipped beside its bundle, where nothing but the bundle resolves) or else in node_modules.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import initSqlJs, { type SqlJsStatic } from 'sql.js';

/** Environment variable naming the sql.js `.wasm` file (the Lambda bundle ships it as SQLITE_WASM_FILE). */
export const SQLITE_WASM_ENV = 'SLUICE_SQLITE_WASM';
export const SQLITE_WASM_FILE = 'sql-wasm.wasm';

let loaded: Promise<SqlJsStatic> | undefined;

export function sqlWasmPath(): string {
  return (
    process.env[SQLITE_WASM_ENV] || createRequire(import.meta.url).resolve(`sql.js/dist/${SQLITE_WASM_FILE}`)
  );
}

/** The sql.js module, initialized once per process (≈ 20–60 ms: compiling the WASM). */
export function loadSqlJs(): Promise<SqlJsStatic> {
  if (!loaded) {
    const wasm = sqlWasmPath();
    // sql.js's Node branch reads `__dirname`, which an ES-module bundle lacks; a global of that name
    // stands in for it (only its `locateFile` default would use it, and we pass our own).
    const g = globalThis as { __dirname?: string };
    if (typeof g.__dirname !== 'string') g.__dirname = dirname(wasm);
    loaded = initSqlJs({ locateFile: () => wasm });
    loaded.catch(() => {
      loaded = undefined;
    });
  }
  return loaded;
}
