/**
 * Redaction where documents enter a collection (issue 10, item 7): `sluice test` verify steps see the
 * redacted documents (captured and derived), and on the deployed path the journal every capture and
 * derivation appends through redacts before anything is stored: the persister's fragments hold hashes
 * and no blocked field.
 */

import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore, MemoryJournal, MemoryStateStore } from '../../shared/adapters/memory.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import type { JsonObject } from '../../shared/json/types.ts';
import { explicitHashKey, keyExtractor } from '../../shared/keys/index.ts';
import { PersistTask } from '../../shared/persist/task.ts';
import { decodeRecords } from '../../shared/ports/events.ts';
import { RedactingJournal } from '../../shared/schema/redacting-journal.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { TestRunner } from '../../shared/testing/runner.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'redact', 'flow.yaml');
const ANN = 'sha256:71d4f55f72fa128dfb468a1a3901507c804b74316488744d769d7f4b16696476';

async function load(): Promise<BuiltCatalog> {
  const { catalog, diagnostics } = await loadCatalog(FIXTURE);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return catalog as BuiltCatalog;
}

describe('sluice test', () => {
  it('verify steps see captured and derived documents redacted (sha256 with the empty default salt, block)', async () => {
    const catalog = await load();
    const runner = await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas));
    for (const t of Object.values(catalog.tests)) {
      const r = await runner.run(t);
      expect(r.failure).toBeUndefined();
    }
  });

  it('the salt is part of the hash: another salt fails the same verify', async () => {
    const catalog = await load();
    const runner = await TestRunner.create(catalog, new SchemaRegistry(catalog.schemas), {
      redactSalt: 'pepper',
    });
    const r = await runner.run(Object.values(catalog.tests)[0]);
    expect(r.failure?.message).toMatch(/verify of acme\/users/);
    expect(r.failure?.diff?.join('\n')).toContain(
      'sha256:831740710d6a8225c6ad8e71610353afdfcf9f6a3caa448dc11ab17a513081c2',
    );
  });
});

describe('deployed path: the journal captures and derivations append through', () => {
  it('stores hashes and no blocked field, down to the persisted fragments', async () => {
    const catalog = await load();
    const registry = new SchemaRegistry(catalog.schemas);
    const memory = new MemoryJournal();
    memory.ensure('acme/users');
    const journal = new RedactingJournal(memory, catalog, registry, async () => '');
    const spec = catalog.collections['acme/users'];
    const extractor = keyExtractor(spec.key);
    const docs: JsonObject[] = [
      { id: 'u1', email: 'ann@example.com', ssn: '123-45-6789', name: 'Ann' },
      { id: 'u3', email: ANN, name: 'Cy' }, // already a hash: left as it is
    ];
    await journal.append(
      'acme/users',
      docs.map((doc) => ({
        hashKey: explicitHashKey(Buffer.from(extractor.packBinary(doc), 'latin1')),
        doc,
      })),
    );
    const blobs = new MemoryBlobStore();
    const persist = new PersistTask(spec, registry, blobs, new MemoryStateStore(), 'flow/acme/users/');
    for (const s of await memory.listShards('acme/users')) {
      const r = await memory.read('acme/users', s.shardId, undefined, 100);
      if (r.records.length > 0) await persist.onBatch(decodeRecords('acme/users', r.records));
    }
    const keys = await blobs.list('flow/acme/users/');
    expect(keys.length).toBeGreaterThan(0);
    const stored = (
      await Promise.all(
        keys.map(async (k) => gunzipSync((await blobs.get(k)) as Uint8Array).toString('utf8')),
      )
    ).join('');
    expect(stored).not.toContain('123-45-6789');
    expect(stored).not.toContain('ann@example.com');
    expect(stored).not.toContain('"ssn"');
    const lines = stored
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; email: string });
    expect(lines.map((l) => [l.id, l.email]).sort()).toEqual([
      ['u1', ANN],
      ['u3', ANN],
    ]);
  });
});
