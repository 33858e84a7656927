/**
 * Runs a TypeScript derivation: the module named by `derive.using.typescript.module` exports
 * `class Derivation` with one method per transform (`fromOrders(read: {doc})` returns documents),
 * and optional `flush()` and `reset()`. Output documents are validated against the derived
 * collection's write schema here; reducing them by key is the caller's combiner's job.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuiltCatalog, CollectionSpec, TransformSpec } from '../catalog/model.ts';
import { transformMethodName } from '../catalog/names.ts';
import type { Json } from '../json/types.ts';
import type { CompiledSchema, SchemaRegistry } from '../schema/registry.ts';

/** What a derivation module instance looks like at run time. */
export interface DerivationInstance {
  [method: string]: unknown;
}

/** Module exports: at least `Derivation`, a class with a no-argument constructor. */
export interface DerivationModule {
  Derivation: new () => DerivationInstance;
}

export class DerivationError extends Error {
  readonly code: 'ModuleLoad' | 'MissingMethod' | 'TransformThrew' | 'BadOutput' | 'OutputSchemaViolation';
  readonly derivation: string;
  readonly transform?: string;
  readonly sourceIndex?: number;

  constructor(
    code: DerivationError['code'],
    derivation: string,
    message: string,
    opts: { transform?: string; sourceIndex?: number; cause?: unknown } = {},
  ) {
    const where = opts.transform ? ` transform ${opts.transform}` : '';
    const at = opts.sourceIndex !== undefined ? ` (source document ${opts.sourceIndex})` : '';
    super(`derivation ${derivation}${where}${at}: ${message}`, { cause: opts.cause });
    this.name = 'DerivationError';
    this.code = code;
    this.derivation = derivation;
    this.transform = opts.transform;
    this.sourceIndex = opts.sourceIndex;
  }
}

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
  private instance: DerivationInstance;
  private readonly module: DerivationModule;
  private readonly output: CompiledSchema;
  private readonly transforms: Map<string, TransformSpec>;

  private constructor(collection: CollectionSpec, module: DerivationModule, registry: SchemaRegistry) {
    this.collection = collection;
    this.module = module;
    this.output = registry.validator(collection.writeSchema);
    this.transforms = new Map((collection.derive?.transforms ?? []).map((t) => [t.name, t]));
    this.instance = this.instantiate();
    for (const t of this.transforms.values()) {
      const method = transformMethodName(t.name);
      if (typeof this.instance[method] !== 'function') {
        throw new DerivationError(
          'MissingMethod',
          collection.name,
          `class Derivation has no method \`${method}\` for transform ${t.name}`,
          { transform: t.name },
        );
      }
    }
  }

  /**
   * Build a runner for a derived collection from its loaded module: on Lambda the bundled module
   * (importBundledModule); in `sluice test` and tests the catalog's TypeScript, built on the fly
   * (load-module.ts `createDerivationRunner`), which is kept out of this file so Lambda bundles never
   * carry esbuild.
   */
  static async create(
    catalog: BuiltCatalog,
    registry: SchemaRegistry,
    collectionName: string,
    module: DerivationModule,
  ): Promise<DerivationRunner> {
    const collection = catalog.collections[collectionName];
    if (!collection?.derive) throw new Error(`${collectionName} is not a derived collection`);
    return new DerivationRunner(collection, module, registry);
  }

  transform(name: string): TransformSpec {
    const t = this.transforms.get(name);
    if (!t) throw new Error(`derivation ${this.collection.name} has no transform ${name}`);
    return t;
  }

  /** Run one transform over source documents, in order. Returns the validated output documents. */
  async onSource(transformName: string, docs: Json[], firstIndex = 0): Promise<Json[]> {
    this.transform(transformName);
    const method = this.instance[transformMethodName(transformName)] as (read: { doc: Json }) => unknown;
    const out: Json[] = [];
    for (let i = 0; i < docs.length; i++) {
      let result: unknown;
      try {
        result = await method.call(this.instance, { doc: docs[i] });
      } catch (err) {
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

  /** Call the optional `flush()` at the end of a transaction; its documents are validated too. */
  async flush(): Promise<Json[]> {
    const flush = this.instance.flush;
    if (typeof flush !== 'function') return [];
    const out: Json[] = [];
    let result: unknown;
    try {
      result = await flush.call(this.instance);
    } catch (err) {
      throw new DerivationError('TransformThrew', this.collection.name, `flush() threw: ${describe(err)}`, {
        cause: err,
      });
    }
    this.collect(result ?? [], out, 'flush', undefined);
    return out;
  }

  /** Reset derivation state (between catalog test cases): `reset()` when defined, else a new instance. */
  async reset(): Promise<void> {
    const reset = this.instance.reset;
    if (typeof reset === 'function') await reset.call(this.instance);
    else this.instance = this.instantiate();
  }

  private instantiate(): DerivationInstance {
    try {
      return new this.module.Derivation();
    } catch (err) {
      throw new DerivationError(
        'ModuleLoad',
        this.collection.name,
        `new Derivation() threw: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
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
          `output document ${j} does not match the schema of ${this.collection.name}: ${v.instancePath || '/'}: ${v.message} (keyword "${v.keyword}"); document: ${truncate(JSON.stringify(doc))}`,
          { transform, sourceIndex },
        );
      }
      out.push(doc);
    }
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function truncate(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
