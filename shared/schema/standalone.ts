/**
 * Compiled ajv validators cached on disk as standalone code (ajv's `standaloneCode`), keyed by a
 * content hash of everything the code depends on. Compiling costs ≈ 50–100 ms per schema and loading
 * ajv's compiler ≈ 30 ms; evaluating cached code costs ≈ 1 ms and loads only ajv's small runtime
 * helpers. This is what lets `sluice check` and `sluice test` start in a fraction of a second.
 *
 * The generated code refers to formats as `require("sluice:formats")` (see `FORMATS_CODE`), which
 * `loadStandalone` maps to ajv-formats' full formats plus Sluice's own (`SLUICE_FORMATS`); every other
 * `require` is ajv's runtime (`ajv/dist/runtime/*`), resolved from here.
 */
import { createRequire } from 'node:module';
import type { Options, ValidateFunction } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { contentKey, readCached, writeCached } from '../cache/content-cache.ts';

const require = createRequire(import.meta.url);

/** Module name the generated code requires the formats object by. */
const FORMATS_MODULE = 'sluice:formats';

/** Estuary's numeric string formats: arbitrary-precision numbers written as strings. */
export const INTEGER_STRING_RE = /^[-+]?[0-9]+$/;
export const NUMBER_STRING_RE = /^([-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|NaN|[-+]?Infinity)$/;

/**
 * Formats Sluice adds to ajv-formats' (string formats). These very objects are given to
 * `ajv.addFormat` and to standalone code, whose generated code calls `formats.<name>.validate`.
 */
export const SLUICE_FORMATS: Record<string, { type: 'string'; validate: RegExp }> = {
  integer: { type: 'string', validate: INTEGER_STRING_RE },
  number: { type: 'string', validate: NUMBER_STRING_RE },
  macaddr: { type: 'string', validate: /^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$/ },
  macaddr8: { type: 'string', validate: /^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$/ },
};

type AjvModule = typeof import('ajv/dist/2020.js');

/**
 * ajv's compiler, loaded on first use with require: import() of CommonJS would scan each module for
 * named exports, and most runs never need the compiler (cache hits).
 */
export function ajvCompiler(): AjvModule {
  return require('ajv/dist/2020.js') as AjvModule;
}

/** ajv-formats' `addFormats`, loaded on first use. */
export function addFormats(ajv: Ajv2020): void {
  const mod = require('ajv-formats') as { default: (a: Ajv2020) => void };
  mod.default(ajv);
}

/** `code` options for an ajv instance whose validators may be saved as standalone code. */
export function standaloneCodeOptions(): Options['code'] {
  const { _ } = require('ajv') as typeof import('ajv');
  return { source: true, formats: _`require(${FORMATS_MODULE})` };
}

let formats: Record<string, unknown> | undefined;

function formatsObject(): Record<string, unknown> {
  if (formats === undefined) {
    const { fullFormats } = require('ajv-formats/dist/formats') as { fullFormats: Record<string, unknown> };
    formats = { ...fullFormats, ...SLUICE_FORMATS };
  }
  return formats;
}

/** Evaluates standalone code (CommonJS text) into its validate function. */
export function loadStandalone(code: string): ValidateFunction {
  const module = { exports: {} as { default?: ValidateFunction } };
  const req = (id: string): unknown => (id === FORMATS_MODULE ? formatsObject() : require(id));
  new Function('require', 'module', 'exports', code)(req, module, module.exports);
  return (module.exports.default ?? module.exports) as ValidateFunction;
}

let ajvVersion: string | undefined;

/** The cache key of a validator: the ajv version, a tag for the options, the schemas and the entry URI. */
export function validatorKey(optionsTag: string, schemas: string, uri: string): string {
  ajvVersion ??= (require('ajv/package.json') as { version: string }).version;
  return contentKey('ajv-standalone-1', ajvVersion, optionsTag, schemas, uri);
}

/** A validator from the cache, with the warnings ajv logged while compiling it. */
export interface CachedValidator {
  fn: ValidateFunction;
  warnings: string[];
}

interface StoredValidator {
  code: string;
  warnings: string[];
}

/** The cached validator of `key`, or undefined. A corrupt entry counts as a miss. */
export function cachedValidator(key: string): CachedValidator | undefined {
  const text = readCached('ajv', key);
  if (text === undefined) return undefined;
  try {
    const stored = JSON.parse(text) as StoredValidator;
    return { fn: loadStandalone(stored.code), warnings: stored.warnings };
  } catch {
    return undefined;
  }
}

/**
 * Saves `fn`'s standalone code under `key`, with the warnings compiling it logged. Some schemas
 * cannot be made standalone (ajv throws); they are simply compiled again next time.
 */
export function saveValidator(
  key: string,
  ajv: Ajv2020,
  fn: ValidateFunction,
  warnings: string[] = [],
): void {
  try {
    const { default: standaloneCode } =
      require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
    const stored: StoredValidator = { code: standaloneCode(ajv, fn), warnings };
    writeCached('ajv', key, JSON.stringify(stored));
  } catch {
    // not cacheable: compiled each time
  }
}
