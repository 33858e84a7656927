// `sluice test` end to end: the real CLI (bin/sluice.js) in a child process, on catalogs in test/fixtures and examples/.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
function sluiceIn(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'sluice.js'), ...args], { cwd, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function sluice(...args: string[]) {
  return sluiceIn(root, ...args);
}

describe('sluice test', () => {
  it.each([
    'examples/clickstream/flow.yaml',
    'examples/fraud/flow.yaml',
    'examples/warehouse/flow.yaml',
    'examples/estuary-style/flow.yaml',
  ])('passes every test of %s', (catalog) => {
    const r = sluice('test', catalog);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
    expect(r.stdout).not.toContain('FAIL');
    expect(r.code).toBe(0);
  });

  it("runs Estuary's getting-started catalog (module without imports, readDelay, priority)", () => {
    const r = sluice('test', 'test/fixtures/bank/flow.yaml');
    expect(r.stdout).toContain('PASS acmeBank/tests/balances');
    expect(r.stdout).toContain('PASS acmeBank/tests/isolated');
    expect(r.stdout).toContain('PASS acmeBank/tests/read-delay-and-priority');
    expect(r.stdout).toMatch(/^3 passed, 0 failed$/m);
    expect(r.code).toBe(0);
  });

  it('combines on write by the write schema and reduces on read by the read schema', () => {
    const r = sluice('test', 'test/fixtures/read-schema/flow.yaml');
    expect(r.stdout).toContain('PASS shop/test-write-then-read');
    expect(r.code).toBe(0);
  });

  it('exits 1 on a wrong expectation, naming the test, the step and a diff', () => {
    const r = sluice('test', 'test/fixtures/bank-wrong/flow.yaml', '--filter', 'wrong-balance');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL acmeBank/tests/wrong-balance');
    expect(r.stdout).toMatch(
      /step 1 \(verify acmeBank\/balances, test\/fixtures\/bank-wrong\/flow\.yaml:\d+:\d+\)/,
    );
    expect(r.stdout).toContain('/balance: expected -30, actual -32.5');
    expect(r.stdout).toContain('missing expected document at index 2');
    expect(r.stdout).toMatch(/^0 passed, 1 failed$/m);
  });

  it('exits 2 on a broken catalog, listing every error with file, line and pointer', () => {
    const r = sluice('test', 'test/fixtures/broken/flow.yaml');
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => /^test\/fixtures\/broken\/flow\.yaml:\d+:\d+: /.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(r.stderr).toContain('acmeBank/transfers'); // did-you-mean for the misspelt source
    expect(r.stderr).toContain('fromTransfers'); // did-you-mean for the transform's method
    expect(r.stderr).toContain('fields'); // did-you-mean for `fieldz`
    expect(r.stderr).toContain('materialize-postgres'); // the known connectors are listed
    expect(r.stderr).toMatch(/\/collections\/acmeCo~1bad keys\/key/);
    // The same last line as `sluice check`: how many errors.
    const check = sluice('check', 'test/fixtures/broken/flow.yaml');
    const last = (text: string) => text.trim().split('\n').at(-1);
    expect(last(r.stderr)).toMatch(/^test\/fixtures\/broken\/flow\.yaml: \d+ errors$/);
    expect(last(r.stderr)).toBe(last(check.stderr));
  });

  it('exits 2 when the catalog file does not exist', () => {
    const r = sluice('test', 'test/fixtures/nope/flow.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope/flow.yaml');
  });

  it('loads derivation modules of a project that is not an ES-module package (no package.json at all)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-user-'));
    try {
      cpSync(join(root, 'test', 'fixtures', 'bank'), dir, { recursive: true });
      const r = sluiceIn(dir, 'test');
      // Only the warning that readDelay is not applied outside `sluice test`.
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('warning: ReadDelayTestOnly')]);
      expect(r.stdout).toMatch(/^3 passed, 0 failed$/m);
      expect(r.code).toBe(0);

      writeFileSync(
        join(dir, 'balances.ts'),
        'export class Derivation {\n  fromTransfers(read) { return [ }\n}\n',
      );
      const broken = sluiceIn(dir, 'test');
      expect(broken.code).toBe(2);
      // The catalog check bundles the module (as the Lambda bundle will): the syntax error, with file:line.
      expect(broken.stderr).toMatch(/balances\.ts:2:\d+: ModuleUnresolved: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
