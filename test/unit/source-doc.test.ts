/**
 * SourceDoc's cache of parsed values (shared/catalog/source.ts): a clean file's value comes back from
 * the cache byte for byte equal, positions are still found (the YAML is parsed when asked), and what
 * JSON cannot hold exactly (.inf, .nan) or a file with problems is never cached.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SourceDoc } from '../../shared/catalog/source.ts';

let dir: string;
let saved: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-source-'));
  saved = process.env.SLUICE_CACHE_DIR;
  process.env.SLUICE_CACHE_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.SLUICE_CACHE_DIR;
  else process.env.SLUICE_CACHE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const entries = () => {
  try {
    return readdirSync(join(dir, 'yaml-value-v1'));
  } catch {
    return [];
  }
};

describe('SourceDoc parse cache', () => {
  it('a clean file is cached; the cached document has the same value and still finds positions', () => {
    const text = 'collections:\n  acme/x:\n    key: [/id]\n    schema: { type: object }\n';
    const first = SourceDoc.parse('/flow.yaml', text);
    expect(entries()).toHaveLength(1);
    const second = SourceDoc.parse('/flow.yaml', text);
    expect(second.value).toEqual(first.value);
    expect(second.problems).toEqual([]);
    expect(second.position('/collections/acme~1x/key')).toEqual(first.position('/collections/acme~1x/key'));
    expect(second.position('/collections/acme~1x/key')).toEqual({ line: 3, col: 10 });
  });

  it('values JSON cannot hold exactly and files with problems are not cached', () => {
    const inf = SourceDoc.parse('/a.yaml', 'x: .inf\n');
    expect((inf.value as { x: number }).x).toBe(Number.POSITIVE_INFINITY);
    expect(entries()).toHaveLength(0);
    const dup = SourceDoc.parse('/b.yaml', 'a: 1\na: 2\n');
    expect(dup.problems.length).toBeGreaterThan(0);
    expect(entries()).toHaveLength(0);
    // And a second parse reports the problem again, with its position.
    expect(SourceDoc.parse('/b.yaml', 'a: 1\na: 2\n').problems[0]).toMatchObject({ line: 2 });
  });
});

describe('SourceDoc syntax errors', () => {
  it('a `.json` file must be JSON: what only YAML reads there is an error with its line and column', () => {
    // The YAML parser would read `{"customer": }` as {customer: null} and a trailing comma as nothing.
    const missing = SourceDoc.parse('/expected.json', '[\n  {"customer": }\n]\n');
    expect(missing.value).toBeUndefined();
    expect(missing.problems).toEqual([
      {
        severity: 'error',
        line: 2,
        col: 16,
        message:
          'not valid JSON: expected a value (an object, array, string, number, `true`, `false` or `null`), found `}`',
      },
    ]);
    expect(SourceDoc.parse('/a.json', '{"a": 1,}').problems[0]).toMatchObject({
      line: 1,
      col: 9,
      message: 'not valid JSON: expected a double-quoted property name, found `}`',
    });
    expect(SourceDoc.parse('/a.json', '[1 2]').problems[0]?.message).toBe(
      'not valid JSON: expected `,` or `]` after the array item, found `2`',
    );
    expect(SourceDoc.parse('/a.json', '').problems[0]?.message).toMatch(/found the end of the file$/);
    // JSON (with a byte-order mark, escapes, nesting) parses as before; YAML files stay YAML.
    expect(SourceDoc.parse('/a.json', '\uFEFF{"a": ["\\u00e9\\n", -1.5e3, true, null, {}]}\n').value).toEqual(
      {
        a: ['é\n', -1500, true, null, {}],
      },
    );
    expect(SourceDoc.parse('/a.yaml', '{"a": 1,}').value).toEqual({ a: 1 });
  });

  it('a duplicate key names the key', () => {
    const dup = SourceDoc.parse('/flow.yaml', 'collections:\n  acme/x: {}\n  acme/x:\n    key: [/id]\n');
    expect(dup.problems).toEqual([
      {
        severity: 'error',
        line: 3,
        col: 3,
        message: 'the key `acme/x` appears twice in one mapping; keys must be unique',
      },
    ]);
  });

  it('finds where the text of a block scalar starts (inline modules map their lines back to the catalog)', () => {
    const text = 'a:\n  module: |\n    line one\n      line two\n  flow: x\n  folded: >-\n\n      f\n';
    const doc = SourceDoc.parse('/flow.yaml', text);
    expect(doc.blockOrigin('/a/module')).toEqual({ line: 3, col: 5 });
    expect(doc.blockOrigin('/a/folded')).toEqual({ line: 7, col: 7 });
    expect(doc.blockOrigin('/a/flow')).toBeUndefined();
    expect(doc.blockOrigin('/a/missing')).toBeUndefined();
  });
});
