/**
 * The catalog loader: reads a flow.yaml (YAML or JSON) and everything it imports and references,
 * checks it, and builds the BuiltCatalog every other part runs from.
 *
 * Problems are collected as diagnostics, never thrown: first each file's structure against
 * schemas/flow.schema.json, then names and references, then what needs the schemas (keys,
 * projections, reductions, shuffles, test documents) and the derivation modules.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuiltInConnector, validateConnectorJson } from '../connectors/config.ts';
import { ConnectorConfigError } from '../connectors/errors.ts';
import { connectorSchemas } from '../connectors/registry.ts';
import { escapeToken, getAt, parsePointer } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { checkSchemas, checkVerifyOrder } from './checks.ts';
import { importMapOf, isSqlFileReference } from './derive-using.ts';
import { type Diagnostic, didYouMeanHint, hasErrors, sortDiagnostics } from './diagnostics.ts';
import { DurationError, parseDuration } from './duration.ts';
import { validateCatalogShape } from './flow-schema.ts';
import {
  type BuiltCatalog,
  type CaptureSpec,
  type CollectionSpec,
  type ConnectorEndpoint,
  type DeriveSpec,
  type DeriveUsing,
  type FragmentsSpec,
  KNOWN_CONNECTORS,
  type MaterializationSpec,
  type PartitionSelector,
  type Projection,
  SHARD_SETTINGS_APPLIED,
  type SourceLocation,
  type SourceRef,
  type StorageMapping,
  type TestSpec,
  type TestStep,
  type TransformSpec,
  type TypescriptUsing,
  typescriptOf,
} from './model.ts';
import { inspectDerivationModule, LIFECYCLE_METHODS } from './module.ts';
import {
  connectorImageName,
  FIELD_PATTERN,
  nameCollisions,
  PARTITION_FIELD_PATTERN,
  resolveConnectorImage,
  transformMethodName,
} from './names.ts';
import { RemoteFiles } from './remote.ts';
import { locate, Report, shortPath, type Where } from './report.ts';
import { resourcePath } from './resource-paths.ts';
import { Resources } from './resources.ts';
import { narrowRoutingKeys } from './routing.ts';
import type { SchemaIndexFactory } from './schema-index.ts';
import { SourceDoc } from './source.ts';

export type { Diagnostic } from './diagnostics.ts';
export { formatDiagnostic, formatDiagnostics, hasErrors } from './diagnostics.ts';

export interface LoadOptions {
  /** Don't report missing TypeScript module files (`sluice generate` writes them). */
  allowMissingModules?: boolean;
  /** Type-check TypeScript derivation modules (`sluice check`; slower: the TypeScript compiler runs). */
  typeCheckModules?: boolean;
  /** How schema questions are answered; defaults to shared/schema. */
  schemaIndex?: SchemaIndexFactory;
}

export interface LoadResult {
  /** Undefined when any diagnostic is an error. */
  catalog?: BuiltCatalog;
  /** Errors and warnings, in file, line, column order. */
  diagnostics: Diagnostic[];
}

/**
 * Loads the catalog rooted at `path`. Never throws for a user's mistake (a missing file is a
 * diagnostic too). Inline TypeScript modules are written to
 * `<folder of the defining catalog file>/.sluice/modules/<collection name>.ts`.
 */
export async function loadCatalog(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const loader = new Loader(opts);
  return loader.run(resolve(path));
}

const KINDS = ['collections', 'captures', 'materializations', 'tests'] as const;
type Kind = (typeof KINDS)[number];
const KIND_NAME: Record<Kind, string> = {
  collections: 'collection',
  captures: 'capture',
  materializations: 'materialization',
  tests: 'test',
};

/** One catalog file, with the files it imports. */
interface CatalogFile {
  path: string;
  doc: SourceDoc;
  value: JsonObject;
  imports: string[];
  /** Entity pointers (`/collections/acme~1x`) with structural errors: deeper checks skip them. */
  tainted: Set<string>;
}

/** A named entity of some catalog file. */
interface Entity {
  kind: Kind;
  name: string;
  file: CatalogFile;
  pointer: string;
  value: Json;
  tainted: boolean;
}

/** Collection facts the later checks need, beyond the spec. */
export interface CollectionInfo {
  entity: { name: string; file: string; pointer: string; doc: SourceDoc; tainted: boolean };
  spec: CollectionSpec;
  /** Where the write / read schema was given. */
  writeAt?: Where;
  readAt?: Where;
  module?: { path: string; text: string; at: Where };
}

/** A partition selector's values for one logical partition of a collection (their types are checked against its schema). */
export interface SelectorValues {
  collection: string;
  field: string;
  location: string;
  values: { value: Json; at: Where }[];
}

/** Fields a materialization binding requires or excludes, by name (each must be a projection of the collection). */
export interface FieldNames {
  collection: string;
  fields: { field: string; category: 'require' | 'exclude'; at: Where }[];
}

/** A test document and where it was written (inline in a catalog file, or in a fixture file). */
export interface IngestDocuments {
  collection: string;
  documents: { doc: Json; at: Where }[];
  /** The test and the index of its ingest step, for messages. */
  test?: string;
  step?: number;
}

class Loader {
  private readonly report = new Report();
  private readonly resources = new Resources(this.report);
  private readonly files = new Map<string, CatalogFile>();
  private readonly names = new Map<string, Entity>();
  private readonly collections = new Map<string, CollectionInfo>();
  private readonly reach = new Map<string, Set<string>>();
  private readonly ingests: IngestDocuments[] = [];
  private readonly selectors: SelectorValues[] = [];
  private readonly fieldNames: FieldNames[] = [];
  /** Inline TypeScript modules: the file each is written to → where its text is in the catalog. */
  private readonly inlineModules = new Map<string, Where>();
  private readonly built: BuiltCatalog;
  private remote!: RemoteFiles;

  constructor(private readonly opts: LoadOptions) {
    this.built = {
      root: '',
      schemas: this.resources.schemas,
      collections: {},
      captures: {},
      materializations: {},
      tests: {},
      storageMappings: {},
    };
  }

  async run(root: string): Promise<LoadResult> {
    this.built.root = root;
    this.remote = new RemoteFiles(root, this.report);
    this.resources.remote = this.remote;
    await this.loadFiles(root);
    this.registerEntities();
    this.checkNameCollisions();
    for (const e of this.entities('collections')) await this.buildCollection(e);
    for (const e of this.entities('collections')) this.checkDerivationSources(e);
    for (const e of this.entities('captures')) await this.buildCapture(e);
    for (const e of this.entities('materializations')) await this.buildMaterialization(e);
    for (const e of this.entities('tests')) await this.buildTest(e);
    this.buildStorageMappings();
    const schemaIndex = this.opts.schemaIndex ?? (await defaultSchemaIndex());
    checkSchemas(
      this.report,
      this.resources,
      schemaIndex,
      this.collections,
      this.ingests,
      this.selectors,
      this.fieldNames,
    );
    await this.checkModules();
    // After the modules: which derivations are stateful decides what is kept in order.
    if (!hasErrors(this.report.diagnostics)) this.routeByShuffleKeys();
    if (!hasErrors(this.report.diagnostics)) await this.stageGeneratedTypes();
    // `sluice generate` (allowMissingModules) writes what modules import: resolving them comes after.
    if (!this.opts.allowMissingModules && !hasErrors(this.report.diagnostics)) await this.checkRuntimes();

    const diagnostics = sortDiagnostics(dedupe(this.report.diagnostics));
    return hasErrors(diagnostics) ? { diagnostics } : { catalog: this.built, diagnostics };
  }

  // ---- Files and imports ----

  private async loadFiles(root: string): Promise<void> {
    const queue: { path: string; from?: Where }[] = [{ path: root }];
    const failed = new Set<string>();
    while (queue.length > 0) {
      const { path, from } = queue.shift()!;
      if (this.files.has(path) || failed.has(path)) continue;
      const doc = await SourceDoc.read(path);
      if (!(doc instanceof SourceDoc)) {
        failed.add(path);
        const at = from ?? { file: path, line: 1, col: 1, pointer: '' };
        this.report.error('FileNotFound', at, `catalog file ${shortPath(path)} ${doc.error}`);
        continue;
      }
      this.resources.reportParseProblems(doc);
      if (doc.value === undefined) {
        failed.add(path);
        continue;
      }
      const file: CatalogFile = { path, doc, value: {}, imports: [], tainted: new Set() };
      this.files.set(path, file);
      if (doc.value === null) continue; // an empty file is an empty catalog
      for (const d of validateCatalogShape(doc)) {
        this.report.push(d);
        // An invalid name says nothing about the entity's content, which is still checked.
        const tokens = parsePointer(d.pointer);
        // A warning (a control-plane property ignored) leaves the entity to be checked and built.
        if (
          d.severity === 'error' &&
          tokens.length >= 2 &&
          !(d.code === 'InvalidName' && tokens.length === 2)
        ) {
          file.tainted.add(`/${tokens[0]}/${escapeToken(tokens[1])}`);
        }
      }
      if (!isObject(doc.value)) continue;
      file.value = doc.value;
      const imports: { url: string; at: Where }[] = [];
      (Array.isArray(doc.value.import) ? doc.value.import : []).forEach((imp, i) => {
        const url =
          typeof imp === 'string' ? imp : isObject(imp) && typeof imp.url === 'string' ? imp.url : null;
        if (url === null) return;
        imports.push({ url, at: { doc, pointer: `/import/${i}` } });
      });
      for (const { url, at } of imports) {
        const target = await this.resolveImport(url, path, at);
        if (target === undefined) continue;
        file.imports.push(target);
        queue.push({ path: target, from: at });
      }
    }
  }

  /** A path or URL written in `file`, resolved against it; reported at `at` when it is not one. */
  private parseUrl(url: string, file: string, at: Where): URL | undefined {
    try {
      return new URL(url, this.remote.baseOf(file));
    } catch {
      this.report.error('InvalidValue', at, `\`${url}\` is not a valid relative path or URL`);
      return undefined;
    }
  }

  /** The catalog file an import names: a local path, or a remote one fetched into the cache (remote.ts). */
  private async resolveImport(url: string, file: string, at: Where): Promise<string | undefined> {
    const parsed = this.parseUrl(url, file, at);
    if (!parsed) return undefined;
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      return this.resolveFileUrl(url, file, at, 'imports');
    parsed.hash = '';
    return this.remote.localPath(parsed, at, 'import');
  }

  /** An absolute path for a relative path or file:// URL written in `file`; reports other schemes. */
  private resolveFileUrl(url: string, file: string, at: Where, what: string): string | undefined {
    const parsed = this.parseUrl(url, file, at);
    if (!parsed) return undefined;
    if (parsed.protocol !== 'file:') {
      this.report.error(
        'Unsupported',
        at,
        `remote ${what} (\`${url}\`) are not supported (only remote imports and schemas are fetched); save the file beside the catalog and use a relative path`,
      );
      return undefined;
    }
    parsed.hash = '';
    parsed.search = '';
    return fileURLToPath(parsed);
  }

  /** Files that `file` imports, transitively, itself included. */
  private reachable(file: string): Set<string> {
    let set = this.reach.get(file);
    if (set) return set;
    set = new Set([file]);
    const stack = [file];
    while (stack.length > 0) {
      for (const next of this.files.get(stack.pop()!)?.imports ?? []) {
        if (!set.has(next)) {
          set.add(next);
          stack.push(next);
        }
      }
    }
    this.reach.set(file, set);
    return set;
  }

  // ---- Names ----

  private registerEntities(): void {
    for (const file of this.files.values()) {
      for (const kind of KINDS) {
        const map = file.value[kind];
        if (!isObject(map)) continue;
        for (const [name, value] of Object.entries(map)) {
          const pointer = `/${kind}/${escapeToken(name)}`;
          const existing = this.names.get(name);
          if (existing) {
            const first = locate({ doc: existing.file.doc, pointer: existing.pointer, key: true });
            this.report.error(
              'DuplicateName',
              { doc: file.doc, pointer, key: true },
              `${KIND_NAME[kind]} \`${name}\` is already defined as a ${KIND_NAME[existing.kind]} at ${showLocation(first)}`,
            );
            continue;
          }
          this.names.set(name, { kind, name, file, pointer, value, tainted: file.tainted.has(pointer) });
        }
      }
    }
  }

  /**
   * Names that Estuary holds to collide although they differ: equal once case-folded and normalized,
   * or one a `/`-prefix of another (a collection `acmeCo/orders` and a capture `acmeCo/orders/in`).
   * Estuary's crates/validation lib.rs runs indexed.rs `walk_duplicates` over all captures,
   * collections, materializations and tests.
   */
  private checkNameCollisions(): void {
    const entities = [...this.names.values()];
    for (const { name: e, other, kind } of nameCollisions(entities, (x) => x.name)) {
      const first = locate({ doc: other.file.doc, pointer: other.pointer, key: true });
      const what =
        kind === 'same'
          ? `collides with ${KIND_NAME[other.kind]} \`${other.name}\` (${showLocation(first)}): names that differ only in case or Unicode normalization are the same name`
          : `and ${KIND_NAME[other.kind]} \`${other.name}\` (${showLocation(first)}) collide: one name may not be a \`/\`-prefix of another`;
      this.report.error(
        'NameCollision',
        { doc: e.file.doc, pointer: e.pointer, key: true },
        `${KIND_NAME[e.kind]} \`${e.name}\` ${what}`,
      );
    }
  }

  private entities(kind: Kind): Entity[] {
    return [...this.names.values()].filter((e) => e.kind === kind);
  }

  /**
   * The collection `name` referenced from `from`'s file; reports unknown collections and
   * collections defined in files that `from`'s file does not import.
   */
  private collectionRef(
    name: string,
    from: CatalogFile,
    at: Where,
    what: string,
  ): CollectionInfo | undefined {
    const target = this.names.get(name);
    if (target?.kind !== 'collections') {
      const found = target
        ? `\`${name}\` is a ${KIND_NAME[target.kind]}, not a collection`
        : `no collection \`${name}\` is defined`;
      const collections = [...this.names.values()].filter((e) => e.kind === 'collections').map((e) => e.name);
      this.report.error('UnknownCollection', at, `${what}: ${found}`, didYouMeanHint(name, collections));
      return undefined;
    }
    if (!this.reachable(from.path).has(target.file.path)) {
      let rel = relative(dirname(from.path), target.file.path);
      if (!rel.startsWith('.')) rel = `./${rel}`;
      // A warning, not an error: Estuary resolves names across the whole catalog and no longer applies
      // this rule, so catalogs written for it may rely on that. The import keeps files self-describing.
      this.report.warning(
        'NotImported',
        at,
        `${what}: collection \`${name}\` is defined in ${shortPath(target.file.path)}, which this file does not import (directly or through its imports)`,
        `add \`import: [${rel}]\``,
      );
    }
    return this.collections.get(name);
  }

  // ---- Collections ----

  private async buildCollection(e: Entity): Promise<void> {
    if (!isObject(e.value)) return;
    const v = e.value;
    const doc = e.file.doc;
    const at = (p: string, key = false): Where => ({ doc, pointer: e.pointer + p, key });
    const present = (k: string) => v[k] !== undefined && v[k] !== null;

    let write: string | undefined;
    let read: string | undefined;
    let writeAt: Where | undefined;
    let readAt: Where | undefined;
    if (present('schema') && (present('writeSchema') || present('readSchema'))) {
      const other = present('writeSchema') ? 'writeSchema' : 'readSchema';
      this.report.error(
        'ConflictingProperties',
        at(`/${other}`, true),
        'a collection has either `schema`, or `writeSchema` and `readSchema`, not both',
      );
    } else if (!present('schema') && !present('writeSchema') && !present('readSchema')) {
      this.report.error(
        'MissingProperty',
        at('', true),
        'a collection must have `schema` (or `writeSchema` and `readSchema`)',
      );
    } else if (present('writeSchema') !== present('readSchema')) {
      const [has, missing] = present('writeSchema')
        ? ['writeSchema', 'readSchema']
        : ['readSchema', 'writeSchema'];
      this.report.error(
        'MissingProperty',
        at('', true),
        `a collection with \`${has}\` must also have \`${missing}\``,
      );
    }
    if (present('schema')) {
      writeAt = readAt = at('/schema');
      write = read = await this.resources.collectionSchema(v.schema, writeAt, { collection: e.name });
    } else {
      if (present('writeSchema')) {
        writeAt = at('/writeSchema');
        write = await this.resources.collectionSchema(v.writeSchema, writeAt, { collection: e.name });
      }
      if (present('readSchema')) {
        readAt = at('/readSchema');
        read = await this.resources.collectionSchema(v.readSchema, readAt, {
          collection: e.name,
          flowWrite: write ?? null,
        });
      }
    }

    const key = Array.isArray(v.key) ? v.key.filter((k): k is string => typeof k === 'string') : [];
    const projections: Record<string, Projection> = {};
    if (isObject(v.projections)) {
      for (const [field, p] of Object.entries(v.projections)) {
        if (typeof p === 'string') projections[field] = { location: p, partition: false };
        else if (isObject(p) && typeof p.location === 'string') {
          projections[field] = { location: p.location, partition: p.partition === true };
        }
      }
      this.checkProjectionFields(projections, (field) => at(`/projections/${escapeToken(field)}`, true));
    }

    const spec: CollectionSpec = {
      name: e.name,
      writeSchema: write ?? '',
      readSchema: read ?? write ?? '',
      key,
      projections,
      source: locate(at('', true)),
      ...(read && this.resources.inferredStandIns.has(read) ? { inferredStandIn: true as const } : {}),
    };
    const fragments =
      isObject(v.journals) && isObject(v.journals.fragments) ? v.journals.fragments : undefined;
    if (fragments) {
      this.duration(fragments.flushInterval, at('/journals/fragments/flushInterval'));
      this.duration(fragments.retention, at('/journals/fragments/retention'));
      // Fragments are written gzipped, one per persisted batch (see shared/persist): say so for the
      // settings that would ask otherwise, rather than ignoring them silently.
      if (
        ['NONE', 'ZSTANDARD', 'SNAPPY', 'GZIP_OFFLOAD_DECOMPRESSION'].includes(
          String(fragments.compressionCodec),
        )
      ) {
        this.report.warning(
          'FragmentSettingIgnored',
          at('/journals/fragments/compressionCodec'),
          `compressionCodec ${JSON.stringify(fragments.compressionCodec)} is not applied: Sluice writes fragments as gzipped JSON lines (GZIP)`,
        );
      }
      for (const field of ['length', 'flushInterval'] as const) {
        if (fragments[field] === undefined) continue;
        this.report.warning(
          'FragmentSettingIgnored',
          at(`/journals/fragments/${field}`),
          `${field} is not applied: Sluice writes one fragment per persisted batch (the persister's event-source mapping sets the batch size and window)`,
        );
      }
      spec.journals = { fragments: structuredClone(fragments) as FragmentsSpec };
    }
    const info: CollectionInfo = {
      entity: { name: e.name, file: e.file.path, pointer: e.pointer, doc, tainted: e.tainted },
      spec,
      writeAt,
      readAt,
    };
    if (isObject(v.derive)) spec.derive = await this.buildDerive(e, v.derive, info);
    this.collections.set(e.name, info);
    this.built.collections[e.name] = spec;
  }

  /**
   * Projection field names (Estuary's crates/models `Field` and `PartitionField` patterns, checked by
   * crates/validation collection.rs), and fields that collide once case-folded, or where one is a
   * `/`-prefix of another (indexed.rs `walk_duplicates` over a collection's projections).
   */
  private checkProjectionFields(projections: Record<string, Projection>, at: (field: string) => Where): void {
    for (const [field, p] of Object.entries(projections)) {
      if (p.partition && !PARTITION_FIELD_PATTERN.test(field)) {
        this.report.error(
          'InvalidName',
          at(field),
          `\`${field}\` cannot name a logical partition: a partition field is letters, numbers, \`-\`, \`_\` and \`.\` only (no \`/\` or spaces)`,
        );
      } else if (!FIELD_PATTERN.test(field)) {
        this.report.error(
          'InvalidName',
          at(field),
          `\`${field}\` is not a valid projection field: it may not begin or end with \`/\`, hold \`//\`, or a \`~\` other than \`~0\` / \`~1\``,
        );
      }
    }
    for (const { name, other, kind } of nameCollisions(Object.keys(projections), (f) => f)) {
      this.report.error(
        'NameCollision',
        at(name),
        kind === 'same'
          ? `projection \`${name}\` collides with projection \`${other}\`: fields that differ only in case are the same field`
          : `projections \`${name}\` and \`${other}\` collide: one field may not be a \`/\`-prefix of another`,
      );
    }
  }

  private async buildDerive(e: Entity, d: JsonObject, info: CollectionInfo): Promise<DeriveSpec> {
    const doc = e.file.doc;
    const base = `${e.pointer}/derive`;
    const usingRaw = isObject(d.using) ? d.using : {};
    const isSqlite = isObject(usingRaw.sqlite);
    let using: DeriveUsing;
    if (isSqlite) {
      const raw = usingRaw.sqlite as JsonObject;
      const migrations: string[] = [];
      const list = Array.isArray(raw.migrations) ? raw.migrations : [];
      for (const [i, m] of list.entries()) {
        if (typeof m !== 'string') continue;
        const sql = await this.sqlText(m, e, { doc, pointer: `${base}/using/sqlite/migrations/${i}` });
        migrations.push(sql ?? '');
      }
      using = { sqlite: { migrations } };
    } else {
      using = { typescript: await this.typescriptUsing(e, usingRaw, info) };
    }

    const transforms: TransformSpec[] = [];
    const lambdas: { at: Where; raw: Json | undefined; index: number }[] = [];
    const seen = new Map<string, number>();
    (Array.isArray(d.transforms) ? d.transforms : []).forEach((t, i) => {
      if (!isObject(t)) return;
      const tp = `${base}/transforms/${i}`;
      const name = typeof t.name === 'string' ? t.name : '';
      if (seen.has(name)) {
        this.report.error(
          'DuplicateTransform',
          { doc, pointer: `${tp}/name` },
          `transform \`${name}\` is already defined at ${base}/transforms/${seen.get(name)}`,
        );
      } else seen.set(name, i);
      const shuffle: TransformSpec['shuffle'] =
        isObject(t.shuffle) && Array.isArray(t.shuffle.key)
          ? { key: t.shuffle.key.filter((k): k is string => typeof k === 'string') }
          : 'any';
      const readDelay = this.duration(t.readDelay, { doc, pointer: `${tp}/readDelay` }) ?? 0;
      if (readDelay > 0 && t.disable !== true) {
        this.report.warning(
          'ReadDelayTestOnly',
          { doc, pointer: `${tp}/readDelay` },
          `transform \`${name}\` reads with a delay of ${readDelay} s: \`sluice test\` applies it, but \`sluice dev\` and the deployed stack read without delay for now`,
        );
      }
      transforms.push({
        name,
        source: sourceRef(t.source),
        shuffle,
        readDelay,
        priority: typeof t.priority === 'number' ? t.priority : 0,
        disable: t.disable === true,
        backfill: typeof t.backfill === 'number' ? t.backfill : 0,
      });
      lambdas.push({ at: { doc, pointer: `${tp}/lambda` }, raw: t.lambda, index: transforms.length - 1 });
    });
    // Estuary's crates/validation derivation.rs: `walk_duplicates` over transform names, under collation.
    for (const { name, other } of nameCollisions(
      transforms.map((t, i) => ({ name: t.name, i })),
      (t) => t.name,
    )) {
      this.report.error(
        'NameCollision',
        { doc, pointer: `${base}/transforms/${name.i}/name` },
        `transform \`${name.name}\` collides with transform \`${other.name}\` (${base}/transforms/${other.i}): transform names that differ only in case are the same name`,
      );
    }
    for (const { at, raw, index } of lambdas) {
      const t = transforms[index];
      if (!isSqlite) {
        if (raw !== undefined && raw !== null)
          this.report.warning(
            'LambdaIgnored',
            at,
            `transform \`${t.name}\` has a \`lambda\`, which TypeScript derivations ignore: the module's \`${transformMethodName(t.name)}\` method implements it`,
          );
        continue;
      }
      if (typeof raw !== 'string') {
        if (!t.disable)
          this.report.error(
            'MissingProperty',
            { doc, pointer: at.pointer.replace(/\/lambda$/, ''), key: true },
            `transform \`${t.name}\` of a SQLite derivation needs a \`lambda\`: SQL, or a relative path of a .sql file`,
          );
        continue;
      }
      t.lambda = (await this.sqlText(raw, e, at)) ?? '';
    }
    const spec: DeriveSpec = { using, transforms };
    if (isSqlite) spec.stateful = true;
    if (d.shards !== undefined) spec.shards = this.shards(d.shards, { doc, pointer: `${base}/shards` });
    return spec;
  }

  /** A TypeScript derivation's module (`module`, or the `.ts` of `files`) and its import map. */
  private async typescriptUsing(
    e: Entity,
    usingRaw: JsonObject,
    info: CollectionInfo,
  ): Promise<TypescriptUsing> {
    const doc = e.file.doc;
    const tsp = `${e.pointer}/derive/using/typescript`;
    const raw = isObject(usingRaw.typescript) ? usingRaw.typescript : {};
    let moduleText: string | undefined;
    let moduleAt: Where = { doc, pointer: `${tsp}/module` };
    let denoJson: string | undefined;
    if (typeof raw.module === 'string') moduleText = raw.module;
    else if (Array.isArray(raw.files)) {
      // Estuary's 2025 project format: the module is the `.ts` of the files (`mod.ts` when several).
      const files = raw.files
        .map((f, i) => ({ f, i }))
        .filter((x): x is { f: string; i: number } => typeof x.f === 'string');
      const ts = files.filter(({ f }) => /\.(ts|mts)$/.test(f));
      const chosen = ts.length === 1 ? ts[0] : ts.find(({ f }) => /(^|\/)mod\.ts$/.test(f));
      const deno = files.find(({ f }) => /(^|\/)deno\.jsonc?$/.test(f));
      if (deno)
        denoJson = this.resolveFileUrl(
          deno.f,
          e.file.path,
          { doc, pointer: `${tsp}/files/${deno.i}` },
          'files',
        );
      if (!chosen) {
        this.report.error(
          'MissingProperty',
          { doc, pointer: `${tsp}/files` },
          `\`files\` must list the derivation's TypeScript module (one \`.ts\` file, or \`mod.ts\` among several); it lists ${files.map(({ f }) => `\`${f}\``).join(', ') || 'nothing'}`,
        );
      } else {
        moduleText = chosen.f;
        moduleAt = { doc, pointer: `${tsp}/files/${chosen.i}` };
      }
    }
    let modulePath = '';
    if (moduleText !== undefined) {
      const m = await this.resolveModule(moduleText, e, moduleAt);
      if (m) {
        modulePath = m.path;
        if (m.text !== undefined) info.module = { path: m.path, text: m.text, at: moduleAt };
      }
    }
    if (!modulePath) return { module: '' };
    const map = importMapOf(modulePath, this.built.root, denoJson);
    for (const entry of map.ignored) {
      this.report.warning(
        'ImportMapIgnored',
        map.denoJson ? { file: map.denoJson, line: 1, col: 1, pointer: '/imports' } : moduleAt,
        `import map entry ${entry} is not honoured: modules are bundled from local paths and fetched URLs, not from package registries`,
      );
    }
    return { module: modulePath, imports: map.imports };
  }

  /** SQL written inline, or (no whitespace: Estuary's rule) a relative path of a file holding it. */
  private async sqlText(block: string, e: Entity, at: Where): Promise<string | undefined> {
    if (!isSqlFileReference(block)) return block;
    const path = this.resolveFileUrl(block, e.file.path, at, 'SQL files');
    if (path === undefined) return undefined;
    try {
      return await readFile(path, 'utf8');
    } catch {
      this.report.error('FileNotFound', at, `SQL file ${shortPath(path)} does not exist`);
      return undefined;
    }
  }

  /** Transform sources exist, are imported, and select real partitions (disabled transforms are not checked). */
  private checkDerivationSources(e: Entity): void {
    const info = this.collections.get(e.name);
    if (!info?.spec.derive || !isObject(e.value) || !isObject(e.value.derive)) return;
    const raw = Array.isArray(e.value.derive.transforms) ? e.value.derive.transforms : [];
    info.spec.derive.transforms.forEach((t, i) => {
      if (t.disable || !t.source.name || !isObject(raw[i])) return;
      const sp = `${e.pointer}/derive/transforms/${i}/source`;
      const at: Where = { doc: e.file.doc, pointer: typeof raw[i].source === 'string' ? sp : `${sp}/name` };
      const source = this.collectionRef(t.source.name, e.file, at, `transform \`${t.name}\` source`);
      if (source) this.checkSelector(t.source, source, { doc: e.file.doc, pointer: `${sp}/partitions` });
      this.checkReadWindow(t.source, { doc: e.file.doc, pointer: sp });
    });
  }

  /**
   * Route collections read with a coarser shuffle key by what the shuffle keys share (catalog/routing.ts),
   * and warn where nothing is shared: every document of that collection then goes to one shard.
   */
  private routeByShuffleKeys(): void {
    for (const n of narrowRoutingKeys(this.built)) {
      if (n.routingKey.length > 0) continue;
      const key = this.built.collections[n.collection].key;
      const list = (ptrs: string[]) => `[${ptrs.join(', ')}]`;
      // The readers whose own shuffle key shares nothing with the key; else it is their combination.
      const alone = n.readers.filter((r) => !key.some((p) => r.shuffle.includes(p)));
      for (const r of alone.length > 0 ? alone : n.readers) {
        const e = this.names.get(r.derivation);
        if (!e) continue;
        const what =
          alone.length > 0
            ? `shuffle key ${list(r.shuffle)} shares no location with the key ${list(key)} of \`${n.collection}\``
            : `the shuffle keys reading \`${n.collection}\` (${n.readers.map((x) => list(x.shuffle)).join(', ')}) share no location of its key ${list(key)} between them`;
        this.report.warning(
          'ShuffleOneShard',
          { doc: e.file.doc, pointer: `${e.pointer}/derive/transforms/${r.transform}/shuffle/key` },
          `${what}: for the stateful derivation \`${r.derivation}\` to read each shuffle key in the order it was published, every document of \`${n.collection}\` goes to one shard of its journal (one shard's write throughput: 1 MiB/s, 1,000 records/s)`,
          `add the shuffle key's locations to the key of \`${n.collection}\` to spread it over shards, or shuffle by \`any\` if the order across its keys does not matter`,
        );
      }
    }
  }

  /**
   * `partitions.include` / `exclude` fields must be logical partitions of the collection, and their
   * values non-empty strings or values of the partition's type (Estuary's crates/validation
   * collection.rs `walk_selector`: `ProjectionNotPartitioned`, `NoSuchProjection`, `SelectorEmptyString`;
   * `SelectorTypeMismatch` is checked with the schemas, in checks.ts).
   */
  private checkSelector(ref: SourceRef, collection: CollectionInfo, at: Where): void {
    const partitions = Object.entries(collection.spec.projections)
      .filter(([, p]) => p.partition)
      .map(([f]) => f);
    for (const which of ['include', 'exclude'] as const) {
      for (const [field, values] of Object.entries(ref.partitions?.[which] ?? {})) {
        const fieldPointer = `${at.pointer}/${which}/${escapeToken(field)}`;
        if (!partitions.includes(field)) {
          this.report.error(
            'NotPartition',
            { doc: at.doc, pointer: fieldPointer, key: true },
            `\`${field}\` is not a logical partition of \`${collection.spec.name}\`; its partitions: ${
              partitions.length ? partitions.map((p) => `\`${p}\``).join(', ') : 'none'
            } (declare one with \`projections: {${field}: {location: /ptr, partition: true}}\`)`,
            didYouMeanHint(field, partitions),
          );
          continue;
        }
        if (!Array.isArray(values)) continue;
        const use: SelectorValues = {
          collection: collection.spec.name,
          field,
          location: collection.spec.projections[field].location,
          values: [],
        };
        values.forEach((value, i) => {
          const vat: Where = { doc: at.doc, pointer: `${fieldPointer}/${i}` };
          if (value === '') {
            this.report.error(
              'InvalidValue',
              vat,
              `partition selector ${which} \`${field}\` value ${i} is an empty string; partition values are non-empty`,
            );
          } else use.values.push({ value, at: vat });
        });
        if (!collection.entity.tainted) this.selectors.push(use);
      }
    }
  }

  /**
   * A binding's `require` (or `include`) and `exclude` fields: not both required and excluded
   * (Estuary's crates/validation materialization.rs `walk_materialization_fields`: `FieldUnsatisfiable`);
   * that each names a projection of the collection is checked with the schemas (checks.ts).
   */
  private checkFieldNames(collection: string, fields: JsonObject, at: Where): void {
    const use: FieldNames = { collection, fields: [] };
    const required = new Set<string>();
    for (const category of ['require', 'include'] as const) {
      if (!isObject(fields[category])) continue;
      for (const field of Object.keys(fields[category])) {
        required.add(field);
        const fat: Where = {
          doc: at.doc,
          pointer: `${at.pointer}/${category}/${escapeToken(field)}`,
          key: true,
        };
        use.fields.push({ field, category: 'require', at: fat });
      }
    }
    (Array.isArray(fields.exclude) ? fields.exclude : []).forEach((field, i) => {
      if (typeof field !== 'string') return;
      const fat: Where = { doc: at.doc, pointer: `${at.pointer}/exclude/${i}` };
      if (required.has(field)) {
        this.report.error(
          'FieldUnsatisfiable',
          fat,
          `field \`${field}\` is both required and excluded; keep it in one of \`require\` and \`exclude\``,
        );
      } else use.fields.push({ field, category: 'exclude', at: fat });
    });
    if (use.fields.length > 0) this.fieldNames.push(use);
  }

  /**
   * A source read from `notBefore` to `notAfter` must have them in that order (Estuary's
   * crates/validation derivation.rs and materialization.rs: `NotBeforeAfterOrder`).
   */
  private checkReadWindow(ref: SourceRef, at: Where): void {
    if (ref.notBefore === undefined || ref.notAfter === undefined) return;
    const before = Date.parse(ref.notBefore);
    const after = Date.parse(ref.notAfter);
    if (Number.isNaN(before) || Number.isNaN(after) || before <= after) return;
    this.report.error(
      'InvalidValue',
      { doc: at.doc, pointer: `${at.pointer}/notAfter` },
      `\`notAfter\` (${ref.notAfter}) is before \`notBefore\` (${ref.notBefore}): nothing would be read; \`notBefore\` must come first`,
    );
  }

  /**
   * A module path relative to the catalog file, or inline TypeScript (anything with a newline,
   * whitespace or code punctuation), which is written to `.sluice/modules/<collection>.ts`
   * beside the catalog file. Returns the absolute path, and the text when it could be read.
   */
  private async resolveModule(
    module: string,
    e: Entity,
    at: Where,
  ): Promise<{ path: string; text?: string } | undefined> {
    if (/[\s{};()=]/.test(module)) {
      const segments = e.name.split('/').map((s) => (s === '.' || s === '..' ? `_${s}` : s));
      const path = join(dirname(e.file.path), '.sluice', 'modules', ...segments) + '.ts';
      try {
        const existing = existsSync(path) ? await readFile(path, 'utf8') : undefined;
        if (existing !== module) {
          await mkdir(dirname(path), { recursive: true });
          await writeFile(path, module);
        }
      } catch (err) {
        this.report.error(
          'FileNotFound',
          at,
          `cannot write the inline module to ${shortPath(path)}: ${(err as Error).message}`,
        );
        return undefined;
      }
      this.inlineModules.set(path, at);
      return { path, text: module };
    }
    const path = this.resolveFileUrl(module, e.file.path, at, 'modules');
    if (path === undefined) return undefined;
    if (!/\.(ts|mts|js|mjs)$/.test(path)) {
      this.report.error(
        'InvalidValue',
        at,
        `module \`${module}\` must be a TypeScript file (\`.ts\`) or inline TypeScript code`,
      );
      return { path };
    }
    try {
      return { path, text: await readFile(path, 'utf8') };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        const why =
          code === 'EISDIR' ? 'is a directory, not a file' : `cannot be read: ${(err as Error).message}`;
        this.report.error('FileNotFound', at, `TypeScript module ${shortPath(path)} ${why}`);
        return undefined;
      }
      if (!this.opts.allowMissingModules) {
        this.report.error(
          'FileNotFound',
          at,
          `TypeScript module ${shortPath(path)} does not exist`,
          'run `sluice generate` to write a stub',
        );
      }
      return { path };
    }
  }

  /**
   * Transforms match the methods of their module's `class Derivation`. A module may serve several
   * derivations: a method is unused only when none of them has a transform for it.
   */
  private async checkModules(): Promise<void> {
    const byModule = new Map<string, CollectionInfo[]>();
    for (const info of this.collections.values()) {
      if (!info.spec.derive || !info.module || info.entity.tainted) continue;
      byModule.set(info.module.path, [...(byModule.get(info.module.path) ?? []), info]);
    }
    for (const [path, infos] of byModule) {
      const { text, at } = infos[0].module!;
      const inspection = await inspectDerivationModule(path, text);
      if (inspection.kind === 'noCompiler') {
        this.report.warning(
          'ModuleInvalid',
          at,
          `transforms were not checked against ${shortPath(path)}: ${inspection.reason}`,
        );
        continue;
      }
      if (inspection.kind === 'noDerivation') {
        const exported = inspection.exported.map((x) => `\`${x}\``).join(', ') || 'nothing';
        for (const info of infos) {
          this.report.error(
            'ModuleInvalid',
            info.module!.at,
            `module ${shortPath(path)} must export \`class Derivation\` with one method per transform; it exports ${exported}`,
          );
        }
        continue;
      }
      const { methods, helpers, stateful } = inspection.derivation;
      if (stateful) for (const info of infos) info.spec.derive!.stateful = true;
      const used = new Set<string>();
      for (const info of infos) {
        info.spec.derive!.transforms.forEach((t, i) => {
          const method = transformMethodName(t.name);
          used.add(method);
          if (t.disable || methods.has(method)) return;
          const hint = didYouMeanHint(method, methods.keys());
          this.report.error(
            'MissingMethod',
            { doc: info.entity.doc, pointer: `${info.entity.pointer}/derive/transforms/${i}/name` },
            `transform \`${t.name}\` has no method \`${method}\` on class Derivation in ${shortPath(path)}; its methods: ${
              [...methods.keys()].map((m) => `\`${m}\``).join(', ') || 'none'
            }`,
            hint,
          );
        });
      }
      const names = infos.map((i) => `\`${i.spec.name}\``).join(', ');
      for (const [method, pos] of methods) {
        if (used.has(method) || helpers.has(method) || LIFECYCLE_METHODS.has(method)) continue;
        this.report.warning(
          'UnusedMethod',
          this.inModule({ file: path, line: pos.line, col: pos.col }),
          `method \`${method}\` of class Derivation is not a transform of ${names} (mark helpers \`private\`)`,
          didYouMeanHint(
            method,
            [...used].filter((u) => !methods.has(u)),
          ),
        );
      }
    }
  }

  /**
   * TypeScript modules import `flow/<collection>.ts` from the catalog as it is now, as Estuary's connector
   * provides it (flow-generated.ts): loaded only when there is a TypeScript derivation.
   */
  private async stageGeneratedTypes(): Promise<void> {
    if (!Object.values(this.built.collections).some((c) => typescriptOf(c.derive)?.module)) return;
    const { stageFlowGenerated } = await import('./flow-generated.ts');
    stageFlowGenerated(this.built);
  }

  /** SQLite migrations and lambdas prepare; TypeScript modules resolve their imports (derive-check.ts). */
  private async checkRuntimes(): Promise<void> {
    if (!Object.values(this.built.collections).some((c) => c.derive)) return;
    const { checkDerivationRuntimes } = await import('./derive-check.ts');
    for (const p of await checkDerivationRuntimes(this.built, {
      typeCheck: this.opts.typeCheckModules === true,
    })) {
      const info = this.collections.get(p.collection);
      if (!info) continue;
      if ('pointer' in p.at) {
        this.report.error(
          p.code,
          { doc: info.entity.doc, pointer: `${info.entity.pointer}/derive${p.at.pointer}` },
          p.message,
        );
      } else {
        this.report.error(p.code, this.inModule(p.at), p.message);
      }
    }
  }

  /**
   * Where a line and column of a module are written: in its file, or, for an inline module (written to
   * `.sluice/modules/` to be bundled), in the catalog file whose block scalar holds it.
   */
  private inModule(at: { file: string; line: number; col: number }): SourceLocation {
    const inline = this.inlineModules.get(at.file);
    const origin = inline?.doc.blockOrigin(inline.pointer);
    if (!inline || !origin) return { ...at, pointer: '' };
    return {
      file: inline.doc.file,
      line: origin.line + at.line - 1,
      col: origin.col + at.col - 1,
      pointer: inline.pointer,
    };
  }

  // ---- Captures and materializations ----

  private async endpoint(e: Entity, kind: 'source' | 'materialize'): Promise<ConnectorEndpoint> {
    const v = e.value as JsonObject;
    const doc = e.file.doc;
    const cp = `${e.pointer}/endpoint/connector`;
    const connector = isObject(v.endpoint) && isObject(v.endpoint.connector) ? v.endpoint.connector : {};
    const image = typeof connector.image === 'string' ? connector.image : '';
    let name = '';
    // Config and resources are checked against the connector's schemas only when it fits the task.
    let validate = false;
    if (typeof connector.image === 'string') {
      const resolved = resolveConnectorImage(image);
      const at: Where = { doc, pointer: `${cp}/image` };
      if (!resolved) {
        this.report.error(
          'UnknownConnector',
          at,
          `Sluice has no connector \`${connectorImageName(image)}\`; it has ${KNOWN_CONNECTORS.map((c) => `\`${c}\``).join(', ')} (also as ghcr.io/estuary/<name>:<tag>)`,
          didYouMeanHint(connectorImageName(image), KNOWN_CONNECTORS),
        );
      } else {
        name = resolved;
        if (resolved.startsWith(`${kind}-`)) validate = true;
        else {
          const other = KNOWN_CONNECTORS.filter((c) => c.startsWith(`${kind}-`));
          this.report.error(
            'ConnectorKindMismatch',
            at,
            `\`${resolved}\` is not a ${kind === 'source' ? 'capture' : 'materialization'} connector; use one of ${other.map((c) => `\`${c}\``).join(', ')}`,
          );
        }
      }
    }
    let config: Json = {};
    const cfgAt: Where = { doc, pointer: `${cp}/config` };
    if (isObject(connector.config)) {
      config = structuredClone(connector.config);
      if (validate) this.connectorJson(name, 'config', config, cfgAt);
    } else if (typeof connector.config === 'string') {
      const path = this.resolveFileUrl(connector.config, e.file.path, cfgAt, 'configs');
      const file = path === undefined ? undefined : await this.resources.dataFile(path, cfgAt, 'config file');
      if (file && isObject(file.value)) {
        config = file.value;
        if (validate && file.value.sops === undefined)
          this.connectorJson(name, 'config', config, { doc: file, pointer: '' });
      } else if (file) {
        this.report.error(
          'WrongType',
          { doc: file, pointer: '' },
          `a connector config file must hold an object; it holds ${describeJson(file.value)}`,
        );
      }
    }
    if (isObject(config) && config.sops !== undefined) {
      this.report.error(
        'Unsupported',
        cfgAt,
        'sops-encrypted connector configs are not supported; decrypt the config',
      );
    }
    return { connector: name, image, config };
  }

  /**
   * A connector config or binding resource against the connector's schema (shared/connectors/config.ts,
   * the same check the connector makes at run time): each issue an error at its JSON pointer.
   */
  private connectorJson(connector: string, kind: 'config' | 'resource', value: Json, at: Where): void {
    if (!connectorSchemas(connector)) return;
    try {
      validateConnectorJson(connector as BuiltInConnector, kind, value, at.pointer);
      // Estuary's parser may skip a share of bad records; Sluice never skips a document.
      const threshold = getAt(value, '/parser/format/config/errorThreshold');
      if (connector === 'source-s3' && kind === 'config' && typeof threshold === 'number' && threshold > 0)
        this.report.warning(
          'ConnectorSettingIgnored',
          { doc: at.doc, pointer: `${at.pointer}/parser/format/config/errorThreshold` },
          `source-s3 config: \`errorThreshold: ${threshold}\` is not applied: Sluice skips no record; one that does not parse halts the capture, or under the park failure policy is parked for a redrive`,
        );
    } catch (e) {
      if (!(e instanceof ConnectorConfigError)) throw e;
      for (const issue of e.issues)
        this.report.error(
          kind === 'config' ? 'InvalidConnectorConfig' : 'InvalidBindingResource',
          { doc: at.doc, pointer: `${at.pointer}${issue.pointer}` },
          `${connector} ${kind}: ${issue.message}`,
        );
    }
  }

  private async buildCapture(e: Entity): Promise<void> {
    if (!isObject(e.value)) return;
    const v = e.value;
    const doc = e.file.doc;
    const spec: CaptureSpec = {
      name: e.name,
      endpoint: await this.endpoint(e, 'source'),
      bindings: [],
      source: locate({ doc, pointer: e.pointer, key: true }),
    };
    (Array.isArray(v.bindings) ? v.bindings : []).forEach((b, i) => {
      if (!isObject(b) || typeof b.target !== 'string') return;
      const bp = `${e.pointer}/bindings/${i}`;
      if (isObject(b.resource) && b.disable !== true)
        this.connectorJson(spec.endpoint.connector, 'resource', b.resource, {
          doc,
          pointer: `${bp}/resource`,
        });
      spec.bindings.push({
        resource: isObject(b.resource) ? structuredClone(b.resource) : {},
        target: b.target,
        disable: b.disable === true,
        backfill: typeof b.backfill === 'number' ? b.backfill : 0,
      });
      if (b.disable !== true) {
        const at: Where = { doc, pointer: `${bp}/target` };
        const target = this.collectionRef(b.target, e.file, at, `binding ${i} target`);
        // As Estuary: a derived collection's documents come from its transforms only.
        if (target?.spec.derive !== undefined) {
          this.report.error(
            'CaptureOfDerivation',
            at,
            `binding ${i} target: \`${b.target}\` is a derived collection, which its transforms write; a capture may only write a collection without \`derive\``,
          );
        }
      }
    });
    this.checkResourcePaths(
      e,
      spec.endpoint,
      'capture',
      spec.bindings.map((b) => ({ ...b, collection: b.target })),
    );
    const interval = this.duration(v.interval, { doc, pointer: `${e.pointer}/interval` });
    if (interval !== undefined) spec.interval = interval;
    if (v.shards !== undefined) spec.shards = this.shards(v.shards, { doc, pointer: `${e.pointer}/shards` });
    this.built.captures[e.name] = spec;
  }

  private async buildMaterialization(e: Entity): Promise<void> {
    if (!isObject(e.value)) return;
    const v = e.value;
    const doc = e.file.doc;
    const spec: MaterializationSpec = {
      name: e.name,
      endpoint: await this.endpoint(e, 'materialize'),
      bindings: [],
      source: locate({ doc, pointer: e.pointer, key: true }),
    };
    (Array.isArray(v.bindings) ? v.bindings : []).forEach((b, i) => {
      if (!isObject(b)) return;
      const bp = `${e.pointer}/bindings/${i}`;
      const source = sourceRef(b.source);
      const f = isObject(b.fields) ? b.fields : {};
      const fields: MaterializationSpec['bindings'][number]['fields'] = {
        recommended:
          typeof f.recommended === 'boolean' || typeof f.recommended === 'number' ? f.recommended : true,
      };
      if (isObject(f.include)) fields.include = structuredClone(f.include);
      if (isObject(f.require)) fields.require = structuredClone(f.require);
      if (Array.isArray(f.exclude))
        fields.exclude = f.exclude.filter((x): x is string => typeof x === 'string');
      if (isObject(b.resource) && b.disable !== true)
        this.connectorJson(spec.endpoint.connector, 'resource', b.resource, {
          doc,
          pointer: `${bp}/resource`,
        });
      spec.bindings.push({
        source,
        resource: isObject(b.resource) ? structuredClone(b.resource) : {},
        fields,
        disable: b.disable === true,
        backfill: typeof b.backfill === 'number' ? b.backfill : 0,
      });
      if (!source.name || b.disable === true) return;
      const at: Where = { doc, pointer: typeof b.source === 'string' ? `${bp}/source` : `${bp}/source/name` };
      const target = this.collectionRef(source.name, e.file, at, `binding ${i} source`);
      if (target) this.checkSelector(source, target, { doc, pointer: `${bp}/source/partitions` });
      if (target) this.checkFieldNames(source.name, f, { doc, pointer: `${bp}/fields` });
      this.checkReadWindow(source, { doc, pointer: `${bp}/source` });
    });
    this.checkResourcePaths(
      e,
      spec.endpoint,
      'materialization',
      spec.bindings.map((b) => ({ ...b, collection: b.source.name })),
    );
    if (v.shards !== undefined) spec.shards = this.shards(v.shards, { doc, pointer: `${e.pointer}/shards` });
    this.built.materializations[e.name] = spec;
  }

  /**
   * Enabled bindings of one task must name different endpoint resources (resource-paths.ts; Estuary's
   * crates/validation capture.rs and materialization.rs: `BindingDuplicatesResource`).
   */
  private checkResourcePaths(
    e: Entity,
    endpoint: ConnectorEndpoint,
    what: 'capture' | 'materialization',
    bindings: { resource: Json; disable: boolean; collection: string }[],
  ): void {
    // Bindings of the task's value, by index (spec.bindings skips malformed ones).
    const raw = isObject(e.value) && Array.isArray(e.value.bindings) ? e.value.bindings : [];
    const indexes = raw.flatMap((b, i) =>
      isObject(b) && (what === 'materialization' || typeof b.target === 'string') ? [i] : [],
    );
    const seen = new Map<string, number>();
    bindings.forEach((b, j) => {
      if (b.disable) return;
      const path = resourcePath(endpoint.connector, b.resource, endpoint.config);
      if (!path) return;
      const key = JSON.stringify(path);
      const i = indexes[j] ?? j;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, i);
        return;
      }
      this.report.error(
        'DuplicateResource',
        { doc: e.file.doc, pointer: `${e.pointer}/bindings/${i}/resource` },
        `binding ${i} of ${what} \`${e.name}\` names the same ${endpoint.connector} resource (${path.map((p) => `\`${p}\``).join('.')}) as binding ${first}; each binding needs its own`,
      );
    });
  }

  // ---- Tests ----

  private async buildTest(e: Entity): Promise<void> {
    const v = e.value;
    const doc = e.file.doc;
    const list = Array.isArray(v) ? v : isObject(v) && Array.isArray(v.steps) ? v.steps : undefined;
    if (!list) return;
    const stepsPointer = Array.isArray(v) ? e.pointer : `${e.pointer}/steps`;
    const spec: TestSpec = {
      name: e.name,
      steps: [],
      source: locate({ doc, pointer: e.pointer, key: true }),
    };
    if (isObject(v) && typeof v.description === 'string') spec.description = v.description;

    for (const [i, raw] of list.entries()) {
      if (!isObject(raw)) continue;
      const kind = isObject(raw.ingest) ? 'ingest' : isObject(raw.verify) ? 'verify' : undefined;
      if (!kind) continue;
      const body = raw[kind] as JsonObject;
      const sp = `${stepsPointer}/${i}/${kind}`;
      const source: SourceLocation = locate({ doc, pointer: `${stepsPointer}/${i}`, key: false });
      const documents = await this.testDocuments(body.documents, e, { doc, pointer: `${sp}/documents` });
      const description = typeof body.description === 'string' ? body.description : undefined;
      let step: TestStep;
      if (kind === 'ingest') {
        const collection = typeof body.collection === 'string' ? body.collection : '';
        step = { kind, collection, documents: documents.map((d) => d.doc), source };
        if (collection) {
          const at: Where = { doc, pointer: `${sp}/collection` };
          if (this.collectionRef(collection, e.file, at, `step ${i} ingest`) && !e.tainted) {
            this.ingests.push({ collection, documents, test: e.name, step: i });
          }
        }
      } else {
        const collection = sourceRef(body.collection);
        step = { kind, collection, documents: documents.map((d) => d.doc), source };
        if (collection.name) {
          const at: Where = {
            doc,
            pointer: typeof body.collection === 'string' ? `${sp}/collection` : `${sp}/collection/name`,
          };
          const target = this.collectionRef(collection.name, e.file, at, `step ${i} verify`);
          if (target) this.checkSelector(collection, target, { doc, pointer: `${sp}/collection/partitions` });
          // Estuary's crates/validation test_step.rs: `TestStepNotBeforeAfter`.
          for (const bound of ['notBefore', 'notAfter'] as const) {
            if (collection[bound] === undefined) continue;
            this.report.error(
              'UnknownProperty',
              { doc, pointer: `${sp}/collection/${bound}`, key: true },
              `a test step reads the whole collection: \`${bound}\` is not allowed in tests (only \`name\` and \`partitions\`)`,
            );
          }
          if (target && !target.entity.tainted) {
            checkVerifyOrder(
              this.report,
              collection.name,
              target.spec.key,
              documents.filter((d) => isObject(d.doc)),
            );
          }
        }
      }
      if (description !== undefined) step.description = description;
      spec.steps.push(step);
    }
    this.built.tests[e.name] = spec;
  }

  /** Inline documents, or a fixture file (relative path) holding a list of documents. */
  private async testDocuments(
    value: Json | undefined,
    e: Entity,
    at: Where,
  ): Promise<{ doc: Json; at: Where }[]> {
    if (Array.isArray(value))
      return this.objectsOnly(
        value.map((doc, i) => ({ doc, at: { doc: at.doc, pointer: `${at.pointer}/${i}` } })),
      );
    if (typeof value !== 'string') return [];
    const path = this.resolveFileUrl(value, e.file.path, at, 'fixtures');
    const file = path === undefined ? undefined : await this.resources.dataFile(path, at, 'fixture file');
    if (!file) return [];
    if (!Array.isArray(file.value)) {
      this.report.error(
        'WrongType',
        { doc: file, pointer: '' },
        `a test fixture file must hold a list of documents; it holds ${describeJson(file.value)}`,
      );
      return [];
    }
    return this.objectsOnly(file.value.map((doc, i) => ({ doc, at: { doc: file, pointer: `/${i}` } })));
  }

  /**
   * Test documents are objects (Estuary's loader verifies a documents fixture to be "an array of
   * objects"; crates/validation test_step.rs relies on it): others are reported here (and not
   * validated against the schema again, checks.ts).
   */
  private objectsOnly(documents: { doc: Json; at: Where }[]): { doc: Json; at: Where }[] {
    documents.forEach(({ doc, at }, i) => {
      if (!isObject(doc))
        this.report.error(
          'WrongType',
          at,
          `test document ${i} must be an object; it is ${describeJson(doc)}`,
        );
    });
    return documents;
  }

  // ---- Storage mappings ----

  private buildStorageMappings(): void {
    const where = new Map<string, Where>();
    for (const file of this.files.values()) {
      const map = file.value.storageMappings;
      if (!isObject(map)) continue;
      for (const [prefix, def] of Object.entries(map)) {
        const at: Where = { doc: file.doc, pointer: `/storageMappings/${escapeToken(prefix)}`, key: true };
        const first = where.get(prefix);
        if (first) {
          this.report.error(
            'DuplicateName',
            at,
            `storage mapping \`${prefix}\` is already defined at ${showLocation(locate(first))}`,
          );
          continue;
        }
        where.set(prefix, at);
        const stores: StorageMapping['stores'] = [];
        for (const s of isObject(def) && Array.isArray(def.stores) ? def.stores : []) {
          if (!isObject(s) || typeof s.bucket !== 'string') continue;
          const store: StorageMapping['stores'][number] = { provider: 'S3', bucket: s.bucket };
          if (typeof s.prefix === 'string') store.prefix = s.prefix;
          if (typeof s.region === 'string') store.region = s.region;
          stores.push(store);
        }
        this.built.storageMappings[prefix] = { prefix, stores };
      }
    }
    const prefixes = [...where.keys()].sort();
    for (const a of prefixes) {
      for (const b of prefixes) {
        if (a === b || !b.startsWith(a)) continue;
        this.report.error(
          'StorageMappingOverlap',
          where.get(b)!,
          `storage mapping \`${b}\` overlaps \`${a}\` (${showLocation(locate(where.get(a)!))}): every collection must map to exactly one prefix`,
        );
      }
    }
  }

  // ---- Values ----

  /**
   * Estuary's shard template: `disable` and `logLevel` apply (infra: no function; its log level); the
   * others tune Estuary's shard runtime, which Lambda has no equivalent of: accepted with a warning.
   */
  private shards(value: Json, at: Where): Json {
    if (!isObject(value)) return value;
    for (const field of ['minTxnDuration', 'maxTxnDuration'])
      this.duration(value[field], { doc: at.doc, pointer: `${at.pointer}/${field}` });
    for (const field of Object.keys(value)) {
      if (SHARD_SETTINGS_APPLIED.has(field)) continue;
      this.report.warning(
        'ShardSettingIgnored',
        { doc: at.doc, pointer: `${at.pointer}/${escapeToken(field)}`, key: true },
        `\`shards.${field}\` is not applied: Lambda has no shard runtime to tune (the event-source mapping's batch size and window bound a transaction); \`disable\` and \`logLevel\` are applied`,
      );
    }
    return structuredClone(value);
  }

  /** Seconds of a duration string; undefined (and a diagnostic) when it does not parse. */
  private duration(value: Json | undefined, at: Where): number | undefined {
    if (typeof value !== 'string') return undefined;
    try {
      return parseDuration(value);
    } catch (err) {
      if (!(err instanceof DurationError)) throw err;
      this.report.error('InvalidDuration', at, err.message);
      return undefined;
    }
  }
}

/** A transform, binding or verify source: a name or `{name, partitions, notBefore, notAfter}`. */
function sourceRef(v: Json | undefined): SourceRef {
  if (typeof v === 'string') return { name: v };
  if (!isObject(v) || typeof v.name !== 'string') return { name: '' };
  const ref: SourceRef = { name: v.name };
  if (isObject(v.partitions)) ref.partitions = structuredClone(v.partitions) as PartitionSelector;
  if (typeof v.notBefore === 'string') ref.notBefore = v.notBefore;
  if (typeof v.notAfter === 'string') ref.notAfter = v.notAfter;
  return ref;
}

/** `an object`, `a string`, … (what a file holds, for messages). */
function describeJson(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Drops repeats (a schema file shared by collections is checked once per collection). */
function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const key = JSON.stringify([d.code, d.file, d.line, d.col, d.pointer, d.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function showLocation(l: SourceLocation): string {
  return `${relative(process.cwd(), l.file) || l.file}:${l.line}:${l.col}`;
}

async function defaultSchemaIndex(): Promise<SchemaIndexFactory> {
  const { sharedSchemaIndex } = await import('./schema-adapter.ts');
  return sharedSchemaIndex;
}
