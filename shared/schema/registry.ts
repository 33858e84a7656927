/**
 * One ajv instance per catalog: every schema document of `BuiltCatalog.schemas`, drafts 2020-12
 * and 2019-09 (normalized to 2020-12, see normalize.ts), ajv-formats (strict RFC 3339 date-time,
 * ...), Estuary's numeric string formats `integer` and `number`, the `reduce` keyword (its value is
 * validated) and the annotation keywords Estuary schemas use. Each URI is compiled once and cached.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { cacheDir, contentKey, readCached, writeCached } from '../cache/content-cache.ts';
import { valuesInErrors } from '../config/debug-values.ts';
import { SluiceError } from '../errors.ts';
import { getAt } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { SchemaError } from './errors.ts';
import { SchemaGraph } from './graph.ts';
import { ANNOTATION_KEYWORDS } from './keywords.ts';
import { normalizeSchema } from './normalize.ts';
import { REDUCE_META_SCHEMA } from './reduce-annotation.ts';
import {
  Ajv2020,
  addFormats,
  cachedValidator,
  SLUICE_FORMATS,
  saveValidator,
  standaloneCodeOptions,
  validatorKey,
} from './standalone.ts';

export { SchemaError, type SchemaErrorCode } from './errors.ts';
export { INTEGER_STRING_RE, NUMBER_STRING_RE } from './standalone.ts';

/** One reason a document does not validate (ajv's error, as plain data). */
export interface SchemaViolation {
  /** JSON pointer into the document. */
  instancePath: string;
  keyword: string;
  /** Location in the schema, e.g. `#/properties/amount/type`. */
  schemaPath: string;
  message: string;
  params: Record<string, unknown>;
  /**
   * The value found at `instancePath`, as a message shows it, for keywords about a value (`type`, `enum`,
   * `minimum`, ...). A document value: describeViolation shows it only where values may be shown.
   */
  found?: string;
}

export interface ValidationContext {
  /** 0-based index of the document in its batch, file or test step. */
  documentIndex?: number;
  /** Collection name. */
  collection?: string;
}

/** A document failed its schema. Message: `document 3 of acme/orders: /amount: must be number (keyword "type", schema #/properties/amount/type)`. */
export class SchemaValidationError extends SluiceError {
  readonly code = 'SchemaViolation';
  readonly documentIndex?: number;
  readonly collection?: string;

  constructor(
    readonly violations: SchemaViolation[],
    context: ValidationContext & { uri?: string } = {},
  ) {
    super(SchemaValidationError.format(violations, context));
    this.name = 'SchemaValidationError';
    this.documentIndex = context.documentIndex;
    this.collection = context.collection;
  }

  static format(violations: SchemaViolation[], context: ValidationContext & { uri?: string }): string {
    let subject = 'document';
    if (context.documentIndex !== undefined) subject += ` ${context.documentIndex}`;
    if (context.collection !== undefined) subject += ` of ${context.collection}`;
    else if (context.uri !== undefined) subject += ` (schema ${context.uri})`;
    const what = violations
      .map((v) => `${describeViolation(v)} (keyword "${v.keyword}", schema ${v.schemaPath})`)
      .join('; ');
    return `${subject}: ${what || 'does not validate'}`;
  }
}

/**
 * One violation as messages show it: where, what is allowed, and what was found when `values` allows
 * quoting the document: `/amount: must be number, found "2"`, `/status: must be equal to one of the
 * allowed values ["a","b"], found "c"`, `(root): must NOT have additional properties ("colour")`.
 * By default values are quoted only as debugging asks (shared/config/debug-values.ts: logs never hold
 * document values); the CLI, reporting a user's own input to them, passes `values: true`.
 */
export function describeViolation(v: SchemaViolation, opts: { values?: boolean } = {}): string {
  let msg = `${v.instancePath || '(root)'}: ${v.message}`;
  if (v.keyword === 'additionalProperties' && typeof v.params.additionalProperty === 'string') {
    msg += ` (${JSON.stringify(v.params.additionalProperty)})`;
  } else if (v.keyword === 'enum' && Array.isArray(v.params.allowedValues)) {
    msg += ` ${JSON.stringify(v.params.allowedValues)}`;
  }
  return v.found === undefined || !(opts.values ?? valuesInErrors()) ? msg : `${msg}, found ${v.found}`;
}

/** Keywords that judge the value at their location, so that a message shows what was found there. */
const VALUE_KEYWORDS = new Set([
  'type',
  'enum',
  'const',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
]);

/** A found value as a message shows it: scalars as JSON (long strings cut), containers by kind. */
function showFound(value: Json | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return 'an array';
  if (isObject(value)) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function toViolation(e: ErrorObject, doc: Json): SchemaViolation {
  const v: SchemaViolation = {
    instancePath: e.instancePath,
    keyword: e.keyword,
    schemaPath: e.schemaPath,
    message: e.message ?? `must pass "${e.keyword}"`,
    params: e.params as Record<string, unknown>,
  };
  if (VALUE_KEYWORDS.has(e.keyword)) {
    const found = showFound(getAt(doc, e.instancePath));
    if (found !== undefined) v.found = found;
  }
  return v;
}

/** A compiled schema (or subschema): validate documents against it. */
export class CompiledSchema {
  constructor(
    readonly uri: string,
    private readonly fn: ValidateFunction,
  ) {}

  /** The reasons `doc` is invalid; empty when it is valid. */
  validate(doc: Json): SchemaViolation[] {
    if (this.fn(doc)) return [];
    return (this.fn.errors ?? []).map((e) => toViolation(e, doc));
  }

  isValid(doc: Json): boolean {
    return this.fn(doc) as boolean;
  }

  /** Throw SchemaValidationError when `doc` is invalid. */
  assertValid(doc: Json, context: ValidationContext = {}): void {
    if (this.fn(doc)) return;
    throw new SchemaValidationError(
      (this.fn.errors ?? []).map((e) => toViolation(e, doc)),
      { ...context, uri: this.uri },
    );
  }
}

export { ANNOTATION_KEYWORDS } from './keywords.ts';

/** Options of the registry's ajv instance: part of every cache key (change it when they change). */
const REGISTRY_OPTIONS_TAG =
  'registry-3:rootAnchorAsDef,strict=false,allErrors=false,formats+integer,number,macaddr,macaddr8,keyword+redact';

/** Estuary's `redact` annotation (schema/redact.ts applies it): `{strategy: block | sha256}`. */
const REDACT_META_SCHEMA = {
  type: 'object',
  required: ['strategy'],
  additionalProperties: false,
  properties: { strategy: { enum: ['block', 'sha256'] } },
} as const;

/**
 * Compiling is the slow part of a short command, so validators are cached as standalone code by the
 * content hash of the whole schema set and the URI (shared/schema/standalone.ts). ajv itself is
 * created only when something is not cached: a schema set seen before (and so known to be valid) with
 * every validator cached never loads ajv's compiler.
 */
export class SchemaRegistry {
  /** ajv's warnings (e.g. unknown formats, which are ignored) from compiling in this process. */
  readonly warnings: string[] = [];
  private ajvInstance: Ajv2020 | undefined;
  /** Public key → internal resource URI (differs only for keys with a `#` fragment). */
  private readonly internal = new Map<string, string>();
  private readonly resources = new Map<string, Json>();
  private readonly compiled = new Map<string, CompiledSchema>();
  private readonly fns = new Map<string, ValidateFunction | undefined>();
  /** The normalized schema documents as JSON: what every cached validator depends on (made when caching). */
  private setTextCache: string | undefined;
  private graphCache?: SchemaGraph;

  constructor(schemas: Record<string, Json>) {
    for (const [key, doc] of Object.entries(schemas)) {
      const id = internalUri(key);
      this.internal.set(key, id);
      let normalized = normalizeSchema(doc, key);
      if (isObject(normalized)) normalized = { ...normalized, $id: id };
      else normalized = { $id: id, allOf: [normalized] };
      this.resources.set(id, normalized);
    }
    // A set that was added to ajv before without an error needs no check now; a new one is added
    // (and checked against the meta-schema) at once, so an invalid schema still fails here.
    if (cacheDir() === undefined) {
      this.ajv();
      return;
    }
    const setKey = contentKey(REGISTRY_OPTIONS_TAG, this.setText);
    if (readCached('schema-set', setKey) === undefined) {
      this.ajv();
      writeCached('schema-set', setKey, 'valid');
    }
  }

  private get setText(): string {
    this.setTextCache ??= JSON.stringify([...this.resources]);
    return this.setTextCache;
  }

  /** The ajv instance holding every schema document, created on first use. */
  private ajv(): Ajv2020 {
    if (this.ajvInstance !== undefined) return this.ajvInstance;
    const warn = (...args: unknown[]) => {
      const msg = args.map(String).join(' ');
      if (this.warnings.length < 1000 && !this.warnings.includes(msg)) this.warnings.push(msg);
    };
    const ajv = new Ajv2020({
      strict: false,
      allErrors: false,
      addUsedSchema: false,
      logger: { log: () => {}, warn, error: warn },
      code: standaloneCodeOptions(),
    });
    addFormats(ajv);
    for (const [name, format] of Object.entries(SLUICE_FORMATS)) ajv.addFormat(name, format);
    ajv.addKeyword({ keyword: 'reduce', metaSchema: REDUCE_META_SCHEMA });
    // Estuary's redaction annotation (schema/redact.ts), validated like `reduce`.
    ajv.addKeyword({ keyword: 'redact', metaSchema: REDACT_META_SCHEMA });
    ajv.addVocabulary(ANNOTATION_KEYWORDS);
    for (const [key, id] of this.internal) {
      const schema = rootAnchorAsDef(this.resources.get(id)!);
      try {
        ajv.addSchema(schema as object);
      } catch (e) {
        // addSchema checked it against the meta-schema: again, for an error that names the keyword where
        // it was written (ajv's own "schema is invalid: data/properties/x/type must be …" says neither
        // where nor what). Only on failure, so a valid schema is checked once.
        const invalid =
          ajv.validateSchema(schema as object) === false && metaSchemaError(schema, ajv.errors ?? []);
        if (invalid) {
          const uri = key.includes('#') ? key : `${key}#${invalid.pointer}`;
          throw new SchemaError('InvalidSchema', uri, invalid.detail);
        }
        throw new SchemaError('InvalidSchema', key, (e as Error).message);
      }
    }
    this.ajvInstance = ajv;
    return ajv;
  }

  /**
   * The validate function of an internal URI (undefined when no such schema is registered): from the
   * cache, else compiled by ajv (and cached). Throws what ajv throws for a schema it cannot compile.
   */
  private fn(id: string): ValidateFunction | undefined {
    if (this.fns.has(id)) return this.fns.get(id);
    const key = validatorKey(REGISTRY_OPTIONS_TAG, () => this.setText, id);
    const cached = cachedValidator(key);
    let fn: ValidateFunction | undefined;
    if (cached !== undefined) {
      fn = cached.fn;
      for (const w of cached.warnings) if (!this.warnings.includes(w)) this.warnings.push(w);
    } else {
      const ajv = this.ajv();
      const before = this.warnings.length;
      fn = ajv.getSchema(id);
      if (fn !== undefined) saveValidator(key, ajv, fn, this.warnings.slice(before));
    }
    this.fns.set(id, fn);
    return fn;
  }

  /** The URIs of the registered schema documents. */
  get uris(): string[] {
    return [...this.internal.keys()];
  }

  /** Map a public URI (a registered key, optionally followed by `#/pointer`) to ajv's URI. */
  resolve(uri: string): string {
    const direct = this.internal.get(uri);
    if (direct !== undefined) return direct;
    for (let i = uri.lastIndexOf('#'); i > 0; i = uri.lastIndexOf('#', i - 1)) {
      const doc = this.internal.get(uri.slice(0, i));
      if (doc !== undefined) return doc + uri.slice(i);
    }
    return uri;
  }

  /** The compiled validator of `uri` (a registered key, or key#/pointer). Compiled once, then cached. */
  validator(uri: string): CompiledSchema {
    let c = this.compiled.get(uri);
    if (c !== undefined) return c;
    let fn: ValidateFunction | undefined;
    try {
      fn = this.fn(this.resolve(uri));
    } catch (e) {
      throw new SchemaError('InvalidSchema', uri, (e as Error).message);
    }
    if (fn === undefined) {
      const known = this.uris.slice(0, 10).join(', ');
      throw new SchemaError('UnknownSchema', uri, `no schema with this URI is registered (known: ${known})`);
    }
    c = new CompiledSchema(uri, fn);
    this.compiled.set(uri, c);
    return c;
  }

  /** The schema graph (built on first use) used by the reducer and shape inference. */
  get graph(): SchemaGraph {
    this.graphCache ??= new SchemaGraph(
      this.resources,
      (uri) => this.fn(uri) as ((v: Json) => boolean) | undefined,
    );
    return this.graphCache;
  }

  /** The graph node of `uri` (public URI, optionally with a `#/pointer` fragment). */
  node(uri: string) {
    return this.graph.get(this.resolve(uri));
  }
}

/**
 * The meta-schema error that says most: at the deepest schema location that failed (ajv also reports
 * the `anyOf` around alternatives), what was written there and what each alternative allows, as
 * `` `type` is "strin"; allowed: one of "array", "boolean", … , or an array ``.
 */
function metaSchemaError(
  schema: Json,
  errors: readonly ErrorObject[],
): { pointer: string; detail: string } | undefined {
  const specific = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if');
  if (specific.length === 0) return undefined;
  const depth = (e: ErrorObject) => (e.instancePath === '' ? 0 : e.instancePath.split('/').length);
  const deepest = Math.max(...specific.map(depth));
  const at = specific.filter((e) => depth(e) === deepest);
  const pointer = at[0].instancePath;
  const tokens = pointer.split('/').slice(1);
  const keyword = tokens.length > 0 ? tokens[tokens.length - 1].replace(/~1/g, '/').replace(/~0/g, '~') : '';
  let found: Json | undefined = schema;
  for (const t of tokens) {
    const token = t.replace(/~1/g, '/').replace(/~0/g, '~');
    found = isObject(found) ? found[token] : Array.isArray(found) ? found[Number(token)] : undefined;
  }
  const allowed = [
    ...new Set(
      at
        .filter((e) => e.instancePath === pointer)
        .map((e) => {
          if (e.keyword === 'enum' && Array.isArray(e.params.allowedValues)) {
            return `one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
          }
          if (e.keyword === 'type') {
            return String(e.params.type)
              .split(',')
              .map((t) => `${/^[aeiou]/.test(t) ? 'an' : 'a'} ${t}`)
              .join(' or ');
          }
          return (e.message ?? `passes "${e.keyword}"`).replace(/^must (be )?/, '');
        }),
    ),
  ];
  const what = keyword === '' ? 'the schema' : /^\d+$/.test(keyword) ? `item ${keyword}` : `\`${keyword}\``;
  const shown = found === undefined ? 'missing' : JSON.stringify(found);
  return { pointer, detail: `${what} is ${shown}; allowed: ${allowed.join(', or ')}` };
}

/**
 * The URI ajv and the graph use for a registered key: normalized (`new URL(key).href`, so that
 * resolved `$ref`s match it), and without a fragment: a key with a `#` gets its fragment
 * percent-encoded into its last path segment (same folder, so relative refs still resolve).
 */
/**
 * ajv resolves `other.yaml#Name` to an `$anchor` nested in `other.yaml`, but not to one at its root
 * (`can't resolve reference`), which Estuary's catalogs use (`exchange.schema.yaml#Exchange`). The root
 * anchor moves to a `$defs` entry that refers back to the root: the same schema under the same name.
 */
function rootAnchorAsDef(schema: Json): Json {
  if (!isObject(schema) || typeof schema.$anchor !== 'string') return schema;
  const { $anchor, ...rest } = schema;
  const defs = isObject(rest.$defs) ? rest.$defs : {};
  return { ...rest, $defs: { ...defs, 'sluice:root-anchor': { $anchor, $ref: '#' } } };
}

function internalUri(key: string): string {
  const hash = key.indexOf('#');
  const base = hash < 0 ? key : key.slice(0, hash);
  let normalized = base;
  try {
    normalized = new URL(base).href;
  } catch {
    // not a URL: kept as written
  }
  return hash < 0 ? normalized : normalized + encodeURIComponent(key.slice(hash));
}
