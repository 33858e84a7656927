/**
 * Checks that need to understand the collection schemas: keys, projections and logical
 * partitions, reduce annotations, shuffle keys and test ingest documents.
 */
import { compareJson } from '../json/compare.ts';
import { inexactNumberMessage, isRoundedIntegerLiteral, mayBeRounded } from '../json/exact-integers.ts';
import { escapeToken, getAt, parsePointer } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { findRefCycles, formatCycle } from '../schema/ref-cycles.ts';
import { type DiagnosticCode, didYouMeanHint } from './diagnostics.ts';
import type { CollectionInfo, FieldNames, IngestDocuments, SelectorValues } from './load.ts';
import type { SourceLocation, TransformSpec } from './model.ts';
import { locate, type Report, type Where } from './report.ts';
import type { Resources } from './resources.ts';
import type { LocationShape, ReduceAnnotation, SchemaIndex, SchemaIndexFactory } from './schema-index.ts';
import { impossibleRequired, inspectSchemaDocument } from './schema-inspections.ts';

const KEY_TYPES = new Set(['string', 'integer', 'boolean']);
/** Estuary's `is_keyable_type` (crates/json types.rs): one of these, optionally null. */
const SHUFFLE_TYPES = new Set(['string', 'integer', 'number', 'boolean']);
/** Types each strategy can reduce (`null` is always tolerated: conditional schemas often allow it). */
const STRATEGY_TYPES: Record<string, string[]> = {
  sum: ['integer', 'number'],
  bigSum: ['integer', 'number', 'string'],
  merge: ['object', 'array'],
  set: ['object'],
  append: ['array'],
};
/** Strategies that reduce a value by descending into its children. */
const DESCENDING = new Set(['merge', 'set', 'minimize', 'maximize']);
const SET_TERMS = ['add', 'intersect', 'remove'];

export function checkSchemas(
  report: Report,
  resources: Resources,
  factory: SchemaIndexFactory,
  collections: Map<string, CollectionInfo>,
  ingests: IngestDocuments[],
  selectors: SelectorValues[] = [],
  fieldNames: FieldNames[] = [],
): void {
  let built: SchemaIndex | undefined;
  /** Schema documents left out of the index, already reported. */
  const excluded = new Set<string>();
  /** The index of all schema documents; a document that cannot be registered is reported and left out. */
  const buildIndex = (): SchemaIndex => {
    try {
      return factory(resources.schemas);
    } catch {
      const usable: Record<string, Json> = {};
      for (const [uri, doc] of Object.entries(resources.schemas)) {
        try {
          factory({ [uri]: doc });
          usable[uri] = doc;
        } catch (err) {
          excluded.add(uri);
          const at = errorLocation(resources, err) ?? resources.origins.get(uri);
          if (at) report.error('SchemaInvalid', at, errorDetail(err));
        }
      }
      return factory(usable);
    }
  };
  // A `$ref` cycle that never descends would make every walker below recurse without end: report it
  // where its schema is written, naming the cycle, and leave that schema document out.
  for (const cycle of findRefCycles(resources.schemas)) {
    const key = cycle[0].key;
    if (excluded.has(key)) continue;
    excluded.add(key);
    const at = resources.origins.get(key);
    if (at)
      report.error(
        'SchemaInvalid',
        at,
        `\`$ref\` cycle: ${formatCycle(cycle)} (it refers back to itself without descending into a property or item, so it never ends)`,
      );
  }
  const broken = new Set<string>();
  /** Schema documents with a `pattern` that is no regular expression, reported where it is written. */
  const badPatterns = new Set<string>();
  /** Runs `fn`, turning a schema compile failure into one SchemaInvalid per schema. */
  const guard = <T>(uri: string, at: Where | undefined, fn: (index: SchemaIndex) => T): T | undefined => {
    if (broken.has(uri)) return undefined;
    try {
      built ??= buildIndex();
      if (excluded.has(uri.split('#')[0])) return undefined;
      return fn(built);
    } catch (err) {
      broken.add(uri);
      // Its bad `pattern` (what ajv and the shape walker trip on) is reported where it is written.
      if (badPatterns.has(uri.split('#')[0])) return undefined;
      // A `$ref` that the loader could not resolve is reported already, where it was written.
      const unresolved =
        (err as { code?: unknown }).code === 'UnresolvedRef' || /resolve reference/.test(errorDetail(err));
      if (resources.unresolved.size > 0 && unresolved) return undefined;
      const where = errorLocation(resources, err) ?? at;
      // A reduce annotation's error says what is wrong with it; "cannot be compiled" would add nothing.
      const prefix =
        (err as { code?: unknown }).code === 'InvalidReduceAnnotation'
          ? ''
          : 'the schema cannot be compiled: ';
      if (where) report.error('SchemaInvalid', where, `${prefix}${errorDetail(err)}`);
      return undefined;
    }
  };

  /** Declared locations of a schema, once per schema (projections and materialization fields both ask). */
  const locations = new Map<string, { pointers: string[]; complete: boolean }>();
  const locationsOf = (index: SchemaIndex, uri: string): { pointers: string[]; complete: boolean } => {
    const known = locations.get(uri);
    if (known) return known;
    const found = index.locations(uri);
    locations.set(uri, found);
    return found;
  };

  // ReduceUnreachable per annotation and parent, with the collections it applies to: a schema file
  // shared by collections whose roots reduce differently is unreachable for some of them only, so the
  // warning names them, once per location.
  const unreachable = new Map<string, Unreachable>();

  for (const docUri of Object.keys(resources.schemas)) {
    guard(docUri, resources.origins.get(docUri), (index) => {
      if (inspectSchemaDocument(report, resources, index, docUri)) badPatterns.add(docUri);
    });
  }

  for (const info of collections.values()) {
    if (info.entity.tainted) continue;
    const { spec, entity } = info;
    const at = (p: string, key = false): Where => ({ doc: entity.doc, pointer: entity.pointer + p, key });
    if (spec.key.length === 0) {
      report.error('KeyEmpty', at('/key'), 'a collection key needs at least one JSON pointer (`key: [/id]`)');
    }

    const roles: { role: string; uri: string; where?: Where }[] = [];
    if (spec.writeSchema) roles.push({ role: 'write schema', uri: spec.writeSchema, where: info.writeAt });
    if (spec.readSchema && spec.readSchema !== spec.writeSchema) {
      roles.push({ role: 'read schema', uri: spec.readSchema, where: info.readAt });
    }
    const single = roles.length === 1 ? 'schema' : undefined;
    for (const { role: r, uri, where } of roles) {
      const role = single ?? r;
      guard(uri, where, (index) => {
        const root = index.shapeAt(uri, '');
        const notObject = [...root.types].filter((t) => t !== 'object');
        if (notObject.length > 0 && where) {
          report.error(
            'SchemaNotObject',
            where,
            `the ${role} of \`${spec.name}\` must only allow objects (\`type: object\`); it also allows ${notObject.join(', ')}`,
          );
          // Estuary's crates/validation collection.rs stops here ("Squelch further errors"): keys and
          // projections of a schema that is not an object would only report the same problem again.
          return;
        }
        impossibleRequired(report, index, uri, role, (parent) => {
          const found = schemaNode(resources, uri, parent);
          const node = found?.node;
          const names = isObject(node) && Array.isArray(node.required) ? node.required : [];
          return {
            names: names.filter((n): n is string => typeof n === 'string'),
            at: (name) =>
              found && {
                doc: found.at.doc,
                pointer: `${found.at.pointer}/required/${names.indexOf(name)}`,
              },
          };
        });
        spec.key.forEach((ptr, i) => {
          checkScalar(
            report,
            'key',
            index.shapeAt(uri, ptr),
            ptr,
            role,
            at(`/key/${i}`),
            () => propertyNames(resources, uri, parentPointer(ptr)),
            (p) => index.shapeAt(uri, p),
          );
        });
        // Logical partitions are checked in both schemas (Estuary's collection.rs: "Partitioned
        // projections must also be key-able within the write schema"); other projections in the read one.
        if (r === 'write schema' && !single) {
          for (const [field, p] of Object.entries(spec.projections)) {
            if (!p.partition) continue;
            const where = at(`/projections/${escapeToken(field)}`);
            checkScalar(
              report,
              'partition',
              index.shapeAt(uri, p.location),
              p.location,
              role,
              where,
              undefined,
              (q) => index.shapeAt(uri, q),
            );
          }
        }
        if (r !== 'write schema' || single) {
          for (const [field, p] of Object.entries(spec.projections)) {
            const where = at(`/projections/${escapeToken(field)}`);
            const shape = index.shapeAt(uri, p.location);
            if (p.partition) {
              checkScalar(report, 'partition', shape, p.location, role, where, undefined, (q) =>
                index.shapeAt(uri, q),
              );
            } else if (shape.exists === 'cannot') {
              report.error(
                'ProjectionNotFound',
                where,
                `projection location \`${p.location}\` cannot exist in documents of the ${role}`,
              );
            } else if (shape.implicit && !p.location.startsWith('/_meta/')) {
              // Estuary's crates/validation schema.rs `walk_ptr`: `PtrIsImplicit`.
              undeclared(report, resources, uri)(
                'ProjectionNotFound',
                where,
                `projection location \`${p.location}\` is not declared by the ${role}; a projection must name a location the schema declares (in \`properties\`)`,
                didYouMeanHint(
                  lastToken(p.location),
                  propertyNames(resources, uri, parentPointer(p.location)),
                ),
              );
            }
          }
          if (Object.keys(spec.projections).length > 0)
            checkCanonicalFields(report, spec, locationsOf(index, uri).pointers, at);
        }
        const found = checkReductions(
          report,
          resources,
          index.reduceAnnotations(uri),
          uri,
          role,
          where,
          new Set(spec.key),
        );
        for (const u of found) {
          const loc = 'doc' in u.at ? locate(u.at) : u.at;
          const key = JSON.stringify([loc.file, loc.line, loc.col, loc.pointer, role, u.finding]);
          const seen = unreachable.get(key);
          if (seen) {
            if (!seen.collections.includes(spec.name)) seen.collections.push(spec.name);
          } else unreachable.set(key, { ...u, loc, role, collections: [spec.name] });
        }
      });
      // The validator every document of the collection meets, compiled now (and cached), so that what
      // only ajv's compiler finds (a `pattern` that is no regular expression) is reported by check, not
      // first by a test or `sluice combine` that uses the collection.
      guard(uri, where, (index) => index.compile(uri));
    }

    if (roles.length === 2) checkKeyReadWrite(report, guard, spec, at);
    if (spec.derive) checkShuffles(report, resources, guard, collections, spec.derive.transforms, at);
  }

  for (const u of unreachable.values()) {
    const names = u.collections.map((c) => `\`${c}\``);
    const of = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
    report.warning('ReduceUnreachable', u.loc, `${u.subject} in the ${u.role} of ${of} ${u.finding}`, u.hint);
  }

  // Estuary's crates/validation collection.rs `walk_selector`: `SelectorTypeMismatch`.
  for (const s of selectors) {
    const uri = collections.get(s.collection)?.spec.readSchema;
    if (!uri) continue;
    const shape = guard(uri, undefined, (index) => index.shapeAt(uri, s.location));
    if (!shape || shape.exists === 'cannot') continue;
    for (const { value, at } of s.values) {
      const type = typeOfJson(value);
      if (shape.types.has(type) || (type === 'integer' && shape.types.has('number'))) continue;
      report.error(
        'InvalidValue',
        at,
        `partition \`${s.field}\` of \`${s.collection}\` is ${[...shape.types].join(' or ')} (\`${s.location}\`), but the selector gives ${type} ${JSON.stringify(value)}`,
      );
    }
  }

  // Estuary's crates/validation materialization.rs `walk_materialization_fields`: `NoSuchProjection`.
  for (const use of fieldNames) {
    const info = collections.get(use.collection);
    if (!info || info.entity.tainted) continue;
    const uri = info.spec.readSchema;
    const declared = uri ? guard(uri, undefined, (index) => locationsOf(index, uri)) : undefined;
    if (!declared) continue;
    const fields = projectionFields(info.spec, declared.pointers);
    // A key field is stored by every materialization (Estuary: "selector excludes field, but connector
    // requires it"); Sluice's connectors refused it only when they started.
    const keyFields = new Set([
      ...info.spec.key.map((k) => k.slice(1)),
      ...Object.entries(info.spec.projections)
        .filter(([, p]) => info.spec.key.includes(p.location))
        .map(([f]) => f),
    ]);
    for (const { field, category, at } of use.fields) {
      if (category === 'exclude' && keyFields.has(field)) {
        report.error(
          'FieldUnsatisfiable',
          at,
          `excluded field \`${field}\` is a key of \`${use.collection}\` (${info.spec.key.join(', ')}): a materialization stores its key; remove it from \`exclude\``,
        );
        continue;
      }
      if (fields.includes(field)) continue;
      // A recursive schema's locations are listed only so deep: a deeper field may well exist.
      if (!declared.complete && field.split('/').length > 1) continue;
      undeclared(report, resources, uri as string)(
        'FieldNotFound',
        at,
        `${category === 'require' ? 'required' : 'excluded'} field \`${field}\` is not a projection of \`${use.collection}\`; its fields: ${showFields(fields)} (its projections, and each location its schema declares as the pointer without its leading \`/\`)`,
        didYouMeanHint(field, fields),
      );
    }
  }

  for (const ingest of ingests) {
    const uri = collections.get(ingest.collection)?.spec.writeSchema;
    if (!uri) continue;
    ingest.documents.forEach(({ doc, at }, i) => {
      if (!isObject(doc)) return; // reported by the loader
      // YAML's .inf and .nan, and a JSON number too large for a double (1e400), are no JSON values
      // (and a schema's `number` or `integer` would let them through).
      const nonFinite = nonFiniteNumber(doc, '');
      if (nonFinite) {
        report.error(
          'IngestDocumentInvalid',
          { doc: at.doc, pointer: at.pointer + nonFinite.pointer },
          `${stepOf(ingest)}document ${i} of the ingest into \`${ingest.collection}\`: ${nonFinite.pointer} is ${nonFinite.value}, which is not a JSON number; write a finite number (or a string with \`format: number\`)`,
        );
        return;
      }
      const rounded = roundedNumber(doc, '', (p) => at.doc.scalarSource(at.pointer + p));
      if (rounded) {
        report.error(
          'IngestDocumentInvalid',
          { doc: at.doc, pointer: at.pointer + rounded.pointer },
          `${stepOf(ingest)}document ${i} of the ingest into \`${ingest.collection}\`: ${rounded.pointer}: ${inexactNumberMessage(rounded.literal, true)}`,
        );
        return;
      }
      // Each problem once: a oneOf's branches often fail alike (both require the same property).
      const errors = guard(uri, undefined, (index) => index.validate(uri, doc));
      if (!errors || errors.length === 0) return;
      report.error(
        'IngestDocumentInvalid',
        at,
        `${stepOf(ingest)}document ${i} of the ingest into \`${ingest.collection}\` does not validate against its write schema: ${[...new Set(errors)].join('; ')}`,
      );
    });
  }
}

/** `test acme/tests/x step 0: ` (the steps of a test are numbered from 0, as Estuary numbers them). */
function stepOf(ingest: IngestDocuments): string {
  return ingest.test === undefined || ingest.step === undefined
    ? ''
    : `test ${ingest.test} step ${ingest.step}: `;
}

/** The first number in `value` that `test` picks (its pointer and what `test` returns), depth first. */
function firstNumber<T>(
  value: Json,
  pointer: string,
  test: (n: number, pointer: string) => T | undefined,
): (T & { pointer: string }) | undefined {
  if (typeof value === 'number') {
    const found = test(value, pointer);
    return found === undefined ? undefined : { ...found, pointer };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = firstNumber(value[i], `${pointer}/${i}`, test);
      if (found) return found;
    }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const found = firstNumber(v, `${pointer}/${escapeToken(k)}`, test);
      if (found) return found;
    }
  }
  return undefined;
}

/** The first number in `value` that JSON cannot hold (Infinity, NaN), with its pointer. */
function nonFiniteNumber(value: Json, pointer: string): { pointer: string; value: number } | undefined {
  return firstNumber(value, pointer, (n) => (Number.isFinite(n) ? undefined : { value: n }));
}

/** The first integer in `value` that its source text (`sourceOf` a pointer) writes with more digits than a double holds. */
function roundedNumber(
  value: Json,
  pointer: string,
  sourceOf: (pointer: string) => string | undefined,
): { pointer: string; literal: string } | undefined {
  return firstNumber(value, pointer, (n, at) => {
    if (!mayBeRounded(n)) return undefined;
    const literal = sourceOf(at)?.trim();
    return literal !== undefined && isRoundedIntegerLiteral(literal) ? { literal } : undefined;
  });
}

type Guard = <T>(uri: string, at: Where | undefined, fn: (index: SchemaIndex) => T) => T | undefined;

/**
 * A collection key's locations may differ between the write and read schemas only in whether they
 * may be null (Estuary's crates/validation schema.rs `walk_ptr`: `KeyReadWriteTypesDiffer`).
 */
function checkKeyReadWrite(
  report: Report,
  guard: Guard,
  spec: CollectionInfo['spec'],
  at: (p: string, key?: boolean) => Where,
): void {
  const typesAt = (uri: string, ptr: string) =>
    guard(uri, undefined, (index) => {
      const shape = index.shapeAt(uri, ptr);
      return shape.exists === 'cannot' ? undefined : [...shape.types].filter((t) => t !== 'null').sort();
    });
  spec.key.forEach((ptr, i) => {
    const write = typesAt(spec.writeSchema, ptr);
    const read = typesAt(spec.readSchema, ptr);
    if (!write || !read || write.join() === read.join()) return;
    report.error(
      'KeyWrongType',
      at(`/key/${i}`),
      `key \`${ptr}\` is ${write.join(' or ')} in the write schema but ${read.join(' or ')} in the read schema; a key location may differ between them only in allowing null`,
    );
  });
}

/**
 * Shuffle keys of a derivation's transforms, as Estuary's crates/validation derivation.rs
 * (`walk_derive_transform`, `walk_derivation`) and schema.rs (`walk_ptr` with `ptr_is_key`) check them:
 * a key is not empty; each location is declared by the source's schema, may exist, is of one scalar
 * type (string, integer, number or boolean; null allowed: `is_keyable_type`) and is not reduced; and every transform that
 * shuffles by key does so on the same number and types of locations (`ShuffleKeyImplicitMismatch`),
 * since one shard owns one range of shuffled keys across all transforms.
 */
function checkShuffles(
  report: Report,
  resources: Resources,
  guard: Guard,
  collections: Map<string, CollectionInfo>,
  transforms: TransformSpec[],
  at: (p: string, key?: boolean) => Where,
): void {
  let first: { name: string; index: number; types: string[] } | undefined;
  transforms.forEach((t, i) => {
    if (t.shuffle === 'any' || t.disable) return;
    const keyAt = at(`/derive/transforms/${i}/shuffle/key`);
    if (t.shuffle.key.length === 0) {
      report.error(
        'ShuffleKeyEmpty',
        keyAt,
        `transform \`${t.name}\` shuffles by an empty key; list at least one location (\`key: [/ptr]\`), or use \`shuffle: any\``,
      );
      return;
    }
    const sourceName = t.source.name;
    const source = collections.get(sourceName)?.spec.readSchema;
    if (!source) return;
    const types = guard(source, undefined, (index) => {
      if (t.shuffle === 'any') return undefined;
      let ok = true;
      const out = t.shuffle.key.map((ptr, j) => {
        const where = at(`/derive/transforms/${i}/shuffle/key/${j}`);
        let shape: LocationShape;
        try {
          shape = index.shapeAt(source, ptr);
        } catch {
          ok = false; // a malformed pointer, reported where it was written
          return 'invalid';
        }
        const hint = () =>
          didYouMeanHint(lastToken(ptr), propertyNames(resources, source, parentPointer(ptr)));
        if (shape.exists === 'cannot') {
          ok = false;
          report.error(
            'ShuffleKeyNotFound',
            where,
            `shuffle key \`${ptr}\` cannot exist in documents of \`${sourceName}\``,
            hint(),
          );
          return 'invalid';
        }
        if (shape.implicit) {
          ok = false; // no types to compare across transforms (an error, or a warning: see undeclared)
          undeclared(report, resources, source)(
            'ShuffleKeyNotFound',
            where,
            `shuffle key \`${ptr}\` is not declared by the schema of \`${sourceName}\`; a shuffle key must be a location that the schema declares`,
            hint(),
          );
          return 'invalid';
        }
        const scalar = [...shape.types].filter((x) => x !== 'null');
        if (scalar.length !== 1 || !SHUFFLE_TYPES.has(scalar[0])) {
          ok = false;
          report.error(
            'ShuffleKeyWrongType',
            where,
            `shuffle key \`${ptr}\` may be ${[...shape.types].join(', ')} in documents of \`${sourceName}\`; a shuffle key location must be of one type: string, integer, number or boolean (or null)`,
          );
          return 'invalid';
        }
        if (shape.reduce && shape.reduce.strategy !== 'lastWriteWins') {
          ok = false;
          report.error(
            'KeyHasReduce',
            where,
            `shuffle key \`${ptr}\` has a \`${shape.reduce.strategy}\` reduce annotation in the schema of \`${sourceName}\`; keyed locations cannot be reduced`,
          );
        }
        return scalar[0];
      });
      return ok ? out : undefined;
    });
    if (!types) return;
    if (!first) {
      first = { name: t.name, index: i, types };
      return;
    }
    if (first.types.join() === types.join()) return;
    report.error(
      'ShuffleKeyMismatch',
      keyAt,
      `transform \`${t.name}\` shuffles on a key of types [${types.join(', ')}], but transform \`${first.name}\` (transforms/${first.index}) on [${first.types.join(', ')}]; every transform of a derivation that shuffles by key must use the same number and types of locations`,
    );
  });
}

/**
 * A projection may not give a field that is the canonical name of another location: the pointer
 * without its leading `/` for a collection key or a location the schema declares, `flow_document`
 * for the document root, `flow_published_at` for `/_meta/uuid` (Estuary's crates/validation
 * collection.rs: `ProjectionRemapsCanonicalField`).
 */
function checkCanonicalFields(
  report: Report,
  spec: CollectionInfo['spec'],
  declared: string[],
  at: (p: string, key?: boolean) => Where,
): void {
  const canonical = new Map<string, string>([
    ['flow_document', ''],
    ['flow_published_at', '/_meta/uuid'],
  ]);
  for (const ptr of [...spec.key, ...declared]) {
    const field = ptr.slice(1);
    if (field !== 'flow_document' && !canonical.has(field)) canonical.set(field, ptr);
  }
  for (const [field, p] of Object.entries(spec.projections)) {
    const location = canonical.get(field);
    if (location === undefined || location === p.location) continue;
    if (field === 'flow_published_at' && p.location === '/_meta/uuid/date-time') continue;
    report.error(
      'ProjectionRemapsCanonicalField',
      at(`/projections/${escapeToken(field)}`),
      `projection \`${field}\` is the canonical field of location \`${location}\` and cannot be re-mapped to \`${p.location}\`; give this projection another field name`,
    );
  }
}

/**
 * The fields of a collection, as Estuary builds its projections (crates/validation collection.rs):
 * the explicit projections, the canonical field of each key location and each declared location (the
 * pointer without its leading `/`), `flow_document` and `flow_published_at`.
 */
function projectionFields(spec: CollectionInfo['spec'], declared: string[]): string[] {
  const fields = new Set([...Object.keys(spec.projections), 'flow_document', 'flow_published_at']);
  for (const ptr of [...spec.key, ...declared]) fields.add(ptr.slice(1));
  return [...fields];
}

/**
 * The documents of a verify step must be listed in the collection's key order, since the runner
 * compares them index by index with the key-ordered actual documents (Estuary's
 * crates/validation test_step.rs: `TestVerifyOrder`, with a missing key location read as null).
 * One error per step, at the first document that sorts before its predecessor.
 */
export function checkVerifyOrder(
  report: Report,
  collection: string,
  key: readonly string[],
  documents: readonly { doc: Json; at: Where }[],
): void {
  let tokens: string[][];
  try {
    tokens = key.map((p) => parsePointer(p));
  } catch {
    return; // an invalid key pointer, reported where it was written
  }
  const keyOf = (doc: Json): Json[] => tokens.map((t) => getAt(doc, t) ?? null);
  for (let i = 1; i < documents.length; i++) {
    const prev = keyOf(documents[i - 1].doc);
    const cur = keyOf(documents[i].doc);
    if (compareJson(prev, cur) <= 0) continue;
    report.error(
      'TestVerifyOrder',
      documents[i].at,
      `documents to verify are not in collection key order: document ${i} (key ${JSON.stringify(cur)}) sorts before document ${i - 1} (key ${JSON.stringify(prev)}) by the key [${key.join(', ')}] of \`${collection}\``,
    );
    return;
  }
}

/** Codes and words for the two kinds of locations that must hold one scalar in every document. */
const SCALAR = {
  key: {
    notFound: 'KeyNotFound',
    notRequired: 'KeyNotRequired',
    wrongType: 'KeyWrongType',
    hasReduce: 'KeyHasReduce',
    what: 'key',
    plural: 'keys',
  },
  partition: {
    notFound: 'ProjectionNotFound',
    notRequired: 'PartitionNotRequired',
    wrongType: 'PartitionWrongType',
    hasReduce: 'PartitionHasReduce',
    what: 'logical partition',
    plural: 'partitions',
  },
} as const;

/** A key or logical partition location: present in every document, and a string, integer or boolean. */
/**
 * How to report a location a schema leaves undeclared: an error, except in a read schema where the write
 * schema stands for Estuary's `flow://inferred-schema` (resources.ts WRITE_STANDINS): the schema Estuary
 * infers from the documents may well declare it, so there it is a warning that says so.
 */
function undeclared(
  report: Report,
  resources: Resources,
  uri: string,
): (code: DiagnosticCode, at: Where, message: string, hint?: string) => void {
  if (!resources.inferredStandIns.has(uri))
    return (code, at, message, hint) => report.error(code, at, message, hint);
  return (code, at, message, hint) =>
    report.warning(
      code,
      at,
      `${message} (here the write schema stands for \`flow://inferred-schema\`, which Estuary would infer from the documents and might declare it)`,
      hint,
    );
}

function checkScalar(
  report: Report,
  kind: keyof typeof SCALAR,
  shape: LocationShape,
  ptr: string,
  role: string,
  at: Where,
  /** Property names declared beside the location's last token: a near miss gets a did-you-mean. */
  siblings: () => string[] = () => [],
  /** Shapes of the location's ancestors, for the hint: which one may be missing, and how to require it. */
  shapeOf?: (ptr: string) => LocationShape,
): void {
  const c = SCALAR[kind];
  if (shape.exists === 'cannot') {
    report.error(c.notFound, at, `${c.what} \`${ptr}\` cannot exist in documents of the ${role}`);
    return;
  }
  // A location the schema says nothing about: one error that says so, not one per property.
  const undeclared = ['null', 'boolean', 'string', 'array', 'object'].every((t) => shape.types.has(t));
  if (shape.exists === 'may') {
    report.error(
      c.notRequired,
      at,
      undeclared
        ? `${c.what} \`${ptr}\` is not declared by the ${role}: every document must have it, of type string, integer or boolean`
        : `${c.what} \`${ptr}\` is not required by the ${role}: every document must have it`,
      (undeclared ? didYouMeanHint(lastToken(ptr), siblings()) : undefined) ?? presenceHint(ptr, shapeOf),
    );
    if (undeclared) return;
  }
  const bad = [...shape.types].filter((t) => !KEY_TYPES.has(t));
  if (bad.length > 0) {
    report.error(
      c.wrongType,
      at,
      `${c.what} \`${ptr}\` may be ${bad.join(', ')} in the ${role}; ${c.plural} must be of type string, integer or boolean`,
    );
  } else if (shape.types.size > 1) {
    // Estuary's `is_keyable_type` (crates/validation schema.rs `walk_ptr`: `KeyWrongType`): one type.
    report.error(
      c.wrongType,
      at,
      `${c.what} \`${ptr}\` may be ${[...shape.types].join(' or ')} in the ${role}; ${c.plural} must be of one type: string, integer or boolean`,
    );
  }
  // Estuary's schema.rs `walk_ptr` (`KeyHasReduction`), for keys and logical partitions alike: a
  // `lastWriteWins` annotation changes nothing at a location every document of a key holds equal.
  if (shape.reduce && shape.reduce.strategy !== 'lastWriteWins') {
    report.error(
      c.hasReduce,
      at,
      `${c.what} \`${ptr}\` has a \`${shape.reduce.strategy}\` reduce annotation in the ${role}; ${c.plural} cannot be reduced (only \`lastWriteWins\` is allowed)`,
    );
  }
}

/** A reduce annotation no reduction reaches, in one collection's schema (reported by checkSchemas). */
interface UnreachableAt {
  at: Where | SourceLocation;
  /** "`sum` at `/n`" */
  subject: string;
  /** "never applies: …" */
  finding: string;
  hint: string;
}

interface Unreachable extends UnreachableAt {
  loc: SourceLocation;
  role: string;
  collections: string[];
}

/** Reports wrong strategy types; returns the unreachable annotations, which checkSchemas groups by location. */
function checkReductions(
  report: Report,
  resources: Resources,
  annotations: ReduceAnnotation[],
  uri: string,
  role: string,
  where: Where | undefined,
  keys: Set<string>,
): UnreachableAt[] {
  const unreachable: UnreachableAt[] = [];
  const byPointer = new Map<string, Set<string>>();
  /** Locations whose value is reduced by descending into it. */
  const descends = new Set<string>();
  for (const a of annotations) {
    const set = byPointer.get(a.pointer) ?? new Set();
    set.add(a.strategy);
    byPointer.set(a.pointer, set);
    if (DESCENDING.has(a.strategy)) descends.add(a.pointer);
    // A set's `add`/`intersect`/`remove` terms belong to it: their members are reduced by the set,
    // whatever the terms' own annotation (Estuary's docs give them `lastWriteWins`). The terms may be
    // declared one by one or by `additionalProperties` (`*`).
    if (a.strategy === 'set') for (const term of [...SET_TERMS, '*']) descends.add(`${a.pointer}/${term}`);
  }
  for (const a of annotations) {
    const at =
      (a.schemaUri && annotationLocation(resources, a.schemaUri)) ||
      schemaLocation(resources, uri, a.pointer) ||
      where;
    if (!at) continue;
    const loc = a.pointer === '' ? 'the document root' : `\`${a.pointer}\``;
    if (keys.has(a.pointer)) continue; // reported as KeyHasReduce
    const allowed = STRATEGY_TYPES[a.strategy];
    if (allowed) {
      const numericString = a.strategy === 'sum' && (a.format === 'integer' || a.format === 'number');
      const bad = [...a.types].filter(
        (t) => t !== 'null' && !allowed.includes(t) && !(t === 'string' && numericString),
      );
      if (bad.length > 0) {
        const needs =
          a.strategy === 'sum'
            ? 'numbers (or strings with `format: integer` or `format: number`)'
            : allowed.join(' or ');
        report.error(
          'ReduceWrongType',
          at,
          `\`${a.strategy}\` at ${loc} in the ${role} reduces ${needs}, but the location may be ${bad.join(', ')}`,
        );
      }
    }
    if (a.pointer === '') continue;
    const tokens = parsePointer(a.pointer);
    for (let n = 0; n < tokens.length; n++) {
      const ancestor = n === 0 ? '' : `/${tokens.slice(0, n).map(escapeToken).join('/')}`;
      if (descends.has(ancestor)) continue;
      const strategies = byPointer.get(ancestor);
      const parent = ancestor === '' ? 'the document root' : `\`${ancestor}\``;
      const has = strategies ? `\`${[...strategies].join('`/`')}\`` : 'no reduce annotation (lastWriteWins)';
      unreachable.push({
        at,
        subject: `\`${a.strategy}\` at ${loc}`,
        finding: `never applies: ${parent} has ${has}, which replaces the whole value instead of reducing inside it`,
        hint: `add \`reduce: {strategy: merge}\` at ${parent}`,
      });
      break;
    }
  }
  return unreachable;
}

/**
 * Best-effort: the subschema of `uri` (a document URI with an optional pointer fragment) that
 * describes the document location `docPointer`, following `properties`, `items` and
 * `additionalProperties` (not `$ref`s), and where it was written.
 */
function schemaNode(
  resources: Resources,
  uri: string,
  docPointer: string,
): { at: Where; node: Json | undefined } | undefined {
  const found = schemaAt(resources, uri);
  if (!found) return undefined;
  let { pointer, node } = found;
  for (const token of parsePointer(docPointer)) {
    if (!isObject(node)) break;
    const props = node.properties;
    let next: [string, Json] | undefined;
    if (isObject(props) && props[token] !== undefined)
      next = [`/properties/${escapeToken(token)}`, props[token]];
    else if (/^(\d+|-|\*)$/.test(token) && isObject(node.items)) next = ['/items', node.items];
    else if (isObject(node.additionalProperties)) next = ['/additionalProperties', node.additionalProperties];
    if (!next) break;
    pointer += next[0];
    node = next[1];
  }
  return { at: { doc: found.origin.doc, pointer: found.origin.pointer + pointer }, node };
}

/**
 * The loaded schema document a URI (`<document URI>#/json/pointer`; other fragments count as the
 * root) points into: where the document was written, the pointer inside it, and the subschema.
 */
function schemaAt(
  resources: Resources,
  uri: string,
): { origin: Where; pointer: string; node: Json | undefined } | undefined {
  const hash = uri.indexOf('#');
  const docUri = hash < 0 ? uri : uri.slice(0, hash);
  const origin = resources.origins.get(docUri);
  if (!origin) return undefined;
  let pointer = hash < 0 ? '' : decodeURIComponent(uri.slice(hash + 1));
  if (!pointer.startsWith('/')) pointer = '';
  let node: Json | undefined;
  try {
    node = getAt(resources.schemas[docUri], pointer);
  } catch {
    node = undefined; // a malformed pointer: reported where it was written
  }
  return { origin, pointer, node };
}

/** The subschema a schema error names (its `uri`, `<document URI>#/pointer`), where it was written. */
function errorLocation(resources: Resources, err: unknown): Where | undefined {
  const uri = (err as { uri?: unknown }).uri;
  if (typeof uri !== 'string') return undefined;
  const found = schemaAt(resources, uri);
  return found && { doc: found.origin.doc, pointer: found.origin.pointer + found.pointer };
}

/** A schema error's message without the URI it starts with (the diagnostic's location says where). */
function errorDetail(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const uri = (err as { uri?: unknown }).uri;
  return typeof uri === 'string' && message.startsWith(`${uri}: `) ? message.slice(uri.length + 2) : message;
}

/** Where the subschema `schemaUri` (`<document URI>#/pointer`) wrote its `reduce` keyword. */
function annotationLocation(resources: Resources, schemaUri: string): Where | undefined {
  const found = schemaAt(resources, schemaUri);
  if (!found) return undefined;
  const reduce = isObject(found.node) && found.node.reduce !== undefined ? '/reduce' : '';
  return { doc: found.origin.doc, pointer: found.origin.pointer + found.pointer + reduce };
}

/** Where the schema describes `docPointer`: at its `reduce` keyword when it has one. */
function schemaLocation(resources: Resources, uri: string, docPointer: string): Where | undefined {
  const found = schemaNode(resources, uri, docPointer);
  if (!found) return undefined;
  const { at, node } = found;
  return isObject(node) && node.reduce !== undefined ? { doc: at.doc, pointer: `${at.pointer}/reduce` } : at;
}

/** Property names the schema declares at a document location (for "did you mean"). */
function propertyNames(resources: Resources, uri: string, docPointer: string): string[] {
  const node = schemaNode(resources, uri, docPointer)?.node;
  return isObject(node) && isObject(node.properties) ? Object.keys(node.properties) : [];
}

/** Up to 20 field names, quoted. */
function showFields(fields: string[]): string {
  const shown = fields.slice(0, 20).map((f) => `\`${f}\``);
  return fields.length > 20 ? `${shown.join(', ')}, … (${fields.length - 20} more)` : shown.join(', ');
}

/** The JSON type name of a value (`integer` for whole numbers). */
function typeOfJson(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/**
 * How to make a location present in every document, said of the shallowest location on its way that
 * may be missing (`/_meta/file` of a required `file` under an optional `_meta`: require `_meta`):
 * `required` for a property; `minItems` for an item of a location that can only be an array (Estuary's
 * locate_token: an item within minItems must exist).
 */
function presenceHint(ptr: string, shapeOf?: (ptr: string) => LocationShape): string {
  const tokens = parsePointer(ptr);
  let at = tokens.length - 1;
  if (shapeOf) {
    for (let i = 0; i < tokens.length - 1; i++) {
      const prefix = tokens.slice(0, i + 1).map(escapeToken);
      if (shapeOf(`/${prefix.join('/')}`).exists !== 'must') {
        at = i;
        break;
      }
    }
  }
  const token = tokens[at] ?? '';
  const parent = tokens.slice(0, at).map(escapeToken);
  const parentPtr = parent.length > 0 ? `/${parent.join('/')}` : '';
  const where = parentPtr ? ` at ${parentPtr}` : '';
  const parentShape = shapeOf?.(parentPtr);
  if (/^(0|[1-9]\d*)$/.test(token) && parentShape?.types.size === 1 && parentShape.types.has('array')) {
    return `set \`minItems: ${Number(token) + 1}\`${where}`;
  }
  return `add \`${token}\` to \`required\`${where}`;
}

function lastToken(ptr: string): string {
  const tokens = parsePointer(ptr);
  return tokens[tokens.length - 1] ?? '';
}

function parentPointer(ptr: string): string {
  return ptr.slice(0, Math.max(0, ptr.lastIndexOf('/')));
}
