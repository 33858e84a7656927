/**
 * Bundle-size budget per function: each handler entry is bundled exactly as the stack bundles it
 * (infra/bundling.ts options: ESM, minified, AWS SDK external) and must stay within its budget.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_BUDGET_BYTES, bundleTo, entryExists, FUNCTION_KINDS } from '../../infra/bundling.ts';

const present = FUNCTION_KINDS.filter(entryExists);

describe('bundle-size budget', () => {
  it('every handler entry exists (a missing one fails synth with MissingEntryError)', () => {
    expect(present).toEqual([...FUNCTION_KINDS]);
  });

  for (const kind of present) {
    it(`${kind}: one ESM bundle within ${BUNDLE_BUDGET_BYTES[kind]} bytes, AWS SDK left to the runtime`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `sluice-bundle-${kind}-`));
      const { file, bytes } = await bundleTo(kind, dir);
      expect(bytes).toBeGreaterThan(1000);
      expect(bytes).toBeLessThanOrEqual(BUNDLE_BUDGET_BYTES[kind]);
      const text = readFileSync(file, 'utf8');
      // ESM with the require shim, and the SDK imported rather than inlined
      expect(text.startsWith("import{createRequire as __sluiceCreateRequire}from'node:module'")).toBe(true);
      expect(text).toMatch(/from"@aws-sdk\/client-[a-z0-9-]+"/);
      for (const inlinedSdk of ['Kinesis_20131202', 'DynamoDB_20120810'])
        expect(text).not.toContain(inlinedSdk);
    });
  }
});
