/**
 * Catalog diagnostics: collected (never thrown at the first problem), each with a stable code,
 * `file:line:col`, the JSON pointer inside that file, what was found and what is allowed, and a
 * "did you mean" hint where one helps.
 */
import { relative } from 'node:path';

/**
 * Every diagnostic code the loader emits, with what it means. Codes are stable: tools and tests
 * match on them, so a code is never renamed or reused for another meaning.
 */
export const DIAGNOSTIC_CODES = {
  // Files and syntax.
  FileNotFound: 'a referenced file (catalog, import, schema, module, config, fixture) does not exist',
  ParseError: 'a YAML or JSON file cannot be parsed (syntax error, duplicate key, ...)',
  // Structure, from schemas/flow.schema.json.
  UnknownProperty: 'a property that the catalog format does not have',
  Unsupported: 'an Estuary feature that Sluice does not support (yet)',
  MissingProperty: 'a required property is missing',
  ConflictingProperties: 'properties that cannot be used together',
  WrongType: 'a value of the wrong JSON type',
  InvalidValue: 'a value outside what is allowed (enum, pattern, range, format)',
  InvalidName: 'a catalog name or prefix that does not match the naming rules',
  InvalidPointer: 'a malformed JSON pointer',
  InvalidDuration: 'a duration that cannot be parsed (`30s`, `5m`, `2h30m`, `1 day`)',
  // Names and references.
  DuplicateName: 'the same name is defined twice',
  NameCollision:
    'names (or projection fields) that differ only in case, or where one is a `/`-prefix of another',
  UnknownCollection: 'a reference to a collection that no catalog file defines',
  NotImported:
    'a reference to a collection defined in a file that this file does not import (a warning: Estuary no longer requires the import)',
  RemoteFetchFailed:
    'a remote import or schema that cannot be fetched (an error without a cached copy, else a warning)',
  UnknownConnector: 'a connector image that Sluice does not have',
  CaptureOfDerivation: 'a capture binding whose target is a derived collection (as Estuary, an error)',
  ConnectorKindMismatch:
    'a materialize-* connector used by a capture, or a source-* one by a materialization',
  InvalidConnectorConfig:
    "a connector config that does not match the connector's schema (shared/connectors/config.ts)",
  DuplicateResource:
    'two enabled bindings of one task that name the same endpoint resource (table, path, stream)',
  InvalidBindingResource: "a binding resource that does not match the connector's resource schema",
  FragmentSettingIgnored:
    'a `journals.fragments` setting that Sluice does not apply (codec, length, flush interval)',
  StorageMappingOverlap: 'two storage mapping prefixes where one contains the other',
  // Schemas.
  SchemaNotFound: 'a schema reference whose file, pointer or anchor does not exist',
  SchemaInvalid: 'a JSON schema that cannot be compiled',
  SchemaNotObject: 'a collection schema that does not require documents to be objects',
  UnknownKeyword:
    'a schema keyword that misspells a known one (`maxLenght`), so it constrains nothing (a warning)',
  InferredSchemaStandIn:
    'a read schema referencing `flow://inferred-schema`, which the write schema stands for',
  // Keys, projections, reductions.
  KeyEmpty: 'a collection key with no pointers',
  KeyNotFound: 'a key location that the schema does not allow to exist',
  KeyNotRequired: 'a key location that is not provably present in every document',
  KeyWrongType: 'a key location that is not of type string, integer or boolean (only)',
  KeyHasReduce: 'a key location that carries a reduce annotation other than lastWriteWins',
  SetInvalidProperty:
    'a property other than add, intersect and remove under a location with the set strategy',
  InvalidDefaultValue: 'a `default` value that its own schema rejects',
  ImpossibleMustExist: 'a location every document must have whose schema admits no value',
  PartitionHasReduce:
    'a logical partition location that carries a reduce annotation other than lastWriteWins',
  ReduceWrongType: 'a reduce strategy that does not fit the types at its location',
  ReduceUnreachable: 'a reduce annotation under a parent whose strategy does not descend into it',
  FieldNotFound: 'a materialization `require` or `exclude` field that is not a projection of the collection',
  FieldUnsatisfiable: 'a materialization field that is both required and excluded',
  ProjectionNotFound: 'a projection location that the schema does not allow to exist, or does not declare',
  ProjectionRemapsCanonicalField:
    'a projection whose field is the canonical name of another location (`customer` for `/customer`)',
  PartitionNotRequired: 'a logical partition location that is not provably present',
  PartitionWrongType: 'a logical partition location that is not of type string, integer or boolean',
  NotPartition: 'a partition selector field that is not a logical partition of the collection',
  // Derivations.
  DuplicateTransform: 'two transforms of one derivation with the same name',
  ShuffleKeyNotFound:
    'a shuffle key location that the source schema does not allow to exist, or does not declare',
  ShuffleKeyEmpty: 'a transform `shuffle: {key: []}` with no locations',
  ShuffleKeyWrongType:
    'a shuffle key location that is not of one type: string, integer, number or boolean (null allowed)',
  ShuffleKeyMismatch: 'transforms of one derivation that shuffle on keys of different lengths or types',
  ShuffleOneShard:
    "a shuffle key sharing no location with its source collection's key: to keep each shuffle key in order, the source's documents all go to one shard",
  ModuleInvalid: 'a TypeScript module without an exported `class Derivation`',
  MissingMethod: "a transform without a method on the module's Derivation class",
  UnusedMethod: 'a Derivation method that no transform uses',
  ModuleUnresolved:
    'a TypeScript module that does not bundle: an import that does not resolve, a syntax error',
  ModuleTypeError:
    'a TypeScript module that does not type-check (strict TypeScript, as Deno checks it for Estuary; `sluice check` only)',
  ImportMapIgnored:
    'a `deno.json` import-map entry that Sluice cannot honour (an `npm:` or `jsr:` specifier)',
  SqlInvalid: 'a SQLite migration or lambda that does not apply or prepare',
  ParamNotFound: 'a SQLite lambda `$parameter` that names no location of the source collection',
  LambdaIgnored: 'a transform `lambda` of a TypeScript derivation, which its module implements instead',
  ConnectorSettingIgnored: 'a connector setting Sluice accepts but does not apply (it would skip records)',
  ShardSettingIgnored:
    'a `shards` setting other than `disable` and `logLevel`, which has no equivalent on Lambda',
  ControlPlaneIgnored:
    "an Estuary control-plane property (`autoDiscover`, `sourceCapture`, `onIncompatibleSchemaChange`, `expectPubId`, a binding's `priority`), which changes nothing a task does",
  ReadDelayTestOnly:
    'a transform `readDelay`, applied by `sluice test` but not yet by the local stack or AWS',
  // Tests.
  IngestDocumentInvalid:
    "a test ingest document that does not validate against the collection's write schema",
  TestVerifyOrder: "a test verify step whose documents are not in the collection's key order",
} as const;

export type DiagnosticCode = keyof typeof DIAGNOSTIC_CODES;

/**
 * Warnings about how the catalog runs deployed (shards, throughput), which `sluice test` leaves out:
 * its engine has no shards, and a test run that warns on every save of a valid catalog is noise.
 */
export const DEPLOYMENT_WARNINGS: ReadonlySet<DiagnosticCode> = new Set<DiagnosticCode>(['ShuffleOneShard']);

export interface Diagnostic {
  /** Stable code, one of DIAGNOSTIC_CODES (e.g. 'UnknownProperty', 'KeyNotRequired'). */
  code: DiagnosticCode;
  severity: 'error' | 'warning';
  /** What was found, and what is allowed. */
  message: string;
  /** Absolute path of the file the problem is in. */
  file: string;
  /** 1-based line and column. */
  line: number;
  col: number;
  /** JSON pointer of the offending location inside `file`. */
  pointer: string;
  /** E.g. "did you mean `key`?" */
  hint?: string;
}

export function hasErrors(ds: readonly Diagnostic[]): boolean {
  return ds.some((d) => d.severity === 'error');
}

/** `file:line:col: CODE: message (at /json/pointer) hint`; warnings read `file:line:col: warning: CODE: ...`. */
export function formatDiagnostic(d: Diagnostic, cwd: string = process.cwd()): string {
  const file = relative(cwd, d.file) || d.file;
  const severity = d.severity === 'warning' ? 'warning: ' : '';
  const at = d.pointer === '' ? '' : ` (at ${d.pointer})`;
  const hint = d.hint ? ` ${d.hint}` : '';
  return `${file}:${d.line}:${d.col}: ${severity}${d.code}: ${d.message}${at}${hint}`;
}

export function formatDiagnostics(ds: readonly Diagnostic[], cwd?: string): string {
  return ds.map((d) => formatDiagnostic(d, cwd)).join('\n');
}

/** Diagnostics in reading order: by file, line, column, then code. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.col - b.col ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}

/**
 * Edit distance: Levenshtein (insertions, deletions, substitutions) where swapping two adjacent
 * characters also counts as one edit (`kye` → `key`), over UTF-16 code units.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1), prev[j] + 1, cur[j - 1] + 1);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, before[j - 2] + 1);
      cur.push(d);
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate closest to `found`, when it is close enough to be what the user meant:
 * equal ignoring case, or within an edit distance of about a third of the longer string's length
 * (at least 1, at most 4). Ties go to the earlier candidate. Returns the candidate itself.
 */
export function didYouMean(found: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = found.toLowerCase();
  for (const candidate of candidates) {
    if (candidate === found) continue;
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    const limit = Math.min(4, Math.max(1, Math.floor(Math.max(found.length, candidate.length) / 3)));
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `did you mean \`x\`?` for the closest candidate, or undefined. */
export function didYouMeanHint(found: string, candidates: Iterable<string>): string | undefined {
  const match = didYouMean(found, candidates);
  return match === undefined ? undefined : `did you mean \`${match}\`?`;
}
