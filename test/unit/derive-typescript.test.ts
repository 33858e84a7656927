// Estuary's TypeScript module conventions: `flow/` imports through a deno.json import map (or the
// default `flow_generated/typescript/`), `typescript.files`, inline modules, and the runtime protocol
// (`new Derivation({state})`, `flush()` returning Estuary's `{published, state}`).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { typescriptOf } from '../../shared/catalog/model.ts';
import { createDerivationRunner, importDerivationModule } from '../../shared/derive/load-module.ts';
import { DeriveTask } from '../../shared/derive/task.ts';
import { explicitHashKey } from '../../shared/keys/hash.ts';
import { packKey } from '../../shared/keys/pack.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { TestRunner } from '../../shared/testing/runner.ts';
import { freePort } from '../support/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'sluice-ts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, files: Record<string, string>): string {
  for (const [f, text] of Object.entries(files)) {
    const p = join(dir, name, f);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return join(dir, name, 'flow.yaml');
}

const COLLECTIONS = `
collections:
  acme/in:
    schema: { type: object, properties: { id: { type: integer } }, required: [id] }
    key: [/id]
  acme/out:
    schema: { type: object, properties: { id: { type: integer }, label: { type: string } }, required: [id] }
    key: [/id]
    derive:
      using:
        typescript: USING
      transforms:
        - { name: fromIn, source: acme/in, shuffle: any }
`;

describe('TypeScript modules in Estuary style', () => {
  it('typescript.files: the module and the deno.json whose import map points flow/ (and more) elsewhere', async () => {
    const root = write('files', {
      'flow.yaml': COLLECTIONS.replace('USING', '{ files: [deno.json, out/mod.ts] }'),
      'deno.json': JSON.stringify({
        imports: { 'flow/': './types/', 'labels/': './lib/', lodash: 'npm:lodash@4' },
      }),
      'types/acme/out.ts': 'export type Document = { id: number; label?: string };\n',
      'lib/label.ts': "export const label = (n: number): string => '#' + n;\n",
      'out/mod.ts': [
        "import type { Document } from 'flow/acme/out.ts';",
        "import { label } from 'labels/label.ts';",
        'export class Derivation {',
        '  fromIn(read: { doc: { id: number } }): Document[] {',
        '    return [{ id: read.doc.id, label: label(read.doc.id) }];',
        '  }',
        '}',
        '',
      ].join('\n'),
    });
    const { catalog, diagnostics } = await loadCatalog(root);
    // An npm: entry of the import map names a registry Sluice does not read: said so, the rest works.
    expect(diagnostics.map((d) => d.code)).toEqual(['ImportMapIgnored']);
    expect(typescriptOf(catalog!.collections['acme/out'].derive)?.module).toBe(
      join(dir, 'files', 'out', 'mod.ts'),
    );
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(await runner.onSource('fromIn', [{ id: 7 }])).toEqual([{ id: 7, label: '#7' }]);
  });

  it('an inline module importing flow/ resolves to flow_generated/typescript/ beside the root catalog', async () => {
    const inline = [
      '',
      '          module: |',
      "            import type { Document } from 'flow/acme/out.ts';",
      '            export class Derivation {',
      "              fromIn(read: { doc: { id: number } }): Document[] { return [{ id: read.doc.id, label: 'inline' }]; }",
      '            }',
    ].join('\n');
    const root = write('inline', {
      'flow.yaml': COLLECTIONS.replace(' USING', inline),
      'flow_generated/typescript/acme/out.ts': 'export type Document = { id: number; label?: string };\n',
    });
    const { catalog, diagnostics } = await loadCatalog(root);
    expect(diagnostics).toEqual([]);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    expect(await runner.onSource('fromIn', [{ id: 1 }])).toEqual([{ id: 1, label: 'inline' }]);
  });

  it('an output that fails the schema is said by pointer and rule; its values only when asked (SLUICE_LOG_VALUES=1)', async () => {
    const inline = [
      '',
      '          module: |',
      '            export class Derivation {',
      "              fromIn(read: { doc: { id: number } }): unknown[] { return [{ id: read.doc.id, label: 42, secret: 'pii-value' }]; }",
      '            }',
    ].join('\n');
    const root = write('bad-output', { 'flow.yaml': COLLECTIONS.replace(' USING', inline) });
    const { catalog } = await loadCatalog(root, { typeCheckModules: false });
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    const message = async () => {
      try {
        await runner.onSource('fromIn', [{ id: 1 }]);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    const quiet = await message();
    expect(quiet).toContain('output document 0 does not match the schema of acme/out: /label');
    // It quoted the whole document whatever the setting, on AWS too.
    expect(quiet).not.toContain('pii-value');
    process.env.SLUICE_LOG_VALUES = '1';
    try {
      expect(await message()).toContain('pii-value');
    } finally {
      delete process.env.SLUICE_LOG_VALUES;
    }
  });

  it("flush() may return Estuary's {published, state}: documents published, state committed and reopened", async () => {
    const root = write('flush', {
      'flow.yaml': COLLECTIONS.replace('USING', '{ module: mod.ts }'),
      'mod.ts': [
        'export class Derivation {',
        '  seen: number;',
        '  batch: number[] = [];',
        '  constructor(open: { state: unknown }) { this.seen = (open.state as { seen?: number }).seen ?? 0; }',
        '  fromIn(read: { doc: { id: number } }) { this.batch.push(read.doc.id); return []; }',
        '  async flush() {',
        '    this.seen += this.batch.length;',
        "    const published = this.batch.map((id) => ({ id, label: 'after ' + this.seen }));",
        '    this.batch = [];',
        '    return { published, state: { updated: { seen: this.seen }, mergePatch: false } };',
        '  }',
        '}',
        '',
      ].join('\n'),
    });
    const { catalog, diagnostics } = await loadCatalog(root);
    expect(diagnostics).toEqual([]);
    // A constructor taking `open` makes it stateful: its state commits with the checkpoint.
    expect(catalog!.collections['acme/out'].derive!.stateful).toBe(true);
    const journal = new MemoryJournal({ shards: 1 });
    for (const c of Object.keys(catalog!.collections)) journal.ensure(c);
    const state = new MemoryStateStore();
    const task = async () =>
      new DeriveTask(
        catalog!.collections['acme/out'],
        await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out'),
        journal,
        catalog!,
        { derivationState: state },
      );
    const ingest = async (ids: number[]) => {
      const before = journal.allRecords('acme/in').length;
      await journal.append(
        'acme/in',
        ids.map((id) => ({ hashKey: explicitHashKey(packKey([id])), doc: { id } })),
      );
      return decodeRecords('acme/in', journal.allRecords('acme/in').slice(before));
    };
    const first = await ingest([1, 2]);
    // A crash before the commit: the replay re-publishes flush()'s documents with the same origins and
    // uuids, so downstream drops them as copies.
    const failing = await task();
    const commit = state.commitDerivationState.bind(state);
    state.commitDerivationState = async () => {
      throw new Error('crash before the manifest write');
    };
    await expect(failing.onBatch(first)).rejects.toThrow('crash');
    state.commitDerivationState = commit;
    await (await task()).onBatch(first);
    const published = decodeRecords('acme/out', journal.allRecords('acme/out')).docs;
    expect(published).toHaveLength(4);
    expect(published.slice(2).map((d) => [d.source, d.position, d.doc])).toEqual(
      published.slice(0, 2).map((d) => [d.source, d.position, d.doc]),
    );
    expect(published.every((d) => d.hasOrigin)).toBe(true);
    expect((await state.loadDerivationState('derivation:acme/out'))!.json).toEqual({ seen: 2 });
    // A cold start reopens with the committed state.
    await (await task()).onBatch(await ingest([3]));
    expect(
      decodeRecords('acme/out', journal.allRecords('acme/out'))
        .docs.slice(2)
        .map((d) => d.doc),
    ).toEqual([
      expect.objectContaining({ id: 1, label: 'after 2' }),
      expect.objectContaining({ id: 2, label: 'after 2' }),
      expect.objectContaining({ id: 3, label: 'after 3' }),
    ]);
  });

  it('flow/<collection>.ts resolves with no flow_generated/ on disk, and a stale generated copy is not read', async () => {
    // Estuary's connector writes a derivation's types itself when it builds or runs it, so a project
    // with a git-ignored flow_generated/ checks and tests as it is. The module extends the generated
    // IDerivation (a class: it must exist at run time, not only for the type check).
    const project = (stale: boolean): Record<string, string> => ({
      'flow.yaml': `${COLLECTIONS.replace('USING', '{ files: [deno.json, out/mod.ts] }')}
tests:
  acme/labels:
    - ingest: { collection: acme/in, documents: [{ id: 7 }] }
    - verify: { collection: acme/out, documents: [{ id: 7, label: 'no. 7' }] }
`,
      'deno.json': JSON.stringify({ imports: { 'flow/': './flow_generated/typescript/' } }),
      'out/mod.ts': [
        "import { IDerivation, Document, SourceFromIn } from 'flow/acme/out.ts';",
        'export class Derivation extends IDerivation {',
        '  fromIn(read: { doc: SourceFromIn }): Document[] {',
        "    return [{ id: read.doc.id, label: 'no. ' + read.doc.id }];",
        '  }',
        '}',
        '',
      ].join('\n'),
      // What `sluice generate` wrote before `label` became a string: Estuary would not read it.
      ...(stale
        ? {
            'flow_generated/typescript/acme/out.ts': [
              'export type Document = { id: number; label?: number };',
              'export type SourceFromIn = { id: number };',
              'export abstract class IDerivation { abstract fromIn(read: { doc: SourceFromIn }): Document[]; }',
              '',
            ].join('\n'),
          }
        : {}),
    });
    for (const stale of [false, true]) {
      const root = write(stale ? 'generated-stale' : 'generated-absent', project(stale));
      const { catalog, diagnostics } = await loadCatalog(root, { typeCheckModules: true });
      expect(diagnostics).toEqual([]);
      const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
      const result = await runner.run(catalog!.tests['acme/labels']);
      expect([result.failure?.message, result.failure?.diff]).toEqual([undefined, undefined]);
    }
  });

  it('a remote (https) import that cannot be fetched is reported at the import, by the check and by the loader', async () => {
    // Estuary's examples/stock-stats/flow.ts imports momentjs from deno.land; here nothing answers.
    const port = await freePort();
    const root = write('remote-import', {
      'flow.yaml': COLLECTIONS.replace('USING', '{ module: mod.ts }'),
      'mod.ts': [
        'export class Derivation {',
        '  fromIn(read: { doc: { id: number } }) { return [{ id: read.doc.id, label: pad(read.doc.id) }]; }',
        '}',
        `import { pad } from 'https://127.0.0.1:${port}/x/pad.ts';`,
        '',
      ].join('\n'),
    });
    const { diagnostics } = await loadCatalog(root);
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({
      code: 'RemoteFetchFailed',
      severity: 'error',
      file: join(dir, 'remote-import', 'mod.ts'),
      line: 4,
      col: 21,
    });
    expect(diagnostics[0].message).toBe(
      `cannot fetch remote import \`https://127.0.0.1:${port}/x/pad.ts\` (ECONNREFUSED) and no copy is cached in ${join(dir, 'remote-import', '.sluice', 'remote', 'modules')}`,
    );
    // The loader (sluice test) never fetches: it says so at the import, rather than Node's URL-scheme error.
    await expect(importDerivationModule(join(dir, 'remote-import', 'mod.ts'), 'acme/out')).rejects.toThrow(
      new RegExp(
        `mod\\.ts:4:21: remote import \`https://127\\.0\\.0\\.1:${port}/x/pad\\.ts\` is not fetched`,
      ),
    );
  });

  it('flush() returning `more: true` fails loudly: Sluice runs one flush per transaction', async () => {
    const root = write('flush-more', {
      'flow.yaml': COLLECTIONS.replace('USING', '{ module: mod.ts }'),
      'mod.ts': [
        'export class Derivation {',
        '  fromIn(read: { doc: { id: number } }) { return [{ id: read.doc.id }]; }',
        '  async flush() { return { published: [], more: true }; }',
        '}',
        '',
      ].join('\n'),
    });
    const { catalog } = await loadCatalog(root);
    const runner = await createDerivationRunner(catalog!, new SchemaRegistry(catalog!.schemas), 'acme/out');
    await runner.onSource('fromIn', [{ id: 1 }]);
    await expect(runner.flush()).rejects.toThrow(/more: true.*not supported/);
  });

  it("sluice test commits each transaction: startCommit is called after flush, as Estuary's runner does", async () => {
    // The module counts documents per transaction and clears its count in startCommit: without the
    // commit, the second transaction (a verify settles the first) would report 3 instead of 1.
    const root = write('commit', {
      'flow.yaml': `${COLLECTIONS.replace('USING', '{ module: mod.ts }')}
tests:
  acme/t:
    - ingest: { collection: acme/in, documents: [{ id: 1 }, { id: 2 }] }
    - verify: { collection: acme/out, documents: [{ id: 1, label: '2 in txn' }, { id: 2, label: '2 in txn' }] }
    - ingest: { collection: acme/in, documents: [{ id: 3 }] }
    - verify:
        collection: acme/out
        documents: [{ id: 1, label: '2 in txn' }, { id: 2, label: '2 in txn' }, { id: 3, label: '1 in txn' }]
`,
      'mod.ts': [
        'export class Derivation {',
        '  ids: number[] = [];',
        '  fromIn(read: { doc: { id: number } }) { this.ids.push(read.doc.id); return []; }',
        "  async flush() { return this.ids.map((id) => ({ id, label: this.ids.length + ' in txn' })); }",
        '  startCommit() { this.ids = []; return {}; }',
        '}',
        '',
      ].join('\n'),
    });
    const { catalog, diagnostics } = await loadCatalog(root);
    expect(diagnostics).toEqual([]);
    const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
    const result = await runner.run(catalog!.tests['acme/t']);
    expect([result.failure?.message, result.failure?.diff]).toEqual([undefined, undefined]);
  });
});
