// Bad input through the real CLI (bin/sluice.js): each mistake a data engineer can make is said with
// where (file:line:col, JSON pointer, document index or input line), what was found and what is allowed,
// with the documented exit code and no stack trace.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'sluice-bad-input-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CATALOG = `collections:
  acme/orders:
    schema:
      type: object
      properties:
        id: { type: integer }
        customer: { type: string }
        amount: { type: number, reduce: { strategy: sum } }
      required: [id, customer]
      reduce: { strategy: merge }
    key: [/id]
  acme/totals:
    schema:
      type: object
      properties:
        customer: { type: string }
        total: { type: number, reduce: { strategy: sum } }
      required: [customer]
      reduce: { strategy: merge }
    key: [/customer]
    derive:
      using: { typescript: { module: totals.ts } }
      transforms:
        - name: fromOrders
          source: acme/orders
          shuffle: { key: [/customer] }
tests:
  acme/tests/totals:
    - ingest:
        collection: acme/orders
        documents:
          - { id: 1, customer: alice, amount: 5 }
    - verify:
        collection: acme/totals
        documents: expected.json
`;

const MODULE = `export class Derivation {
  fromOrders(read: { doc: { customer: string; amount?: number } }) {
    return [{ customer: read.doc.customer, total: read.doc.amount ?? 0 }];
  }
}
`;

let n = 0;
/** A project folder holding the catalog (after `edit`), its module and expected.json, plus `files`. */
function project(edit: (catalog: string) => string = (c) => c, files: Record<string, string> = {}): string {
  const dir = join(tmp, `p${n++}`);
  mkdirSync(dir);
  const all = {
    'flow.yaml': edit(CATALOG),
    'totals.ts': MODULE,
    'expected.json': '[{"total": 5}]\n',
    ...files,
  };
  for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, name), text);
  return dir;
}

function sluice(cwd: string, args: string[], input?: string | Buffer, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'sluice.js'), ...args], {
    cwd,
    input,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bad input through the CLI', () => {
  it('the project as written is valid and its test passes', () => {
    const dir = project();
    expect(sluice(dir, ['check']).code).toBe(0);
    const r = sluice(dir, ['test']);
    expect(r.stdout).toContain('1 passed, 0 failed');
    expect(r.code).toBe(0);
  });

  it('a .json fixture that is not JSON: file:line:col, what was expected and found (it passed before)', () => {
    const dir = project(undefined, { 'expected.json': '[\n  {"total": }\n]\n' });
    const r = sluice(dir, ['test']);
    expect(r.stderr).toBe(
      'expected.json:2:13: ParseError: not valid JSON: expected a value (an object, array, string, number, `true`, `false` or `null`), found `}`\nflow.yaml: 1 error\n',
    );
    expect(r.code).toBe(2);
  });

  it('a misspelt reduce strategy: at the strategy, with the strategies and a did-you-mean', () => {
    const dir = project((c) =>
      c.replace(
        'amount: { type: number, reduce: { strategy: sum } }',
        'amount: { type: number, reduce: { strategy: summ } }',
      ),
    );
    const r = sluice(dir, ['check']);
    expect(r.stderr).toMatch(
      /^flow\.yaml:8:53: SchemaInvalid: invalid reduce annotation \{"strategy":"summ"\}: "strategy" is "summ"; it must be one of append, .*\(did you mean "sum"\?\) \(at \/collections\/acme~1orders\/schema\/properties\/amount\/reduce\/strategy\)$/m,
    );
    expect(r.code).toBe(2);
  });

  it('an invalid schema keyword: at the keyword, with what was found and what is allowed', () => {
    const dir = project((c) => c.replace('customer: { type: string }', 'customer: { type: strin }'));
    const r = sluice(dir, ['check']);
    expect(r.stderr).toContain(
      'flow.yaml:7:27: SchemaInvalid: `type` is "strin"; allowed: one of "array", "boolean", "integer", "null", "number", "object", "string", or an array (at /collections/acme~1orders/schema/properties/customer/type)',
    );
    expect(r.code).toBe(2);
  });

  it('a misspelt schema keyword is a warning with a did-you-mean (JSON Schema would ignore it)', () => {
    const dir = project((c) =>
      c.replace('customer: { type: string }', 'customer: { type: string, maxLenght: 3 }'),
    );
    const r = sluice(dir, ['check']);
    expect(r.stderr).toBe(
      'flow.yaml:7:35: warning: UnknownKeyword: `maxLenght` is not a JSON Schema keyword, so it constrains nothing (at /collections/acme~1orders/schema/properties/customer/maxLenght) did you mean `maxLength`?\n',
    );
    expect(r.code).toBe(0);
  });

  it('a shuffle that is neither `any` nor a key: both forms are said to be allowed', () => {
    const dir = project((c) => c.replace('shuffle: { key: [/customer] }', 'shuffle: all'));
    const r = sluice(dir, ['check']);
    expect(r.stderr).toContain(
      'flow.yaml:26:20: InvalidValue: found `"all"`; allowed: `any`, or `{key: [/ptr, ...]}` to shuffle by locations of the source document (at /collections/acme~1totals/derive/transforms/0/shuffle)',
    );
    expect(r.code).toBe(2);
  });

  it('a $ref to a missing definition says which definitions there are', () => {
    const dir = project((c) =>
      c
        .replace(
          '        customer: { type: string }\n        amount',
          '        customer: { $ref: "#/$defs/nmae" }\n        amount',
        )
        .replace(
          '      required: [id, customer]\n',
          '      required: [id, customer]\n      $defs: { name: { type: string }, code: { type: string } }\n',
        ),
    );
    const r = sluice(dir, ['check']);
    expect(r.stderr).toContain(
      'flow.yaml:7:27: SchemaNotFound: the inline schema at /collections/acme~1orders/schema has nothing at `/$defs/nmae`; `/$defs` has `name`, `code` (at /collections/acme~1orders/schema/properties/customer/$ref) did you mean `name`?',
    );
    expect(r.code).toBe(2);
  });

  it('a duplicate key names the key', () => {
    const dir = project((c) => c.replace('    key: [/id]\n', '    key: [/id]\n    key: [/customer]\n'));
    const r = sluice(dir, ['check']);
    expect(r.stderr).toContain(
      'flow.yaml:12:5: ParseError: the key `key` appears twice in one mapping; keys must be unique',
    );
    expect(r.code).toBe(2);
  });

  it('an inline module: a type error and an unused method are reported in the catalog, where their lines are written', () => {
    const inline = [
      'using:',
      '        typescript:',
      '          module: |',
      '            export class Derivation {',
      '              fromOrders(read: { doc: { customer: string } }): { customer: string }[] {',
      '                const total: number = read.doc.customer;',
      '                return [{ customer: read.doc.customer + total }];',
      '              }',
      '              extra() { return 1; }',
      '            }',
    ].join('\n');
    const dir = project((c) => c.replace('using: { typescript: { module: totals.ts } }', inline));
    const r = sluice(dir, ['check']);
    expect(r.stderr).toBe(
      [
        "flow.yaml:27:23: ModuleTypeError: TS2322: Type 'string' is not assignable to type 'number'. (at /collections/acme~1totals/derive/using/typescript/module)",
        'flow.yaml:30:15: warning: UnusedMethod: method `extra` of class Derivation is not a transform of `acme/totals` (mark helpers `private`) (at /collections/acme~1totals/derive/using/typescript/module)',
        'flow.yaml: 1 error',
        '',
      ].join('\n'),
    );
    expect(r.code).toBe(2);
  });

  it('a module path that is a directory says so (not "does not exist"); generate writes nothing', () => {
    const dir = project((c) => c.replace('module: totals.ts', 'module: src.ts'));
    mkdirSync(join(dir, 'src.ts'));
    const message =
      'flow.yaml:22:38: FileNotFound: TypeScript module src.ts is a directory, not a file (at /collections/acme~1totals/derive/using/typescript/module)';
    const check = sluice(dir, ['check']);
    expect(check.stderr).toContain(message);
    expect(check.code).toBe(2);
    const generate = sluice(dir, ['generate']);
    expect(generate.stderr).toContain(message);
    expect(generate.stdout).toBe('');
    expect(generate.code).toBe(2);
  });

  it('a module that throws when loaded: where it threw, the path relative, no stack trace; every test fails (exit 1)', () => {
    const dir = project(undefined, { 'totals.ts': `throw new Error('no config');\n${MODULE}` });
    const r = sluice(dir, ['test']);
    expect(r.stderr).toBe(
      'totals.ts:1:7: ModuleLoad: derivation acme/totals: cannot load module totals.ts: Error: no config\n',
    );
    // The catalog is valid (exit 2 is for that): its test did not pass.
    expect(r.stdout).toMatch(/^FAIL \S+ \(not run: ModuleLoad\)\n0 passed, 1 failed\n$/);
    expect(r.code).toBe(1);
    expect(sluice(dir, ['check']).code).toBe(0);
  });

  it('a Derivation constructor that throws: where it threw, and every test fails (exit 1)', () => {
    const dir = project(undefined, {
      'totals.ts': MODULE.replace(
        'export class Derivation {',
        "export class Derivation {\n  constructor() { throw new Error('ctor failed'); }",
      ),
    });
    const r = sluice(dir, ['test']);
    expect(r.stderr).toMatch(
      /^totals\.ts:\d+:\d+: ModuleLoad: derivation acme\/totals: new Derivation\(\{state\}\) threw: Error: ctor failed\n$/,
    );
    expect(r.stdout).toMatch(/^FAIL \S+ \(not run: ModuleLoad\)\n0 passed, 1 failed\n$/);
    expect(r.code).toBe(1);
  });

  it('a transform that throws: the test fails naming the step and where in the module it threw', () => {
    const dir = project(undefined, {
      'totals.ts': MODULE.replace(
        'return [',
        "if (read.doc.customer === 'alice') throw new Error('bad alice');\n    return [",
      ),
    });
    const r = sluice(dir, ['test']);
    expect(r.stdout).toContain(
      'step 1 (verify acme/totals, flow.yaml:33:7): derivation acme/totals transform fromOrders (source document 0): threw: Error: bad alice (thrown at totals.ts:3:46)',
    );
    expect(r.code).toBe(1);
  });

  it('an ingest document failing the schema: the document index, the pointer, what was found', () => {
    const dir = project((c) =>
      c.replace('{ id: 1, customer: alice, amount: 5 }', '{ id: 1, customer: alice, amount: "5" }'),
    );
    const r = sluice(dir, ['test']);
    expect(r.stderr).toBe(
      'flow.yaml:32:13: IngestDocumentInvalid: test acme/tests/totals step 0: document 0 of the ingest into `acme/orders` does not validate against its write schema: /amount: must be number, found "5" (at /tests/acme~1tests~1totals/0/ingest/documents/0)\nflow.yaml: 1 error\n',
    );
    expect(r.code).toBe(2);
  });

  it("an ingest number JSON cannot hold (YAML's .nan, 1e400) is invalid where it is written, not a reduction error later", () => {
    const dir = project((c) =>
      c.replace('{ id: 1, customer: alice, amount: 5 }', '{ id: 1, customer: alice, amount: .nan }'),
    );
    const r = sluice(dir, ['check']);
    expect(r.stderr).toContain(
      'flow.yaml:32:47: IngestDocumentInvalid: test acme/tests/totals step 0: document 0 of the ingest into `acme/orders`: /amount is NaN, which is not a JSON number; write a finite number (or a string with `format: number`) (at /tests/acme~1tests~1totals/0/ingest/documents/0/amount)',
    );
    expect(r.code).toBe(2);
  });

  it('sluice combine: the line, the pointer, what is allowed and what was found', () => {
    const dir = project();
    const r = sluice(
      dir,
      ['combine', '--collection', 'acme/orders'],
      '{"id":1,"customer":"a","amount":1}\n{"id":2,"customer":"b","amount":"x"}\n',
    );
    expect(r.stderr).toBe(
      'stdin:2: /amount: must be number, found "x" (keyword "type", schema #/properties/amount/type)\n',
    );
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
  });

  it('sluice combine: a line that is not JSON says at which column, what was expected and found', () => {
    const dir = project();
    const r = sluice(
      dir,
      ['combine', '--collection', 'acme/orders'],
      '{"id":1,"customer":"a"}\n{"id": 2, customer: "b"}\n',
    );
    expect(r.stderr).toBe(
      'stdin:2: invalid JSON: expected a double-quoted property name, found `c` (column 11)\n',
    );
    expect(r.code).toBe(1);
  });

  it.each(['1', '2'])(
    'sluice combine: a key too large for a number (1e400) names the line and the key, %s thread(s)',
    (threads) => {
      const dir = project();
      const r = sluice(
        dir,
        ['combine', '--collection', 'acme/orders'],
        '{"id":1,"customer":"a"}\n{"id":1e400,"customer":"b"}\n',
        { SLUICE_COMBINE_THREADS: threads },
      );
      expect(r.stderr).toBe(
        'stdin:2: /id: the number 1e400 is beyond what JSON numbers hold here (a 64-bit float, at most ±1.8e308); send it as a string\n',
      );
      expect(r.code).toBe(1);
    },
  );

  it.each(['1', '2'])(
    'sluice combine: a value too large for a number is bad input, not Infinity written out as null, %s thread(s)',
    (threads) => {
      const dir = project();
      const r = sluice(
        dir,
        ['combine', '--collection', 'acme/orders'],
        '{"id":1,"customer":"a"}\n{"id":2,"customer":"b","amount":-1.0E+400}\n',
        { SLUICE_COMBINE_THREADS: threads },
      );
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'stdin:2: /amount: the number -1.0E+400 is beyond what JSON numbers hold here (a 64-bit float, at most ±1.8e308); send it as a string\n',
      );
      expect(r.code).toBe(1);
    },
  );

  it("any command: Sluice's own error is one line naming the command, exit 2, no stack trace", () => {
    const r = sluice(tmp, ['parked', 'acme/x', '--assembly', join(tmp, 'no-such-assembly')]);
    expect(r.stderr).toBe(
      `sluice parked: cloud assembly ${join(tmp, 'no-such-assembly')}: no manifest.json: not a cloud assembly (made by cdk synth -o ${join(tmp, 'no-such-assembly')})\n`,
    );
    expect(r.code).toBe(2);
  });

  it.each(['1', '2'])(
    'sluice combine: a line that is not UTF-8 is bad input, not text with replacement characters, %s thread(s)',
    (threads) => {
      const dir = project();
      const input = Buffer.concat([
        Buffer.from('{"id":1,"customer":"a"}\n{"id":2,"customer":"'),
        Buffer.from([0xc3, 0x28]), // a lead byte without its continuation
        Buffer.from('"}\n{"id":3,"customer":"\uFFFD is a real character"}\n'),
      ]);
      const r = sluice(dir, ['combine', '--collection', 'acme/orders'], input, {
        SLUICE_COMBINE_THREADS: threads,
      });
      expect(r.stderr).toBe(
        'stdin:2: not UTF-8: the bytes at column 21 are not a UTF-8 character; the input must be JSON lines in UTF-8\n',
      );
      expect(r.stdout).toBe('');
      expect(r.code).toBe(1);
      // A U+FFFD written as UTF-8 is text like any other.
      const ok = sluice(dir, ['combine', '--collection', 'acme/orders'], '{"id":3,"customer":"\uFFFD é"}\n', {
        SLUICE_COMBINE_THREADS: threads,
      });
      expect(ok.stdout).toBe('{"id":3,"customer":"\uFFFD é"}\n');
      expect(ok.code).toBe(0);
    },
  );
});
