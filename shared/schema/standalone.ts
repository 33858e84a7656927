/**
 * Compiled ajv validators cached on disk as standalone code (ajv's `standaloneCode`), keyed by a
 * content hash of everything the code depends on. Compiling costs ≈ 50–100 ms per schema; evaluating
 * cached code costs ≈ 1 ms. This is what lets `sluice check` and `sluice test` start in a fraction of
 * a second. (ajv itself is imported statically: the Lambda bundles need it bundled, and the CLI loads
 * it in ≈ 20 ms.)
 *
 * The generated code refers to formats as `require("sluice:formats")` (or another name given to
 * `standaloneCodeOptions`), which `loadStandalone` maps to the registered formats object; every other
 * `require` is ajv's runtime (`ajv/dist/runtime/*`), resolved from here. Caching is off where there is
 * no cache folder (shared/cache: in Lambda, or `SLUICE_CACHE_DIR=off`): everything is compiled then.
 */
import { createRequire } from 'node:module';
import { _, type Options, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import { cacheDir, contentKey, readCached, writeCached } from '../cache/content-cache.ts';

/** Only for what cached code needs at run time (ajv's runtime helpers) and for writing the cache. */
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

export { Ajv2020 };

/** ajv-formats' `addFormats`. */
export function addFormats(ajv: Ajv2020): void {
  (formatsModule as unknown as { default: (a: Ajv2020) => void }).default(ajv);
}

/** Formats objects by the module name generated code requires them by. */
const formatsByModule = new Map<string, Record<string, unknown>>([
  [FORMATS_MODULE, { ...fullFormats, ...SLUICE_FORMATS }],
]);

/** Registers the formats object that generated code requires by `module` (before loading cached code). */
export function registerFormats(module: string, formats: Record<string, unknown>): void {
  formatsByModule.set(module, formats);
}

/**
 * `code` options for an ajv instance whose validators may be saved as standalone code. Its formats
 * (ajv-formats' and Sluice's by default) must be the ones registered under `module`.
 */
export function standaloneCodeOptions(module = FORMATS_MODULE): Options['code'] {
  return { source: true, formats: _`require(${module})` };
}

/** Evaluates standalone code (CommonJS text) into its validate function. */
export function loadStandalone(code: string): ValidateFunction {
  const module = { exports: {} as { default?: ValidateFunction } };
  const req = (id: string): unknown => formatsByModule.get(id) ?? require(id);
  new Function('require', 'module', 'exports', code)(req, module, module.exports);
  return (module.exports.default ?? module.exports) as ValidateFunction;
}

let ajvVersion: string | undefined;

/**
 * The cache key of a validator: the ajv version, a tag for the options, the schemas and the entry
 * URI; undefined when caching is off (then nothing is hashed).
 */
export function validatorKey(optionsTag: string, schemas: () => string, uri: string): string | undefined {
  if (cacheDir() === undefined) return undefined;
  try {
    ajvVersion ??= (require('ajv/package.json') as { version: string }).version;
  } catch {
    return undefined;
  }
  return contentKey('ajv-standalone-1', ajvVersion, optionsTag, schemas(), uri);
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
export function cachedValidator(key: string | undefined): CachedValidator | undefined {
  if (key === undefined) return undefined;
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
  key: string | undefined,
  ajv: Ajv2020,
  fn: ValidateFunction,
  warnings: string[] = [],
): void {
  if (key === undefined) return;
  try {
    const { default: standaloneCode } =
      require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js');
    const stored: StoredValidator = { code: standaloneCode(ajv, fn), warnings };
    writeCached('ajv', key, JSON.stringify(stored));
  } catch {
    // not cacheable: compiled each time
  }
}
