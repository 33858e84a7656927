// `sluice generate`: types from the schemas and a stub module, both compiling under strict TypeScript.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'sluice-generate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sluice(...args: string[]) {
  return spawnSync(process.execPath, [join(root, 'bin', 'sluice.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
  });
}

function typeErrors(files: string[], base = dir): string[] {
  const program = ts.createProgram(files, {
    // What deno.json's import map says: `flow/` is the generated types (Estuary's layout).
    baseUrl: base,
    paths: { 'flow/*': ['./flow_generated/typescript/*'] },
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    allowImportingTsExtensions: true,
    skipLibCheck: true,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('sluice generate', () => {
  it('writes types and a stub for a derivation without a module; both type-check strictly', () => {
    cpSync(join(root, 'test', 'fixtures', 'bank', 'transfers'), join(dir, 'transfers'), { recursive: true });
    writeFileSync(
      join(dir, 'flow.yaml'),
      [
        'import: [transfers/flow.yaml]',
        'collections:',
        '  acmeBank/senders:',
        '    schema:',
        '      type: object',
        '      reduce: { strategy: merge }',
        '      properties:',
        '        sender: { type: string, description: Who sent money. }',
        '        total: { type: number, reduce: { strategy: sum } }',
        '        kind: { enum: [small, big] }',
        '        "odd-name": { type: [string, "null"] }',
        '      required: [sender, total]',
        '    key: [/sender]',
        '    derive:',
        '      using: { typescript: { module: senders.ts } }',
        '      transforms:',
        '        - { name: fromTransfers, source: acmeBank/transfers, shuffle: any }',
        '',
      ].join('\n'),
    );
    const r = sluice('generate');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const typesFile = join(dir, 'flow_generated', 'acmeBank', 'senders.ts');
    const stub = join(dir, 'senders.ts');
    expect(existsSync(typesFile)).toBe(true);
    expect(existsSync(stub)).toBe(true);
    const types = readFileSync(typesFile, 'utf8');
    expect(types).toContain('export type Document = {');
    expect(types).toContain('/** Who sent money. */');
    expect(types).toContain('kind?: "small" | "big";');
    expect(types).toContain('"odd-name"?: string | null;');
    expect(types).toMatch(/export type SourceFromTransfers = \{[^}]*amount: number;/s);
    expect(types).toContain('abstract fromTransfers(read: { doc: SourceFromTransfers }): Document[];');
    // Estuary's layout too: types imported as `flow/…` (deno.json maps it) and a stub extending IDerivation.
    const estuaryTypes = readFileSync(
      join(dir, 'flow_generated', 'typescript', 'acmeBank', 'senders.ts'),
      'utf8',
    );
    expect(estuaryTypes).toContain('constructor(_open: { state: unknown; range?: {');
    expect(estuaryTypes).toContain('startCommit(_startCommit: { runtimeCheckpoint: unknown })');
    expect(JSON.parse(readFileSync(join(dir, 'deno.json'), 'utf8'))).toEqual({
      imports: { 'flow/': './flow_generated/typescript/' },
    });
    expect(readFileSync(stub, 'utf8')).toContain("from 'flow/acmeBank/senders.ts'");
    expect(readFileSync(stub, 'utf8')).toContain('export class Derivation extends IDerivation {');
    expect(typeErrors([stub])).toEqual([]);

    // A stub is never overwritten: the user's module stays as written.
    writeFileSync(stub, 'export class Derivation { fromTransfers() { return []; } }\n');
    expect(sluice('generate').status).toBe(0);
    expect(readFileSync(stub, 'utf8')).toBe('export class Derivation { fromTransfers() { return []; } }\n');
  });

  it("exports a type per named $anchor, as Estuary's codegen does; a module importing them type-checks", () => {
    // Estuary (crates/derive-typescript/src/codegen/mod.rs generate_anchors) writes `Document<Anchor>`
    // and `Source<Transform><Anchor>` for every $anchor starting with a capital letter in the schemas'
    // documents, those they reference included (examples/flow_generated/typescript/stock/daily-stats.ts
    // has DocumentPriceStats, SourceFromTicksSecurity).
    const sub = join(dir, 'anchors');
    mkdirSync(sub);
    writeFileSync(
      join(sub, 'shop.schema.yaml'),
      [
        '$defs:',
        '  money: { $anchor: Money, type: object, properties: { cents: { type: integer } }, required: [cents] }',
        '  sku: { $anchor: Sku, type: string }',
        '  note: { $anchor: lower_case, type: string }',
        '  order:',
        '    $anchor: Order',
        '    type: object',
        '    properties: { id: { type: string }, sku: { $ref: "#Sku" }, price: { $ref: "#Money" } }',
        '    required: [id, sku, price]',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(sub, 'flow.yaml'),
      [
        'collections:',
        '  shop/orders: { schema: "shop.schema.yaml#Order", key: [/id] }',
        '  shop/revenue:',
        '    schema:',
        '      type: object',
        '      reduce: { strategy: merge }',
        '      properties: { sku: { $ref: "shop.schema.yaml#Sku" }, total: { $ref: "shop.schema.yaml#Money" } }',
        '      required: [sku]',
        '    key: [/sku]',
        '    derive:',
        '      using: { typescript: { module: revenue.ts } }',
        '      transforms: [{ name: from-orders, source: shop/orders, shuffle: any }]',
        '',
      ].join('\n'),
    );
    const module = join(sub, 'revenue.ts');
    writeFileSync(
      module,
      [
        "import { IDerivation, Document, DocumentMoney, SourceFromOrders, SourceFromOrdersSku } from 'flow/shop/revenue.ts';",
        'export class Derivation extends IDerivation {',
        '  fromOrders(read: { doc: SourceFromOrders }): Document[] {',
        '    const sku: SourceFromOrdersSku = read.doc.sku;',
        '    const total: DocumentMoney = { cents: read.doc.price.cents };',
        '    return [{ sku, total }];',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const r = sluice('generate', 'anchors/flow.yaml');
    expect(r.status).toBe(0);
    const types = readFileSync(join(sub, 'flow_generated', 'typescript', 'shop', 'revenue.ts'), 'utf8');
    expect(types).toContain('export type DocumentMoney = {');
    expect(types).toContain('export type DocumentSku = string;');
    expect(types).toContain('export type SourceFromOrdersOrder = {');
    expect(types).toContain('export type SourceFromOrdersSku = string;');
    expect(types).not.toContain('lower_case'); // not a named schema: Estuary's names start with a capital
    expect(typeErrors([module], sub)).toEqual([]);
  });

  it("exports Estuary's FlushResponse and ConnectorState: a module whose flush() returns one type-checks", () => {
    // Estuary's codegen (crates/derive-typescript/src/codegen/mod.rs) declares
    // `flush(_statePatches?: unknown[]): Promise<FlushResponse | Document[]>` and exports both types.
    const sub = join(dir, 'anchors');
    const module = join(sub, 'flushing.ts');
    writeFileSync(
      module,
      [
        "import { IDerivation, ConnectorState, Document, FlushResponse, SourceFromOrders } from 'flow/shop/revenue.ts';",
        'export class Derivation extends IDerivation {',
        '  pending: Document[] = [];',
        '  fromOrders(read: { doc: SourceFromOrders }): Document[] {',
        '    this.pending.push({ sku: read.doc.sku });',
        '    return [];',
        '  }',
        '  override async flush(): Promise<FlushResponse> {',
        '    const state: ConnectorState = { updated: { n: this.pending.length }, mergePatch: true };',
        '    const published = this.pending;',
        '    this.pending = [];',
        '    return { published, state };',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(typeErrors([module], sub)).toEqual([]);
  });

  it('generated example types match what the examples import', () => {
    for (const m of [
      'examples/clickstream/user-profiles.ts',
      'examples/fraud/flagged.ts',
      'examples/warehouse/sales/rollup.ts',
    ]) {
      expect(typeErrors([join(root, m)]), m).toEqual([]);
    }
  });

  it('an output it cannot write is said without a stack trace, and nothing is written (exit 1)', () => {
    const sub = join(dir, 'unwritable');
    mkdirSync(join(sub, 'flow_generated'), { recursive: true });
    writeFileSync(
      join(sub, 'flow.yaml'),
      [
        'collections:',
        '  acme/src:',
        '    schema: { type: object, properties: { id: { type: string } }, required: [id] }',
        '    key: [/id]',
        '  acme/out:',
        '    schema: { type: object, properties: { id: { type: string } }, required: [id] }',
        '    key: [/id]',
        '    derive:',
        '      using: { typescript: { module: out.ts } }',
        '      transforms: [{ name: fromSrc, source: acme/src, shuffle: any }]',
        '',
      ].join('\n'),
    );
    // Sluice's layout can be written; Estuary's cannot (a file stands where its folder goes).
    writeFileSync(join(sub, 'flow_generated', 'typescript'), 'not a folder');
    const r = spawnSync(process.execPath, [join(root, 'bin', 'sluice.js'), 'generate'], {
      cwd: sub,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe(
      'flow_generated/typescript/acme/out.ts: cannot write: not a directory (flow_generated/typescript/acme); wrote nothing\n',
    );
    expect(r.stdout).toBe('');
    expect(r.status).toBe(1);
    expect(existsSync(join(sub, 'flow_generated', 'acme', 'out.ts'))).toBe(false);
    expect(existsSync(join(sub, 'out.ts'))).toBe(false);
    expect(existsSync(join(sub, 'deno.json'))).toBe(false);
  });
});
