/**
 * Files that catalog entities reference: JSON schemas (following `$ref`s between schema files),
 * connector configs and test fixtures. Each file is read and parsed once.
 *
 * Every schema document lands in `schemas` under an absolute `file://` URI, with `$id` set to that
 * URI so that relative `$ref`s resolve between documents. A schema written inline in a catalog
 * file gets a synthetic URI: the catalog file's URI with a `?ptr=<JSON pointer>` query
 * (`file:///abs/flow.yaml?ptr=/collections/acme~1orders/schema`), which resolves relative `$ref`s
 * against the catalog's folder like a file beside it would.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { escapeToken, getAt, parsePointer } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { DRAFT_2020_12, SUPPORTED_DRAFTS } from '../schema/keywords.ts';
import { didYouMeanHint } from './diagnostics.ts';
import type { RemoteFiles } from './remote.ts';
import { type Report, shortPath, type Where } from './report.ts';
import { checkSchemaKeywords } from './schema-keywords.ts';
import { SourceDoc } from './source.ts';

/** The read schema placeholder for a collection's write schema (Estuary's `flow://write-schema`). */
export const FLOW_WRITE_SCHEMA = 'flow://write-schema';
/** Estuary's relaxed write schema: with no inferred schema available, Estuary uses the write schema itself. */
export const FLOW_RELAXED_WRITE_SCHEMA = 'flow://relaxed-write-schema';
/** Estuary's inferred schema. Sluice infers none: the write schema stands for it (see WRITE_STANDINS). */
export const FLOW_INFERRED_SCHEMA = 'flow://inferred-schema';

/**
 * The `flow://` references a read schema may make, all resolved to the collection's write schema.
 * `flow://relaxed-write-schema` as Estuary resolves it when no inferred schema is available
 * (crates/validation/src/collection.rs: `relaxed.as_ref().unwrap_or(&write_model)`).
 * `flow://inferred-schema`: Estuary infers a schema from the documents written and, until it has one,
 * resolves the reference to a placeholder that fails every read. Sluice infers none, so the write schema
 * stands for it: every document written validates against it, as every document an inferred schema has
 * seen validates against that. So Estuary's discovered read schema (`allOf: [relaxed-write-schema,
 * inferred-schema]`) reads as the write schema, with its types for keys, reductions and projections.
 */
const WRITE_STANDINS = new Set([FLOW_WRITE_SCHEMA, FLOW_RELAXED_WRITE_SCHEMA, FLOW_INFERRED_SCHEMA]);

/** Keywords whose values are data, not subschemas: `$ref`s inside them are not references. */
const DATA_KEYWORDS = new Set(['const', 'enum', 'examples', 'default']);

export class Resources {
  /** Schema documents by absolute URI (no fragment). */
  readonly schemas: Record<string, Json> = {};
  /** Where each schema document was written: its file, and its pointer there (inline schemas). */
  readonly origins = new Map<string, Where>();
  /** Schema documents with a `$ref` that could not be resolved (already reported). */
  readonly unresolved = new Set<string>();
  /**
   * Read schemas in which the write schema stands for `flow://inferred-schema`: a location they leave
   * undeclared may be one Estuary's inferred schema would declare, so checks only warn of it there.
   */
  readonly inferredStandIns = new Set<string>();
  private readonly files = new Map<string, Promise<SourceDoc | { error: string }>>();
  private readonly reported = new Set<string>();
  private readonly pending = new Set<string>();

  /** Remote schema documents (`$ref: https://…`), fetched into a cache (remote.ts); set by the loader. */
  remote?: RemoteFiles;

  constructor(private readonly report: Report) {}

  /** The URL relative references written in `file` resolve against (a cached remote file: its URL). */
  private baseOf(file: string): string {
    return this.remote?.baseOf(file) ?? pathToFileURL(file).href;
  }

  /** The local file holding the schema document `url` (a remote one is fetched into the cache). */
  private async localFile(url: URL, from: Where): Promise<string | undefined> {
    if (url.protocol === 'file:') return fileURLToPath(url);
    return this.remote?.localPath(url, from, 'schema');
  }

  /** The parsed file at `path`, or undefined (FileNotFound / ParseError reported, `from` says who asked). */
  async dataFile(path: string, from: Where, what: string): Promise<SourceDoc | undefined> {
    let p = this.files.get(path);
    if (!p) {
      p = SourceDoc.read(path);
      this.files.set(path, p);
    }
    const doc = await p;
    if (!(doc instanceof SourceDoc)) {
      this.report.error('FileNotFound', from, `${what} ${shortPath(path)} ${doc.error}`);
      return undefined;
    }
    this.reportParseProblems(doc);
    return doc.value === undefined ? undefined : doc;
  }

  reportParseProblems(doc: SourceDoc): void {
    if (this.reported.has(doc.file)) return;
    this.reported.add(doc.file);
    for (const p of doc.problems) {
      this.report.add(
        p.severity,
        'ParseError',
        { file: doc.file, line: p.line, col: p.col, pointer: '' },
        p.message,
      );
    }
  }

  /**
   * Resolve a collection's `schema`, `writeSchema` or `readSchema` (inline, or a relative path with
   * an optional fragment) into a schema URI, loading everything it references. For a read schema,
   * `flowWrite` is the write schema URI that `flow://write-schema` stands for (null when the write
   * schema could not be resolved). Undefined when the schema cannot be resolved.
   */
  async collectionSchema(
    value: Json,
    at: Where,
    opts: { collection: string; flowWrite?: string | null },
  ): Promise<string | undefined> {
    if (isObject(value) || typeof value === 'boolean') {
      const uri = inlineSchemaUri(this.baseOf(at.doc.file), at.pointer);
      const schema = structuredClone(value);
      this.register(uri, schema, { doc: at.doc, pointer: at.pointer });
      await this.crawl(schema, uri, { doc: at.doc, pointer: at.pointer }, opts.flowWrite);
      return uri;
    }
    if (typeof value !== 'string') return undefined; // reported by the structural check
    if (WRITE_STANDINS.has(value) && opts.flowWrite !== undefined) {
      if (value === FLOW_INFERRED_SCHEMA) {
        this.inferredStandIn(at);
        if (opts.flowWrite) this.inferredStandIns.add(opts.flowWrite);
      }
      return opts.flowWrite ?? undefined;
    }
    const url = this.resolveUrl(value, this.baseOf(at.doc.file), at);
    if (!url) return undefined;
    const docUri = withoutHash(url);
    if (opts.flowWrite !== undefined && !this.schemas[docUri]) {
      // A read schema file that refers to flow://write-schema is specific to its collection:
      // load a copy of it, under its own URI, with the placeholder replaced.
      const local = await this.localFile(new URL(docUri), at);
      const doc = local === undefined ? undefined : await this.dataFile(local, at, 'schema file');
      if (!doc) return undefined;
      if (containsFlowRef(doc.value)) {
        const variant = new URL(docUri);
        variant.searchParams.set('readSchemaOf', opts.collection);
        const schema = structuredClone(doc.value as Json);
        this.register(variant.href, schema, { doc, pointer: '' });
        await this.crawl(schema, variant.href, { doc, pointer: '' }, opts.flowWrite);
        return this.checkFragment(variant.href, url.hash, at) ? variant.href + url.hash : undefined;
      }
    }
    if (!(await this.schemaFile(docUri, at))) return undefined;
    return this.checkFragment(docUri, url.hash, at) ? docUri + url.hash : undefined;
  }

  /** Parses `value` as a URL relative to `base`; reports unsupported schemes. */
  private resolveUrl(value: string, base: string, at: Where): URL | undefined {
    let url: URL;
    try {
      url = new URL(value, base);
    } catch {
      this.report.error('SchemaNotFound', at, `\`${value}\` is not a valid relative URL`);
      return undefined;
    }
    if (url.protocol === 'file:') return url;
    if ((url.protocol === 'http:' || url.protocol === 'https:') && this.remote) return url;
    if (url.protocol === 'flow:') {
      this.report.error(
        'Unsupported',
        at,
        WRITE_STANDINS.has(value)
          ? `\`${value}\` may only be used in a \`readSchema\`, alongside a \`writeSchema\``
          : `\`${value}\` is not supported; a read schema may reference ${[...WRITE_STANDINS].map((r) => `\`${r}\``).join(', ')}`,
      );
      return undefined;
    }
    this.report.error(
      'Unsupported',
      at,
      `schema \`${value}\`: only relative paths and http(s) URLs are supported; save it beside the catalog and reference it by relative path`,
    );
    return undefined;
  }

  /** Loads the schema file at `docUri` (and what it references); false when it cannot be loaded. */
  private async schemaFile(docUri: string, from: Where): Promise<boolean> {
    if (this.schemas[docUri] !== undefined || this.pending.has(docUri)) return true;
    const url = new URL(docUri);
    if (url.search !== '') {
      this.report.error('SchemaNotFound', from, `no schema document has the URI \`${docUri}\``);
      return false;
    }
    this.pending.add(docUri);
    const local = await this.localFile(url, from);
    const doc = local === undefined ? undefined : await this.dataFile(local, from, 'schema file');
    if (!doc) return false;
    const schema = doc.value as Json;
    if (!isObject(schema) && typeof schema !== 'boolean') {
      this.report.error(
        'SchemaInvalid',
        { doc, pointer: '' },
        `a schema file must hold a JSON schema object, found ${schema === null ? 'nothing' : typeof schema}`,
      );
      return false;
    }
    this.register(docUri, schema, { doc, pointer: '' });
    await this.crawl(schema, docUri, { doc, pointer: '' });
    return true;
  }

  private register(uri: string, schema: Json, at: Where): void {
    if (isObject(schema)) {
      schema.$id = uri;
      const draft = schema.$schema;
      if (typeof draft === 'string' && !SUPPORTED_DRAFTS.has(draft.replace(/#$/, ''))) {
        this.report.error(
          'Unsupported',
          { doc: at.doc, pointer: `${at.pointer}/$schema` },
          `\`$schema: ${draft}\` is not supported: write JSON Schema 2020-12 or 2019-09 (draft-07 and draft-06 are read as 2019-09); remove \`$schema\` or set it to ${DRAFT_2020_12}`,
        );
        delete schema.$schema; // so that the other schemas can still be checked
      }
    }
    this.schemas[uri] = schema;
    this.origins.set(uri, { doc: at.doc, pointer: at.pointer });
  }

  /**
   * Follows every `$ref` in `schema` (whose resource URI is `uri`, written at `at`): loads
   * referenced schema files and checks that referenced pointers and anchors exist. In a read
   * schema (`flowWrite` defined), `flow://write-schema` references (and the other WRITE_STANDINS) are
   * replaced by `flowWrite`.
   */
  private async crawl(schema: Json, uri: string, at: Where, flowWrite?: string | null): Promise<void> {
    // Remote schemas are not the user's to fix.
    if (!/^https?:/.test(uri)) checkSchemaKeywords(schema, at, this.report);
    const refs: { node: { [k: string]: Json }; ref: string; base: string; pointer: string }[] = [];
    // Resources embedded by a nested `$id` (Estuary's discovered write schemas embed the connector's
    // schema as `$defs["flow://connector-schema"]` with that `$id`, and `$ref` it): the compiler
    // resolves references to them, so they need no loading.
    const embedded = new Set<string>();
    // Embedded `flow://` resources, by their `$id`: each gets an `$id` of this document's own
    // (scopedFlowId), and references to it are pointed there once the walk is done.
    const scoped = new Map<string, string>();
    const walk = (node: Json, base: string, pointer: string, root: boolean) => {
      if (Array.isArray(node)) {
        node.forEach((item, i) => {
          walk(item, base, `${pointer}/${i}`, false);
        });
        return;
      }
      if (!isObject(node)) return;
      if (!root && typeof node.$id === 'string' && node.$id.startsWith('flow://')) {
        const id = scopedFlowId(uri, node.$id);
        scoped.set(node.$id, id);
        node.$id = id;
      }
      if (!root && typeof node.$id === 'string') {
        try {
          base = withoutHash(new URL(node.$id, base));
          embedded.add(base);
        } catch {
          // An invalid nested $id is the schema compiler's to report.
        }
      }
      if (typeof node.$ref === 'string')
        refs.push({ node, ref: node.$ref, base, pointer: `${pointer}/$ref` });
      for (const [k, v] of Object.entries(node)) {
        if (!DATA_KEYWORDS.has(k)) walk(v, base, `${pointer}/${escapeToken(k)}`, false);
      }
    };
    walk(schema, uri, at.pointer, true);

    for (const r of refs) {
      const hash = r.ref.indexOf('#');
      const target = scoped.get(hash < 0 ? r.ref : r.ref.slice(0, hash));
      if (!target) continue;
      r.ref = target + (hash < 0 ? '' : r.ref.slice(hash));
      r.node.$ref = r.ref;
    }
    for (const { node, ref, base, pointer } of refs) {
      const where: Where = { doc: at.doc, pointer };
      if (WRITE_STANDINS.has(ref) && flowWrite !== undefined && base === uri) {
        if (ref === FLOW_INFERRED_SCHEMA) {
          this.inferredStandIn(where);
          this.inferredStandIns.add(uri);
        }
        if (flowWrite !== null) node.$ref = flowWrite; // else the write schema's problem is reported
        continue;
      }
      if (embeddedRef(ref, base, embedded)) continue;
      if (!(await this.followRef(ref, base, uri, where))) this.unresolved.add(uri);
    }
  }

  /** Says, where a read schema references `flow://inferred-schema`, what stands for it here. */
  private inferredStandIn(at: Where): void {
    this.report.warning(
      'InferredSchemaStandIn',
      at,
      `Sluice infers no schemas: \`${FLOW_INFERRED_SCHEMA}\` stands for the collection's write schema, which every document written validates against (Estuary would use the schema it infers from those documents)`,
    );
  }

  /** Loads what `ref` (written in resource `uri`, resolving against `base`) names; false when it cannot. */
  private async followRef(ref: string, base: string, uri: string, where: Where): Promise<boolean> {
    if (/^https?:\/\/json-schema\.org\//.test(ref)) return true; // meta-schemas are built in
    if (ref.startsWith('#')) return base !== uri || this.checkFragment(uri, ref, where);
    let url: URL;
    try {
      url = new URL(ref, base);
    } catch {
      this.report.error('SchemaNotFound', where, `\`${ref}\` is not a valid URI reference`);
      return false;
    }
    const remote = (url.protocol === 'http:' || url.protocol === 'https:') && this.remote !== undefined;
    if (url.protocol === 'file:' || remote) {
      const docUri = withoutHash(url);
      return (await this.schemaFile(docUri, where)) && this.checkFragment(docUri, url.hash, where);
    }
    if (url.protocol === 'flow:' || url.protocol === 'http:' || url.protocol === 'https:') {
      this.resolveUrl(ref, base, where);
      return false;
    }
    return true; // other schemes (urn:, ...) may name a nested $id: the compiler checks them
  }

  /** Whether `hash` (`''`, `#/json/pointer` or `#anchor`) exists in the loaded document `docUri`. */
  private checkFragment(docUri: string, hash: string, at: Where): boolean {
    const doc = this.schemas[docUri];
    if (hash === '' || hash === '#' || doc === undefined) return true;
    const fragment = decodeURIComponent(hash.slice(1));
    const name = displayName(docUri);
    if (fragment.startsWith('/')) {
      let found: Json | undefined;
      try {
        found = getAt(doc, fragment);
      } catch {
        this.report.error('SchemaNotFound', at, `\`${hash}\` is not a JSON pointer fragment`);
        return false;
      }
      if (found !== undefined) return true;
      const tokens = parsePointer(fragment);
      const parent = getAt(doc, tokens.slice(0, -1));
      const siblings = isObject(parent) ? Object.keys(parent) : [];
      const where = tokens.length > 1 ? `\`${fragment.slice(0, fragment.lastIndexOf('/'))}\`` : 'its root';
      const has =
        parent === undefined
          ? `; it has no ${where}`
          : siblings.length > 0
            ? `; ${where} has ${siblings
                .slice(0, 20)
                .map((k) => `\`${k}\``)
                .join(', ')}`
            : '';
      this.report.error(
        'SchemaNotFound',
        at,
        `${name} has nothing at \`${fragment}\`${has}`,
        didYouMeanHint(tokens[tokens.length - 1] ?? '', siblings),
      );
      return false;
    }
    const anchors = collectAnchors(doc);
    if (anchors.includes(fragment)) return true;
    this.report.error(
      'SchemaNotFound',
      at,
      `${name} has no \`$anchor: ${fragment}\`${anchors.length ? `; anchors: ${anchors.join(', ')}` : ''}`,
      didYouMeanHint(fragment, anchors),
    );
    return false;
  }
}

/** The synthetic URI of a schema written inline at `pointer` in catalog file `file`. */
export function inlineSchemaUri(fileUrl: string, pointer: string): string {
  const url = new URL(fileUrl);
  url.searchParams.set('ptr', pointer);
  // searchParams encodes `/` and `~`; keep the pointer readable where URL syntax allows it.
  return url.href.replaceAll('%2F', '/').replaceAll('%7E', '~');
}

function withoutHash(url: URL): string {
  const u = new URL(url.href);
  u.hash = '';
  return u.href;
}

function displayName(docUri: string): string {
  const url = new URL(docUri);
  const ptr = url.searchParams.get('ptr');
  if (ptr !== null) return `the inline schema at ${ptr}`;
  return url.protocol === 'file:' ? `schema ${shortPath(fileURLToPath(url))}` : `schema ${url.href}`;
}

function collectAnchors(schema: Json): string[] {
  const out: string[] = [];
  const walk = (n: Json) => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (isObject(n)) {
      if (typeof n.$anchor === 'string') out.push(n.$anchor);
      for (const [k, v] of Object.entries(n)) if (!DATA_KEYWORDS.has(k)) walk(v);
    }
  };
  walk(schema);
  return out;
}

/**
 * The `$id` a resource embedded under Estuary's reserved `flow://` scheme gets in document `uri`
 * (discovery embeds each collection's connector schema as `$id: flow://connector-schema`). Estuary builds
 * each collection's schema on its own; Sluice compiles the catalog's schemas together, where every
 * collection's `flow://connector-schema` would otherwise be one and the same resource.
 */
function scopedFlowId(uri: string, flowId: string): string {
  const id = new URL(uri);
  id.hash = '';
  id.searchParams.set('resource', flowId);
  // Readable in error messages, as inlineSchemaUri keeps its pointer.
  return id.href.replaceAll('%2F', '/').replaceAll('%7E', '~').replaceAll('%3A', ':');
}

/** Whether `ref` (resolved against `base`) names a resource embedded in the same document by `$id`. */
function embeddedRef(ref: string, base: string, embedded: Set<string>): boolean {
  if (embedded.size === 0 || ref.startsWith('#')) return false;
  try {
    return embedded.has(withoutHash(new URL(ref, base)));
  } catch {
    return false;
  }
}

function containsFlowRef(schema: Json | undefined): boolean {
  if (Array.isArray(schema)) return schema.some(containsFlowRef);
  if (!isObject(schema)) return false;
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('flow://')) return true;
  return Object.entries(schema).some(([k, v]) => !DATA_KEYWORDS.has(k) && containsFlowRef(v));
}
