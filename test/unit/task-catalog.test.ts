/**
 * Each function ships only its own task's part of the catalog (issue 10, item 2): its own endpoint
 * config, the collections it reads or writes and their schemas (with what they `$ref`); secrets stay
 * references resolved at run time (require_auth_token included); files staged at synth are private.
 */
import { describe, expect, it } from 'vitest';
import { MemoryJournal } from '../../shared/adapters/memory.ts';
import { HttpIngestCapture } from '../../shared/capture/http-ingest.ts';
import { type BuiltCatalog, typescriptOf } from '../../shared/catalog/model.ts';
import { mergeTaskCatalogs, TaskCatalogError, taskCatalog } from '../../shared/catalog/task-catalog.ts';
import { resolveEndpointSecrets } from '../../shared/connectors/config.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { fixtureCatalog, loc } from '../infra/fixture.ts';

const names = (o: object) => Object.keys(o).sort();

describe('taskCatalog', () => {
  const cat = fixtureCatalog();

  it('a capture ships its own spec and its target collection, never another task or its credentials', () => {
    const c = taskCatalog(cat, { kind: 'capture', name: 'acme/ingest' });
    expect(names(c.captures)).toEqual(['acme/ingest']);
    expect(names(c.materializations)).toEqual([]);
    expect(names(c.collections)).toEqual(['acme/events']);
    expect(names(c.schemas)).toEqual(['file:///cat/events.schema.json']);
    expect(JSON.stringify(c)).not.toContain('secretsmanager:prod/pg');
    expect(c.tests).toEqual({});
  });

  it('the PostgreSQL capture keeps its own secret as a reference', () => {
    const c = taskCatalog(cat, { kind: 'capture', name: 'acme/pg' });
    expect(c.captures['acme/pg'].endpoint.config).toMatchObject({
      password: 'secretsmanager:prod/pg#password',
    });
    expect(names(c.collections)).toEqual(['acme/orders']);
  });

  it('a materialization ships its sources without their derivation; a derivation its own and its sources', () => {
    const m = taskCatalog(cat, { kind: 'materialization', name: 'acme/to-dynamo' });
    expect(names(m.materializations)).toEqual(['acme/to-dynamo']);
    expect(names(m.captures)).toEqual([]);
    expect(names(m.collections)).toEqual(['acme/totals']);
    expect(m.collections['acme/totals'].derive).toBeUndefined();
    const d = taskCatalog(cat, { kind: 'derivation', name: 'acme/totals' });
    expect(names(d.collections)).toEqual(['acme/events', 'acme/totals']);
    expect(typescriptOf(d.collections['acme/totals'].derive)?.module).toBe('/cat/totals.ts');
    expect(names(d.captures)).toEqual([]);
    expect(names(d.schemas)).toEqual(['file:///cat/events.schema.json', 'file:///cat/totals.schema.json']);
  });

  it('a persister ships its collection and the storage mappings (where its fragments go)', () => {
    const p = taskCatalog(cat, { kind: 'persister', name: 'acme/events' });
    expect(names(p.collections)).toEqual(['acme/events']);
    expect(names(p.captures)).toEqual([]);
    expect(p.storageMappings).toEqual(cat.storageMappings);
  });

  it('schemas referenced across documents come along, transitively; unrelated ones do not', () => {
    const base = fixtureCatalog();
    const a = 'file:///cat/a.schema.json';
    const b = 'file:///cat/defs/b.schema.json';
    const c = 'file:///cat/defs/c.schema.json';
    const cat2: BuiltCatalog = {
      ...base,
      schemas: {
        ...base.schemas,
        [a]: { $id: a, type: 'object', properties: { x: { $ref: 'defs/b.schema.json#/$defs/x' } } },
        [b]: { $id: b, $defs: { x: { $ref: 'c.schema.json' } } },
        [c]: { $id: c, type: 'string' },
      },
      collections: {
        ...base.collections,
        'acme/events': { ...base.collections['acme/events'], writeSchema: a, readSchema: a },
      },
    };
    const p = taskCatalog(cat2, { kind: 'persister', name: 'acme/events' });
    expect(names(p.schemas)).toEqual([a, b, c]);
    // The shipped schemas still compile and validate on their own.
    const registry = new SchemaRegistry(p.schemas);
    expect(registry.validator(a).isValid({ x: 'ok' })).toBe(true);
    expect(registry.validator(a).isValid({ x: 1 })).toBe(false);
  });

  it('the parts of every task put back together give every collection, capture and materialization (sluice dev --assembly)', () => {
    const parts = [
      ...Object.keys(cat.captures).map((name) => taskCatalog(cat, { kind: 'capture', name })),
      ...Object.keys(cat.materializations).map((name) => taskCatalog(cat, { kind: 'materialization', name })),
      ...Object.keys(cat.collections).map((name) => taskCatalog(cat, { kind: 'persister', name })),
      taskCatalog(cat, { kind: 'derivation', name: 'acme/totals' }),
    ];
    const merged = mergeTaskCatalogs(parts);
    expect(names(merged?.collections ?? {})).toEqual(names(cat.collections));
    expect(names(merged?.captures ?? {})).toEqual(names(cat.captures));
    expect(names(merged?.materializations ?? {})).toEqual(names(cat.materializations));
    expect(merged?.collections['acme/totals'].derive).toBeDefined();
    expect(mergeTaskCatalogs([])).toBeUndefined();
  });

  it('an unknown task is an error naming it', () => {
    expect(() => taskCatalog(cat, { kind: 'capture', name: 'nope' })).toThrow(TaskCatalogError);
    expect(() => taskCatalog(cat, { kind: 'derivation', name: 'acme/events' })).toThrow(
      /no derivation named acme\/events/,
    );
  });
});

describe('secrets stay references until run time', () => {
  it('require_auth_token given as a reference is resolved for the ingest task, never taken literally', async () => {
    process.env.SLUICE_TEST_INGEST_TOKEN = 'tok-from-env';
    const base = fixtureCatalog();
    const spec = {
      ...base.captures['acme/ingest'],
      endpoint: {
        ...base.captures['acme/ingest'].endpoint,
        config: { require_auth_token: 'env:SLUICE_TEST_INGEST_TOKEN' },
      },
      source: loc('/captures/acme~1ingest'),
    };
    const resolved = await resolveEndpointSecrets(spec);
    expect(resolved.endpoint.config).toEqual({ require_auth_token: 'tok-from-env' });
    expect(spec.endpoint.config).toEqual({ require_auth_token: 'env:SLUICE_TEST_INGEST_TOKEN' });
    const journal = new MemoryJournal();
    journal.ensure('acme/events');
    const cap = new HttpIngestCapture(resolved, base, new SchemaRegistry(base.schemas), journal);
    const post = (token: string) =>
      cap.handle({
        method: 'POST',
        path: '/acme/ingest/events',
        headers: { authorization: `Bearer ${token}` },
        query: {},
        body: Buffer.from('{"id":"1","user":"u"}'),
      });
    expect((await post('env:SLUICE_TEST_INGEST_TOKEN')).status).toBe(403); // a wrong token (Estuary's 403)
    expect((await post('tok-from-env')).status).toBe(200);
  });
});
