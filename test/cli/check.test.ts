// `sluice check` end to end: the real CLI (bin/sluice.js) in a child process.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'catalog');

function sluice(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'sluice.js'), 'check', ...args], {
    cwd,
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('sluice check', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-check-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('exits 0 with a one-line summary for a valid catalog', () => {
    const r = sluice(join(fixtures, 'valid'), 'flow.yaml');
    const warnings = r.stderr.trim().split('\n');
    expect(warnings.map((l) => /^[^:]+:\d+:\d+: warning: (\w+): /.exec(l)?.[1])).toEqual([
      'ReadDelayTestOnly',
      'FragmentSettingIgnored',
      'FragmentSettingIgnored',
    ]);
    expect(r.stdout).toBe('flow.yaml: 3 collections, 1 capture, 1 materialization, 2 tests: OK\n');
    expect(r.code).toBe(0);
  });

  it('resolves `flow/` imports and type-checks modules, failing with file:line:col', () => {
    const dir = join(tmp, 'estuary-style');
    cpSync(join(root, 'examples', 'estuary-style'), dir, { recursive: true });
    const module = join(dir, 'deny-streaks.ts');
    const good = readFileSync(module, 'utf8');
    expect(sluice(dir).code).toBe(0);

    writeFileSync(
      module,
      good.replace(
        'return [{ sender, streak, longest: streak }];',
        'return [{ sender, streak: String(streak), longest: streak }];',
      ),
    );
    const typed = sluice(dir);
    expect(typed.stderr).toMatch(
      /^deny-streaks\.ts:\d+:\d+: ModuleTypeError: TS2322: Type 'string' is not assignable to type 'number'/m,
    );
    expect(typed.code).toBe(2);

    // Without flow_generated/ on disk the module still checks: as Estuary's connector does, the check
    // generates its `flow/` types from the catalog. A `flow/` module that no derivation has is said where.
    writeFileSync(module, good);
    rmSync(join(dir, 'flow_generated'), { recursive: true });
    expect(sluice(dir).code).toBe(0);
    writeFileSync(
      module,
      good.replace("from 'flow/acmeBank/deny-streaks.ts'", "from 'flow/acmeBank/streaks.ts'"),
    );
    const unresolved = sluice(dir);
    expect(unresolved.stderr).toMatch(
      /^deny-streaks\.ts:\d+:\d+: ModuleUnresolved: Could not resolve "flow\/acmeBank\/streaks\.ts" \(`flow\/<collection>\.ts` is the generated module of a TypeScript derivation of the catalog; it has `flow\/acmeBank\/deny-streaks\.ts`\)/m,
    );
    expect(unresolved.code).toBe(2);
  });

  it('checks ./flow.yaml when no catalog is given', () => {
    const r = sluice(join(fixtures, 'estuary'));
    expect(r.stdout).toBe('flow.yaml: 2 collections, 1 capture, 1 materialization, 1 test: OK\n');
    expect(r.code).toBe(0);
  });

  it('exits 2 and prints file:line:col: CODE: message (at pointer) hint, paths relative to the cwd', () => {
    const r = sluice(fixtures, 'broken/flow.yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toContain(
      'broken/structure.flow.yaml:5:5: UnknownProperty: a collection has no property `kye`; allowed: `schema`, `writeSchema`, `readSchema`, `key`, `projections`, `journals`, `derive` (at /collections/acmeCo~1widgets/kye) did you mean `key`?',
    );
    expect(lines).toContain(
      'broken/keys.flow.yaml:23:11: KeyNotRequired: key `/id` is not required by the schema: every document must have it (at /collections/acmeCo~1keys~1bad/key/0) add `id` to `required`',
    );
    expect(lines.filter((l) => l.includes(': warning: ReduceUnreachable: '))).not.toEqual([]);
    const errors = lines.filter((l) => /^\S+:\d+:\d+: [A-Z]\w+: /.test(l)).length;
    expect(errors).toBeGreaterThan(40);
    expect(lines[lines.length - 1]).toBe(`broken/flow.yaml: ${errors} errors`);
  });

  it('prints warnings but exits 0 when there are no errors', () => {
    writeFileSync(
      join(tmp, 'flow.yaml'),
      `collections:
  acmeCo/totals:
    schema:
      type: object
      properties:
        id: { type: string }
        n: { type: integer, reduce: { strategy: sum } }
      required: [id]
    key: [/id]
`,
    );
    const r = sluice(tmp, 'flow.yaml');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      'flow.yaml:7:37: warning: ReduceUnreachable: `sum` at `/n` in the schema of `acmeCo/totals` never applies: the document root has no reduce annotation (lastWriteWins), which replaces the whole value instead of reducing inside it (at /collections/acmeCo~1totals/schema/properties/n/reduce) add `reduce: {strategy: merge}` at the document root\n',
    );
    expect(r.stdout).toBe('flow.yaml: 1 collection, 0 captures, 0 materializations, 0 tests: OK\n');
  });

  it('exits 2 for a catalog file that does not exist', () => {
    const r = sluice(tmp, 'nope.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'nope.yaml:1:1: FileNotFound: catalog file nope.yaml does not exist\nnope.yaml: 1 error\n',
    );
  });
});
