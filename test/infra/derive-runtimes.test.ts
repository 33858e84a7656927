/**
 * What Estuary's `shards` and the derivation runtimes become on AWS (bundling skipped): a disabled task
 * deploys nothing, `logLevel` sets the function's log level, a SQLite derivation ships sql.js's WASM
 * and, like any stateful derivation, runs one invocation at a time.
 */
import { describe, expect, it } from 'vitest';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { fixtureCatalog } from './fixture.ts';
import { functionOfTask, synth } from './support.ts';

function withChanges(change: (c: BuiltCatalog) => void): BuiltCatalog {
  const c = fixtureCatalog();
  change(c);
  return c;
}

describe('Estuary shards on AWS', () => {
  it('a disabled capture, materialization or derivation has no function and no event-source mapping', () => {
    const before = synth(fixtureCatalog()).template;
    const { template } = synth(
      withChanges((c) => {
        c.captures['acme/pg'].shards = { disable: true };
        c.materializations['acme/to-dynamo'].shards = { disable: true, hotStandbys: 1 };
        c.collections['acme/totals'].derive!.shards = { disable: true };
      }),
    );
    const descriptions = (t: typeof template) =>
      Object.values(t.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Description as string);
    expect(descriptions(before)).toEqual(
      expect.arrayContaining([
        'Sluice capture:acme/pg',
        'Sluice materialization:acme/to-dynamo',
        'Sluice derivation:acme/totals',
      ]),
    );
    const after = descriptions(template);
    expect(after).not.toContain('Sluice capture:acme/pg');
    expect(after).not.toContain('Sluice materialization:acme/to-dynamo');
    expect(after).not.toContain('Sluice derivation:acme/totals');
    expect(after).toContain('Sluice capture:acme/ingest');
    // The persister of the derived collection stays: its stream still exists.
    expect(after).toContain('Sluice persister:acme/totals');
    const mappings = (t: typeof template) =>
      Object.keys(t.findResources('AWS::Lambda::EventSourceMapping')).length;
    expect(mappings(template)).toBe(mappings(before) - 2);
  });

  it('logLevel sets Powertools and Lambda application log levels; default INFO', () => {
    const { template } = synth(
      withChanges((c) => {
        c.collections['acme/totals'].derive!.shards = { logLevel: 'debug' };
      }),
    );
    const derive = functionOfTask(template, 'derivation:acme/totals').props;
    expect((derive.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_LOG_LEVEL).toBe(
      'DEBUG',
    );
    expect(derive.LoggingConfig).toMatchObject({ ApplicationLogLevel: 'DEBUG', LogFormat: 'JSON' });
    const ingest = functionOfTask(template, 'capture:acme/ingest').props;
    expect((ingest.Environment as { Variables: Record<string, string> }).Variables.POWERTOOLS_LOG_LEVEL).toBe(
      'INFO',
    );
  });
});

describe('derivation runtimes on AWS', () => {
  it('a SQLite derivation has no module, locates sql.js WASM beside its bundle, and runs one at a time', () => {
    const { template, stack } = synth(
      withChanges((c) => {
        const d = c.collections['acme/totals'].derive!;
        d.using = { sqlite: { migrations: ['create table t (id text primary key);'] } };
        d.stateful = true;
        for (const t of d.transforms) t.lambda = 'select $id;';
      }),
    );
    const fn = functionOfTask(template, 'derivation:acme/totals').props;
    const env = (fn.Environment as { Variables: Record<string, string> }).Variables;
    expect(env.SLUICE_SQLITE_WASM).toBe('/var/task/sql-wasm.wasm');
    expect(env.SLUICE_DERIVATION_MODULE).toBeUndefined();
    expect(fn.ReservedConcurrentExecutions).toBe(1);
    // The shipped catalog keeps the SQL (no module path to rewrite).
    expect(stack.flow.catalog.collections['acme/totals'].derive!.using).toEqual({
      sqlite: { migrations: ['create table t (id text primary key);'] },
    });
  });

  it('a stateless TypeScript derivation keeps unreserved concurrency; a stateful one gets 1', () => {
    const stateless = functionOfTask(synth(fixtureCatalog()).template, 'derivation:acme/totals').props;
    expect(stateless.ReservedConcurrentExecutions).toBeUndefined();
    const stateful = functionOfTask(
      synth(
        withChanges((c) => {
          c.collections['acme/totals'].derive!.stateful = true;
        }),
      ).template,
      'derivation:acme/totals',
    ).props;
    expect(stateful.ReservedConcurrentExecutions).toBe(1);
  });
});
