/**
 * Runs a derivation's transforms through its engine (engine.ts): a TypeScript module's
 * `class Derivation` (typescript-engine.ts) or a SQLite database (sqlite/engine.ts). Output documents
 * are validated against the derived collection's write schema here; reducing them by key is the
 * caller's combiner's job. State (`startCommit`, `open`) passes through to the engine.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuiltCatalog, type CollectionSpec, sqliteOf, type TransformSpec } from '../catalog/model.ts';
import { valuesInErrors } from '../config/debug-values.ts';
import type { Json } from '../json/types.ts';
import type { CompiledSchema, SchemaRegistry } from '../schema/registry.ts';
import type { DerivationEngine, DerivationState } from './engine.ts';
import { DerivationError, describe } from './errors.ts';
import { SqliteEngine } from './sqlite/engine.ts';
import { loadSqlJs } from './sqlite/sql-js.ts';
import { type DerivationModule, TypescriptEngine } from './typescript-engine.ts';

export type { DerivationState } from './engine.ts';
export { DerivationError, describe } from './errors.ts';
export type { DerivationInstance, DerivationModule } from './typescript-engine.ts';

/**
 * Import an already bundled derivation module (the `.mjs` shipped next to a Lambda bundle) plainly: no
 * build step at run time, so nothing but the bundle itself is needed where it runs.
 */
export async function importBundledModule(file: string, derivation: string): Promise<DerivationModule> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (err) {
    throw new DerivationError('ModuleLoad', derivation, `cannot load module ${file}: ${describe(err)}`, {
      cause: err,
    });
  }
  return checkDerivationModule(mod, file, derivation);
}

/** The module must export `class Derivation`. */
export function checkDerivationModule(
  mod: Record<string, unknown>,
  modulePath: string,
  derivation: string,
): DerivationModule {
  if (typeof mod.Derivation !== 'function') {
    const found = Object.keys(mod).join(', ') || 'nothing';
    throw new DerivationError(
      'ModuleLoad',
      derivation,
      `module ${modulePath} must export \`class Derivation\`; it exports ${found}`,
    );
  }
  return mod as unknown as DerivationModule;
}

export class DerivationRunner {
  readonly collection: CollectionSpec;
  /** Committed state is loaded and stored with the checkpoint (DeriveSpec.stateful). */
  readonly stateful: boolean;
  private readonly output: CompiledSchema;
  private readonly transforms: Map<string, TransformSpec>;

  private constructor(
    collection: CollectionSpec,
    private readonly engine: DerivationEngine,
    registry: SchemaRegistry,
  ) {
    this.collection = collection;
    this.stateful = collection.derive?.stateful === true;
    this.output = registry.validator(collection.writeSchema);
    this.transforms = new Map((collection.derive?.transforms ?? []).map((t) => [t.name, t]));
    engine.check([...this.transforms.values()].filter((t) => !t.disable));
  }

  /**
   * Build a runner for a derived collection. A TypeScript derivation takes its loaded module: on Lambda
   * the bundled module (importBundledModule); in `sluice test` and tests the catalog's TypeScript, built
   * on the fly (load-module.ts `createDerivationRunner`, kept out of this file so Lambda bundles never
   * carry esbuild). A SQLite derivation needs no module.
   */
  static async create(
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    collectionName: string,
    module?: DerivationModule,
  ): Promise<DerivationRunner> {
    const collection = catalog.collections[collectionName];
    if (!collection?.derive) throw new Error(`${collectionName} is not a derived collection`);
    const sqlite = sqliteOf(collection.derive);
    let engine: DerivationEngine;
    if (sqlite) {
      engine = await new SqliteEngine(
        await loadSqlJs(),
        collectionName,
        sqlite.migrations,
        collection.derive.transforms,
        catalog.collections,
        registry,
      ).init();
    } else {
      if (!module) throw new Error(`derivation ${collectionName} needs its TypeScript module`);
      engine = new TypescriptEngine(module, collectionName);
    }
    return new DerivationRunner(collection, engine, registry);
  }

  transform(name: string): TransformSpec {
    const t = this.transforms.get(name);
    if (!t) throw new Error(`derivation ${this.collection.name} has no transform ${name}`);
    return t;
  }

  /** Run one transform over source documents, in order. Returns the validated output documents. */
  async onSource(transformName: string, docs: Json[], firstIndex = 0): Promise<Json[]> {
    const t = this.transform(transformName);
    const out: Json[] = [];
    for (let i = 0; i < docs.length; i++) {
      let result: unknown;
      try {
        result = await this.engine.read(t, docs[i]);
      } catch (err) {
        if (err instanceof DerivationError) throw err;
        throw new DerivationError('TransformThrew', this.collection.name, `threw: ${describe(err)}`, {
          transform: transformName,
          sourceIndex: firstIndex + i,
          cause: err,
        });
      }
      this.collect(result, out, transformName, firstIndex + i);
    }
    return out;
  }

  /** End of a transaction (`flush()`): its documents are validated too. */
  async flush(): Promise<Json[]> {
    const out: Json[] = [];
    this.collect((await this.engine.flush()) ?? [], out, 'flush', undefined);
    return out;
  }

  /** The state to commit with this transaction's checkpoint (undefined: none kept). */
  startCommit(): Promise<DerivationState | undefined> {
    return this.engine.startCommit();
  }

  /** Start over from committed state (undefined: as never run). */
  open(state: DerivationState | undefined): Promise<void> {
    return this.engine.open(state);
  }

  /** Reset derivation state (between catalog test cases). */
  reset(): Promise<void> {
    return this.engine.reset();
  }

  private collect(result: unknown, out: Json[], transform: string, sourceIndex: number | undefined): void {
    if (!Array.isArray(result)) {
      throw new DerivationError(
        'BadOutput',
        this.collection.name,
        `must return an array of documents, returned ${result === null ? 'null' : typeof result}`,
        { transform, sourceIndex },
      );
    }
    for (let j = 0; j < result.length; j++) {
      const doc = result[j] as Json;
      const violations = this.output.validate(doc);
      if (violations.length > 0) {
        const v = violations[0];
        throw new DerivationError(
          'OutputSchemaViolation',
          this.collection.name,
          `output document ${j} does not match the schema of ${this.collection.name}: ${v.instancePath || '/'}: ${v.message} (keyword "${v.keyword}")${
            // Errors name where and which rule, never the values, unless asked (docs/security.md).
            valuesInErrors() ? `; document: ${truncate(JSON.stringify(doc))}` : ''
          }`,
          { transform, sourceIndex },
        );
      }
      out.push(doc);
    }
  }
}

function truncate(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
