/** A `$ref` cycle is a SchemaInvalid diagnostic naming the cycle (issue 10, item 8), not a stack overflow. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { findRefCycles, formatCycle } from '../../shared/schema/ref-cycles.ts';

function catalogWith(schema: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-cycle-'));
  writeFileSync(join(dir, 'flow.yaml'), `collections:\n  acme/x:\n    schema:\n${schema}\n    key: [/id]\n`);
  return join(dir, 'flow.yaml');
}

describe('$ref cycles', () => {
  it('a cycle through $defs is reported where the schema is written, naming the cycle', async () => {
    const file = catalogWith(
      [
        '      $defs:',
        '        a: { $ref: "#/$defs/b" }',
        '        b: { allOf: [{ $ref: "#/$defs/a" }] }',
        '      type: object',
        '      properties: { id: { type: string }, v: { $ref: "#/$defs/a" } }',
        '      required: [id]',
      ].join('\n'),
    );
    const { diagnostics } = await loadCatalog(file);
    const errors = diagnostics.filter((d) => d.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].code).toBe('SchemaInvalid');
    expect(errors[0].message).toContain(
      '`$ref` cycle: #/$defs/a → #/$defs/b → #/$defs/b/allOf/0 → #/$defs/a',
    );
    expect(errors[0].message).not.toContain('Maximum call stack');
  });

  it('a recursive schema that descends into properties or items is not a cycle', async () => {
    const file = catalogWith(
      [
        '      $defs:',
        '        tree: { type: object, properties: { kids: { type: array, items: { $ref: "#/$defs/tree" } } } }',
        '      type: object',
        '      properties: { id: { type: string }, t: { $ref: "#/$defs/tree" } }',
        '      required: [id]',
      ].join('\n'),
    );
    const { diagnostics } = await loadCatalog(file);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });

  it('across documents', () => {
    const cycles = findRefCycles({
      'file:///s/a.json': { $ref: 'b.json' },
      'file:///s/b.json': { anyOf: [{ $ref: 'a.json#' }] },
    });
    expect(cycles.map(formatCycle)).toEqual(['# → file:///s/b.json# → file:///s/b.json#/anyOf/0 → #']);
  });
});
