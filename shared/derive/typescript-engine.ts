/**
 * A TypeScript derivation: the module's `class Derivation`, constructed as Estuary's runtime does,
 * `new Derivation({ state })` with the committed connector state (`{}` before any commit). One method
 * per transform; optional `flush()` (returning documents, or Estuary's newer `{published, state}`),
 * `startCommit({runtimeCheckpoint})` returning `{state?: {updated, mergePatch}}`, and `reset()`.
 * Sluice's older module shape (a no-argument constructor, no state) works unchanged.
 */
import type { TransformSpec } from '../catalog/model.ts';
import { transformMethodName } from '../catalog/names.ts';
import type { Json } from '../json/types.ts';
import { applyStateUpdate, type DerivationEngine, type DerivationState } from './engine.ts';
import { DerivationError, describe } from './errors.ts';

/** What a derivation module instance looks like at run time. */
export interface DerivationInstance {
  [method: string]: unknown;
}

/** Module exports: at least `Derivation`, a class constructed with Estuary's `open` (`{state}`). */
export interface DerivationModule {
  Derivation: new (open: { state: unknown }) => DerivationInstance;
}

export class TypescriptEngine implements DerivationEngine {
  private instance: DerivationInstance;
  /** The connector state as committed plus the updates returned since. */
  private state: Json = {};
  private updated = false;

  constructor(
    private readonly module: DerivationModule,
    private readonly derivation: string,
  ) {
    this.instance = this.instantiate();
  }

  check(transforms: TransformSpec[]): void {
    for (const t of transforms) {
      const method = transformMethodName(t.name);
      if (typeof this.instance[method] !== 'function') {
        throw new DerivationError(
          'MissingMethod',
          this.derivation,
          `class Derivation has no method \`${method}\` for transform ${t.name}`,
          { transform: t.name },
        );
      }
    }
  }

  read(transform: TransformSpec, doc: Json): Promise<unknown> {
    const method = this.instance[transformMethodName(transform.name)] as (read: { doc: Json }) => unknown;
    return Promise.resolve(method.call(this.instance, { doc }));
  }

  async flush(): Promise<unknown> {
    const flush = this.instance.flush;
    if (typeof flush !== 'function') return [];
    let result: unknown;
    try {
      result = await flush.call(this.instance);
    } catch (err) {
      throw new DerivationError('TransformThrew', this.derivation, `flush() threw: ${describe(err)}`, {
        cause: err,
      });
    }
    if (result === undefined || result === null) return [];
    if (Array.isArray(result)) return result;
    // Estuary's FlushResponse: {published?, state?, more?}.
    const r = result as { published?: unknown; state?: unknown; more?: unknown };
    if (r.more === true) {
      // Estuary would call flush() again (a scatter/gather round across shards); silently publishing
      // this round only would lose the rest.
      throw new DerivationError(
        'BadOutput',
        this.derivation,
        'flush() returned `more: true`: further flush iterations (scatter/gather across shards) are not supported; publish everything in one flush() and return `more: false` or a Document[]',
      );
    }
    if (r.state !== undefined) this.apply(r.state, 'flush()');
    return r.published ?? [];
  }

  async startCommit(): Promise<DerivationState | undefined> {
    const start = this.instance.startCommit;
    if (typeof start === 'function') {
      let result: unknown;
      try {
        result = await start.call(this.instance, { runtimeCheckpoint: {} });
      } catch (err) {
        throw new DerivationError(
          'TransformThrew',
          this.derivation,
          `startCommit() threw: ${describe(err)}`,
          {
            cause: err,
          },
        );
      }
      const state = (result as { state?: unknown } | undefined)?.state;
      if (state !== undefined) this.apply(state, 'startCommit()');
    }
    if (!this.updated && typeof start !== 'function') return undefined;
    this.updated = false;
    return { kind: 'json', json: this.state };
  }

  async open(state: DerivationState | undefined): Promise<void> {
    this.state = state?.kind === 'json' ? state.json : {};
    this.updated = false;
    this.instance = this.instantiate();
  }

  /** `reset()` when the module has one (Estuary's contract: forget all state); else a new instance. */
  async reset(): Promise<void> {
    this.state = {};
    this.updated = false;
    const reset = this.instance.reset;
    if (typeof reset === 'function') await reset.call(this.instance);
    else this.instance = this.instantiate();
  }

  private apply(update: unknown, from: string): void {
    try {
      this.state = applyStateUpdate(this.state, update);
      // Committed state is JSON: a value that does not survive JSON is an error now, not at restore.
      this.state = JSON.parse(JSON.stringify(this.state)) as Json;
      this.updated = true;
    } catch (err) {
      throw new DerivationError(
        'StateInvalid',
        this.derivation,
        `${from} returned a state update that is not JSON: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  private instantiate(): DerivationInstance {
    try {
      return new this.module.Derivation({ state: structuredClone(this.state) });
    } catch (err) {
      throw new DerivationError(
        'ModuleLoad',
        this.derivation,
        `new Derivation({state}) threw: ${describe(err)}`,
        {
          cause: err,
        },
      );
    }
  }
}
