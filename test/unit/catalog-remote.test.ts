// Remote imports and `$ref`s (Estuary allows URLs): fetched at load into `.sluice/remote/` beside the root
// catalog, relative references inside a remote file resolved against its URL; offline, the cached copy
// is used with a warning, and without one loading fails with an error that says what to do.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';

const FILES: Record<string, string> = {
  '/shared/trades.flow.yaml': [
    'collections:',
    '  acme/trades:',
    '    schema: trade.schema.yaml',
    '    key: [/id]',
    '',
  ].join('\n'),
  '/shared/trade.schema.yaml': [
    'type: object',
    'properties:',
    '  id: { type: string }',
    '  exchange: { $ref: "schemas/exchange.schema.yaml#Exchange" }',
    'required: [id]',
    '',
  ].join('\n'),
  '/shared/schemas/exchange.schema.yaml':
    '$anchor: Exchange\ntype: object\nproperties: { venue: { type: string } }\nrequired: [venue]\n',
};

let server: Server;
let base: string;
const requests: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'sluice-remote-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = FILES[req.url ?? ''];
    res
      .writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/yaml' })
      .end(body ?? 'not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function catalog(): string {
  const root = join(dir, 'flow.yaml');
  writeFileSync(
    root,
    [
      `import: [${base}/shared/trades.flow.yaml]`,
      'tests:',
      '  acme/t:',
      '    - ingest: { collection: acme/trades, documents: [{ id: a, exchange: { venue: XNYS } }] }',
      '',
    ].join('\n'),
  );
  return root;
}

describe('remote imports and schemas', () => {
  it('fetches a remote catalog and the schemas it references relative to its URL', async () => {
    const { catalog: built, diagnostics } = await loadCatalog(catalog());
    expect(diagnostics).toEqual([]);
    expect(requests).toEqual(
      expect.arrayContaining([
        '/shared/trades.flow.yaml',
        '/shared/trade.schema.yaml',
        '/shared/schemas/exchange.schema.yaml',
      ]),
    );
    const trades = built!.collections['acme/trades'];
    expect(trades.writeSchema).toBe(`${base}/shared/trade.schema.yaml`);
    // The built catalog holds the remote schemas: what deploys needs no network.
    const v = new SchemaRegistry(built!.schemas).validator(trades.writeSchema);
    expect(v.isValid({ id: 'x', exchange: { venue: 'XNYS' } })).toBe(true);
    expect(v.isValid({ id: 'x', exchange: {} })).toBe(false);
    expect(existsSync(join(dir, '.sluice', 'remote'))).toBe(true);
  });

  it('a missing remote file is an error at the import, naming the URL', async () => {
    const root = join(dir, 'missing.flow.yaml');
    writeFileSync(root, `import: [${base}/nope.flow.yaml]\n`);
    const { catalog: built, diagnostics } = await loadCatalog(root);
    expect(built).toBeUndefined();
    expect(diagnostics).toEqual([
      expect.objectContaining({
        code: 'RemoteFetchFailed',
        severity: 'error',
        pointer: '/import/0',
        message: expect.stringContaining(`cannot fetch import ${base}/nope.flow.yaml (HTTP 404`),
      }),
    ]);
  });

  it('offline: the cached copies stand in (a warning); without a cache, an error that says what to do', async () => {
    const root = catalog();
    await loadCatalog(root); // fills the cache
    await new Promise<void>((r) => server.close(() => r()));
    const offline = await loadCatalog(root);
    expect(offline.catalog).toBeDefined();
    expect(offline.diagnostics.map((d) => `${d.severity} ${d.code}`)).toEqual(
      expect.arrayContaining(['warning RemoteFetchFailed']),
    );
    expect(offline.diagnostics.every((d) => d.severity === 'warning')).toBe(true);

    rmSync(join(dir, '.sluice'), { recursive: true, force: true });
    const none = await loadCatalog(root);
    expect(none.catalog).toBeUndefined();
    // (Followed by what the missing file would have defined: the test's collection is unknown.)
    expect(none.diagnostics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'RemoteFetchFailed',
          severity: 'error',
          message: expect.stringMatching(
            /cannot fetch import .*trades\.flow\.yaml \(ECONNREFUSED\) and no copy is cached/,
          ),
          hint: expect.stringContaining('connect to the network once'),
        }),
      ]),
    );
  });
});
