/**
 * TypeScript types from JSON Schemas, for `sluice generate`: `Document` (the derived collection),
 * `Source<Transform>` (each transform's source collection) and `IDerivation` (one method per
 * transform), the same names Estuary generates; in Estuary's layout also one type per named
 * `$anchor` of those schemas (`DocumentPriceStats`, `SourceFromTicksSecurity`), as Estuary's
 * crates/derive-typescript codegen does.
 */
import type { BuiltCatalog, CollectionSpec } from '../catalog/model.ts';
import { transformMethodName, transformSourceTypeName } from '../catalog/names.ts';
import { getAt } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';

const MAX_REF_DEPTH = 12;

/** Resolves `$ref`s between the catalog's schema documents (keyed by absolute URI). */
class SchemaSet {
  constructor(private readonly docs: Record<string, Json>) {}

  /** The schema at an absolute URI with an optional `#/pointer` fragment, and its base URI. */
  resolve(uri: string): { schema: Json; base: string } | undefined {
    const hash = uri.indexOf('#');
    const base = hash < 0 ? uri : uri.slice(0, hash);
    const fragment = hash < 0 ? '' : decodeURIComponent(uri.slice(hash + 1));
    const doc = this.docs[base] ?? this.findById(base);
    if (doc === undefined) return undefined;
    if (fragment === '' || fragment.startsWith('/')) {
      const schema = fragment === '' ? doc : getAt(doc, fragment);
      return schema === undefined ? undefined : { schema, base };
    }
    const anchored = this.findAnchor(doc, fragment);
    return anchored === undefined ? undefined : { schema: anchored, base };
  }

  /** A document with this `$id`, or a resource embedded in one by a nested `$id` (resolved against its base). */
  findById(id: string): Json | undefined {
    if (!this.byId) {
      const ids = new Map<string, Json>();
      const walk = (node: Json, base: string) => {
        if (Array.isArray(node)) {
          for (const x of node) walk(x, base);
          return;
        }
        if (!isObject(node)) return;
        if (typeof node.$id === 'string') {
          try {
            base = new URL(node.$id, base).href.split('#')[0];
            if (!ids.has(base)) ids.set(base, node);
          } catch {
            // An invalid $id is the schema compiler's to report.
          }
        }
        for (const [k, v] of Object.entries(node)) if (!DATA_KEYWORDS.has(k)) walk(v, base);
      };
      for (const [uri, d] of Object.entries(this.docs)) walk(d, uri);
      this.byId = ids;
    }
    return this.byId.get(id);
  }

  private byId: Map<string, Json> | undefined;

  private findAnchor(node: Json, anchor: string): Json | undefined {
    if (Array.isArray(node)) {
      for (const x of node) {
        const f = this.findAnchor(x, anchor);
        if (f !== undefined) return f;
      }
    } else if (isObject(node)) {
      if (node.$anchor === anchor) return node;
      for (const x of Object.values(node)) {
        const f = this.findAnchor(x, anchor);
        if (f !== undefined) return f;
      }
    }
    return undefined;
  }
}

/**
 * Estuary's named schemas: an `$anchor` that starts with a capital letter and has only word
 * characters (crates/derive-typescript/src/codegen/mapper.rs NAMED_SCHEMA_RE).
 */
const NAMED_ANCHOR = /^[A-Z]\w+$/;

/** Keywords whose values are data, not schemas: an `$anchor` or `$ref` inside them means nothing. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

/**
 * The named `$anchor`s Estuary's codegen turns into types for a collection schema: those of the
 * schema's whole document and of every document it references (`$ref`, transitively), as Estuary
 * bundles them. Ordered by anchor URI; the first of two anchors with one name wins.
 */
export function namedAnchors(docs: Record<string, Json>, uri: string): { name: string; uri: string }[] {
  const set = new SchemaSet(docs);
  const found = new Map<string, string>();
  const seen = new Set<string>();
  const queue = [uri.split('#')[0]];
  const walk = (node: Json, doc: string, base: string): void => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x, doc, base);
      return;
    }
    if (!isObject(node)) return;
    if (typeof node.$id === 'string') base = new URL(node.$id, base).href;
    if (typeof node.$anchor === 'string' && NAMED_ANCHOR.test(node.$anchor)) {
      found.set(`${doc}#${node.$anchor}`, node.$anchor);
    }
    if (typeof node.$ref === 'string') queue.push(new URL(node.$ref, base).href.split('#')[0]);
    for (const [k, v] of Object.entries(node)) if (!DATA_KEYWORDS.has(k)) walk(v, doc, base);
  };
  while (queue.length > 0) {
    const doc = queue.shift()!;
    if (seen.has(doc)) continue;
    seen.add(doc);
    const root = docs[doc] ?? set.findById(doc);
    if (root !== undefined) walk(root, doc, doc);
  }
  const names = new Set<string>();
  const out: { name: string; uri: string }[] = [];
  for (const [u, name] of [...found].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (names.has(name)) continue;
    names.add(name);
    out.push({ name, uri: u });
  }
  return out;
}

/** Estuary's `<prefix><Anchor>` types of a collection schema's named anchors, as module lines. */
function anchorTypes(docs: Record<string, Json>, uri: string, prefix: string): string[] {
  const out: string[] = [];
  for (const a of namedAnchors(docs, uri)) {
    out.push(`// Generated for schema $anchor ${a.name}.`);
    out.push(`export type ${prefix}${a.name} = ${schemaToType(docs, a.uri)};`);
    out.push('');
  }
  return out;
}

export function schemaToType(docs: Record<string, Json>, uri: string, indent = ''): string {
  const set = new SchemaSet(docs);
  const r = set.resolve(uri);
  if (!r) return 'unknown';
  return new TypeWriter(set).type(r.schema, r.base, indent, 0, NONE);
}

const NONE: ReadonlySet<string> = new Set();

class TypeWriter {
  constructor(private readonly set: SchemaSet) {}

  /**
   * @param inherited property names that a schema applying this one in place (beside a `$ref`,
   * around an `allOf` or `anyOf`/`oneOf` branch) lists as `required`: they are required here too.
   */
  type(schema: Json, base: string, indent: string, depth: number, inherited: ReadonlySet<string>): string {
    if (schema === true) return 'unknown';
    if (schema === false) return 'never';
    if (!isObject(schema)) return 'unknown';
    if (typeof schema.$id === 'string') base = new URL(schema.$id, base).href;
    const parts: string[] = [];
    const required = Array.isArray(schema.required)
      ? new Set([...inherited, ...schema.required.filter((r): r is string => typeof r === 'string')])
      : inherited;

    if (typeof schema.$ref === 'string') {
      const target = depth < MAX_REF_DEPTH ? this.set.resolve(new URL(schema.$ref, base).href) : undefined;
      parts.push(target ? this.type(target.schema, target.base, indent, depth + 1, required) : 'unknown');
    }
    if ('const' in schema) parts.push(literal(schema.const));
    else if (Array.isArray(schema.enum)) parts.push(schema.enum.map(literal).join(' | ') || 'never');
    else {
      const own = this.ownType(schema, base, indent, depth, required);
      if (own) parts.push(own);
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const alts = schema[key];
      if (Array.isArray(alts) && alts.length > 0) {
        parts.push(`(${alts.map((a) => this.type(a, base, indent, depth, required)).join(' | ')})`);
      }
    }
    if (Array.isArray(schema.allOf)) {
      for (const a of schema.allOf) {
        const t = this.type(a, base, indent, depth, required);
        if (t !== 'unknown') parts.push(t);
      }
    }
    const useful = parts.filter((p) => p !== 'unknown');
    if (useful.length === 0) return 'unknown';
    return useful.length === 1 ? useful[0] : useful.map((p) => (p.includes('|') ? `(${p})` : p)).join(' & ');
  }

  private ownType(
    schema: JsonObject,
    base: string,
    indent: string,
    depth: number,
    required: ReadonlySet<string>,
  ): string | undefined {
    let types: string[];
    if (typeof schema.type === 'string') types = [schema.type];
    else if (Array.isArray(schema.type))
      types = schema.type.filter((t): t is string => typeof t === 'string');
    else if (isObject(schema.properties) || 'additionalProperties' in schema) types = ['object'];
    else if ('items' in schema) types = ['array'];
    else return undefined;
    const out = types.map((t) => {
      switch (t) {
        case 'string':
          return 'string';
        case 'integer':
        case 'number':
          return 'number';
        case 'boolean':
          return 'boolean';
        case 'null':
          return 'null';
        case 'array': {
          const items = schema.items;
          const item =
            items === undefined || typeof items === 'boolean'
              ? 'unknown'
              : this.type(items, base, indent, depth, NONE);
          return item.includes('|') || item.includes('&') ? `(${item})[]` : `${item}[]`;
        }
        case 'object':
          return this.objectType(schema, base, indent, depth, required);
        default:
          return 'unknown';
      }
    });
    return out.join(' | ');
  }

  private objectType(
    schema: JsonObject,
    base: string,
    indent: string,
    depth: number,
    required: ReadonlySet<string>,
  ): string {
    const props = isObject(schema.properties) ? schema.properties : {};
    const additional = schema.additionalProperties;
    const names = Object.keys(props);
    if (names.length === 0) {
      if (additional === false) return 'Record<string, never>';
      const v =
        additional === undefined || additional === true
          ? 'unknown'
          : this.type(additional, base, indent, depth, NONE);
      return `Record<string, ${v}>`;
    }
    const inner = `${indent}  `;
    const lines = names.map((n) => {
      const doc =
        isObject(props[n]) && typeof props[n].description === 'string'
          ? `${inner}/** ${props[n].description} */\n`
          : '';
      return `${doc}${inner}${propName(n)}${required.has(n) ? '' : '?'}: ${this.type(props[n], base, inner, depth, NONE)};`;
    });
    if (additional !== false) lines.push(`${inner}[k: string]: unknown;`);
    return `{\n${lines.join('\n')}\n${indent}}`;
  }
}

function literal(v: Json): string {
  return JSON.stringify(v);
}

function propName(n: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(n) ? n : JSON.stringify(n);
}

/** The generated module for one derived collection. */
export function generateDerivationTypes(catalog: BuiltCatalog, collection: CollectionSpec): string {
  const derive = collection.derive;
  if (!derive) throw new Error(`${collection.name} is not a derivation`);
  const out: string[] = [
    `// Generated by \`sluice generate\` from the schemas of ${collection.name}. Do not edit.`,
    '',
    `/** A document of ${collection.name}, as the derivation publishes it (its write schema). */`,
    `export type Document = ${schemaToType(catalog.schemas, collection.writeSchema)};`,
    '',
  ];
  for (const t of derive.transforms) {
    const source = catalog.collections[t.source.name];
    out.push(`/** A document read by transform ${t.name}, from ${t.source.name}. */`);
    out.push(
      `export type ${transformSourceTypeName(t.name)} = ${source ? schemaToType(catalog.schemas, source.readSchema) : 'unknown'};`,
    );
    out.push('');
  }
  out.push(`/** Implement one method per transform of ${collection.name}. */`);
  out.push('export abstract class IDerivation {');
  for (const t of derive.transforms) {
    out.push(
      `  abstract ${transformMethodName(t.name)}(read: { doc: ${transformSourceTypeName(t.name)} }): Document[];`,
    );
  }
  out.push('  /** Optional: documents to publish at the end of each transaction. */');
  out.push('  flush?(): Document[];');
  out.push('  /** Optional: forget all state (called between catalog test cases). */');
  out.push('  reset?(): void;');
  out.push('}');
  out.push('');
  return out.join('\n');
}

/** A stub module for a derivation with no module file yet. */
export function generateStubModule(collection: CollectionSpec, typesImport: string): string {
  const derive = collection.derive!;
  const sources = derive.transforms.map((t) => transformSourceTypeName(t.name));
  const lines = [
    `// Derivation of ${collection.name}: one method per transform; return the documents to publish.`,
    `import type { Document, IDerivation, ${sources.join(', ')} } from '${typesImport}';`,
    '',
    'export class Derivation implements IDerivation {',
  ];
  for (const t of derive.transforms) {
    lines.push(
      `  ${transformMethodName(t.name)}(read: { doc: ${transformSourceTypeName(t.name)} }): Document[] {`,
    );
    lines.push(
      `    throw new Error('transform ${t.name} of ${collection.name} is not implemented: ' + JSON.stringify(read.doc));`,
    );
    lines.push('  }');
  }
  lines.push('}', '');
  return lines.join('\n');
}

/**
 * Estuary's layout (`flow_generated/typescript/<collection>.ts`, imported as `flow/<collection>.ts`):
 * the same types, and Estuary's `IDerivation` base class, constructed with `open` (`{state}`, the
 * committed state) and with default `flush()`, `reset()` and `startCommit()` that a module overrides.
 */
export function generateEstuaryTypes(catalog: BuiltCatalog, collection: CollectionSpec): string {
  const derive = collection.derive;
  if (!derive) throw new Error(`${collection.name} is not a derivation`);
  const out: string[] = [
    `// Generated by \`sluice generate\` for derived collection ${collection.name} (Estuary's layout). Do not edit.`,
    '',
    `// Generated for published documents of derived collection ${collection.name}.`,
    `export type Document = ${schemaToType(catalog.schemas, collection.writeSchema)};`,
    '',
    // Estuary takes anchors from the read schema when there is one (the write schema otherwise).
    ...anchorTypes(catalog.schemas, collection.readSchema, 'Document'),
  ];
  for (const t of derive.transforms) {
    const source = catalog.collections[t.source.name];
    const name = transformSourceTypeName(t.name);
    out.push(`// Generated for read documents of sourced collection ${t.source.name}.`);
    out.push(
      `export type ${name} = ${source ? schemaToType(catalog.schemas, source.readSchema) : 'unknown'};`,
    );
    out.push('');
    if (source) out.push(...anchorTypes(catalog.schemas, source.readSchema, name));
  }
  out.push(
    "// Mirror of Estuary protocol's flow.ConnectorState.",
    'export type ConnectorState = {',
    '    // An updated state, or patch thereof.',
    '    updated: unknown;',
    '    // When true, `updated` is a RFC 7396 JSON Merge Patch rather than a full replacement.',
    '    mergePatch?: boolean;',
    '};',
    '',
    '// Result type of a derivation flush(): documents to publish and a state update to commit.',
    '// `more: true` (another flush iteration across shards) is not supported by Sluice: it fails the transaction.',
    'export type FlushResponse = {',
    '    published?: Document[];',
    '    state?: ConnectorState;',
    '    more?: boolean;',
    '};',
    '',
    'export abstract class IDerivation {',
    '    // Construct a new Derivation instance from a Request.Open message:',
    '    // `state` is the state last committed through startCommit or flush ({} at first).',
    '    constructor(_open: { state: unknown; range?: { keyBegin?: number; keyEnd?: number; rClockBegin?: number; rClockEnd?: number } }) {}',
    '',
    '    // flush completes the transaction: the documents to publish, or a FlushResponse with a state update.',
    '    // Sluice calls it once per transaction, with no state patches.',
    '    async flush(_statePatches?: unknown[]): Promise<FlushResponse | Document[]> {',
    '        return [];',
    '    }',
    '',
    '    // reset is called only when running catalog tests, and must reset any internal state.',
    '    async reset() {}',
    '',
    '    // startCommit is notified of a runtime commit in progress, and returns an optional',
    '    // connector state update to be committed (with `mergePatch`, an RFC 7396 merge patch).',
    '    startCommit(_startCommit: { runtimeCheckpoint: unknown }): { state?: { updated: unknown; mergePatch: boolean } } {',
    '        return {};',
    '    }',
    '',
  );
  for (const t of derive.transforms) {
    out.push(
      `    abstract ${transformMethodName(t.name)}(read: { doc: ${transformSourceTypeName(t.name)} }): Document[];`,
    );
  }
  out.push('}', '');
  return out.join('\n');
}

/** Estuary's stub module: imports its types from `flow/<collection>.ts` and extends IDerivation. */
export function generateEstuaryStub(collection: CollectionSpec): string {
  const derive = collection.derive!;
  const sources = derive.transforms.map((t) => transformSourceTypeName(t.name));
  const lines = [
    `import { Document, IDerivation, ${sources.join(', ')} } from 'flow/${collection.name}.ts';`,
    '',
    `// Implementation for derivation ${collection.name}.`,
    'export class Derivation extends IDerivation {',
  ];
  for (const t of derive.transforms) {
    lines.push(
      `    ${transformMethodName(t.name)}(_read: { doc: ${transformSourceTypeName(t.name)} }): Document[] {`,
    );
    lines.push(`        throw new Error('transform ${t.name} of ${collection.name} is not implemented');`);
    lines.push('    }');
  }
  lines.push('}', '');
  return lines.join('\n');
}
