/**
 * The console's server parts without a browser: drafts are checked in a copy (the real files untouched,
 * diagnostics named by the real file and line), paths cannot leave the catalog folder, the "what would
 * change" summary, and the key-prefix search's packed prefix.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import type { BuiltCatalog } from '../../shared/catalog/model.ts';
import { diffCatalogs } from '../../shared/console/catalog-diff.ts';
import { ConsoleError, keyPrefix } from '../../shared/console/collections.ts';
import { Drafts } from '../../shared/console/drafts.ts';
import { runCatalogTests } from '../../shared/console/tests.ts';
import { packKey } from '../../shared/keys/index.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/clickstream', import.meta.url));
let folder: string;
let catalog: BuiltCatalog;
let drafts: Drafts;
let flow: string;

beforeAll(async () => {
  folder = mkdtempSync(join(tmpdir(), 'sluice-drafts-'));
  cpSync(EXAMPLE, folder, { recursive: true, filter: (src) => !src.includes('.sluice') });
  const r = await loadCatalog(join(folder, 'flow.yaml'));
  if (!r.catalog) throw new Error(JSON.stringify(r.diagnostics));
  catalog = r.catalog;
  drafts = new Drafts(join(folder, 'flow.yaml'));
  flow = readFileSync(join(folder, 'flow.yaml'), 'utf8');
});

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('drafts', () => {
  it('lists the catalog folder files a draft may edit', () => {
    expect(drafts.files()).toEqual([
      'events.flow.yaml',
      'flow.yaml',
      'user-profile.schema.yaml',
      'user-profiles.ts',
    ]);
  });

  it('reports an error at its line in the real file and changes nothing on disk', async () => {
    const bad = flow.replace('    key: [/user_id]\n', '    kye: [/user_id]\n');
    const line = flow.split('\n').indexOf('    key: [/user_id]') + 1;
    const check = await drafts.check({ 'flow.yaml': bad }, catalog);
    expect(check.ok).toBe(false);
    const d = check.diagnostics.find((x) => x.code === 'UnknownProperty');
    expect(d).toMatchObject({ file: 'flow.yaml', line, severity: 'error' });
    expect(d?.hint).toContain('key');
    expect(check.changes).toEqual([]);
    const published = await drafts.publish({ 'flow.yaml': bad }, catalog);
    expect(published.written).toEqual([]);
    expect(readFileSync(join(folder, 'flow.yaml'), 'utf8')).toBe(flow);
  });

  it('says what would change: a task added, a collection changed, a test removed', async () => {
    const schema = readFileSync(join(folder, 'user-profile.schema.yaml'), 'utf8');
    const draft = flow
      .replace(
        'materializations:\n',
        'materializations:\n  acmeCo/clickstream/more:\n    endpoint:\n      connector:\n        image: ghcr.io/estuary/materialize-dynamodb:v1\n        config:\n          region: us-east-1\n    bindings:\n      - source: acmeCo/clickstream/events\n        resource:\n          table: more\n',
      )
      .replace(/\n {2}acmeCo\/clickstream\/test-duplicate-events-reduce:[\s\S]*$/, '\n');
    const check = await drafts.check(
      {
        'flow.yaml': draft,
        'user-profile.schema.yaml': schema.replace(
          'description: One profile',
          'description: Changed, one profile',
        ),
      },
      catalog,
    );
    expect(check.diagnostics.filter((x) => x.severity === 'error')).toEqual([]);
    expect(check.changes).toEqual([
      { change: 'changed', kind: 'collection', name: 'acmeCo/clickstream/user-profiles', parts: ['schema'] },
      { change: 'added', kind: 'materialization', name: 'acmeCo/clickstream/more' },
      { change: 'removed', kind: 'test', name: 'acmeCo/clickstream/test-duplicate-events-reduce' },
    ]);
  });

  it('an unchanged draft changes nothing', async () => {
    expect(diffCatalogs(catalog, catalog)).toEqual([]);
    expect((await drafts.check({}, catalog)).changes).toEqual([]);
  });

  it('refuses paths outside the catalog folder and files it does not edit', async () => {
    for (const path of ['../x.yaml', '/etc/passwd.yaml', 'a/../../x.yaml', '.sluice/x.yaml', 'x.sh'])
      await expect(drafts.check({ [path]: 'x' }, catalog)).rejects.toBeInstanceOf(ConsoleError);
    expect(() => drafts.read('../../package.json')).toThrow(ConsoleError);
  });

  it('runs the tests of a draft with the CLI report, pass and fail', async () => {
    const run = await drafts.withDraft(
      { 'flow.yaml': flow.replace('              views: 3\n', '              views: 30\n') },
      async ({ catalog: c, dir }) => runCatalogTests(c!, (l) => Drafts.unmap(l, dir, folder)),
    );
    expect(run.passed).toBe(1);
    expect(run.failed).toBe(1);
    const failed = run.results.find((r) => !r.passed)!;
    expect(failed.lines[0]).toMatch(/^FAIL acmeCo\/clickstream\/test-profiles-accumulate/);
    expect(failed.lines.join('\n')).toContain('flow.yaml:');
    expect(failed.lines.join('\n')).not.toContain('sluice-draft-');
  });
});

describe('key prefix search', () => {
  it('the packed prefix of a string prefixes exactly the keys whose first value starts with it', () => {
    const p = keyPrefix('ali');
    const starts = (k: Buffer) => k.subarray(0, p.length).equals(p);
    expect(starts(packKey(['alice']))).toBe(true);
    expect(starts(packKey(['ali']))).toBe(true);
    expect(starts(packKey(['alice', 3]))).toBe(true);
    expect(starts(packKey(['bob']))).toBe(false);
    expect(starts(packKey(['al']))).toBe(false);
    expect(starts(packKey([3]))).toBe(false);
  });
});
