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
