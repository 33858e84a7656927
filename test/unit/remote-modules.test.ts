// Remote imports of TypeScript derivations (Deno's `https://…` imports, deno.json entries naming URLs), as
// Estuary's stock-stats example writes them: fetched from a real HTTP server when the catalog loads, cached
// under `.sluice/remote/modules/` laid out as their URLs, then bundled offline by `sluice test` and into the
// Lambda bundle. Once cached, a module is not fetched again (Deno's cache).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivationModuleBundle } from '../../infra/bundling.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { typescriptOf } from '../../shared/catalog/model.ts';
import { SchemaRegistry } from '../../shared/schema/registry.ts';
import { TestRunner } from '../../shared/testing/runner.ts';

const FILES: Record<string, string> = {
  // Loose, Deno-style code: `sluice check` type-checks local modules only, as `deno check` does.
  '/x/fmt@1.0.0/mod.ts': [
    "import { pad } from './util.ts';",
    "import { shout } from '../../y/shout.js';",
    'export function label(n, s) { return shout(pad(n) + ":" + s); }',
    '',
  ].join('\n'),
  '/x/fmt@1.0.0/util.ts': "export const pad = (n: number): string => String(n).padStart(3, '0');\n",
  '/y/shout.js': 'export const shout = (s) => s.toUpperCase();\n',
  '/x/suffix.ts': "export const suffix = '!';\n",
  // Two modules importing one more, served slowly: both ask for it while neither has it yet.
  '/slow/a.ts': "export { label } from './common.ts';\n",
  '/slow/b.ts': "export { suffix } from './common.ts';\n",
  '/slow/common.ts':
    "export const label = (n: number, s: string): string => String(n).padStart(3, '0') + ':' + s.toUpperCase();\nexport const suffix = '!';\n",
};

let server: Server;
let base: string;
let requests: string[] = [];
let failing = false;
const dir = mkdtempSync(join(tmpdir(), 'sluice-remote-modules-'));

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = failing ? undefined : FILES[req.url ?? ''];
    setTimeout(
      () =>
        res
          .writeHead(failing ? 503 : body === undefined ? 404 : 200, {
            'content-type': 'application/typescript',
          })
          .end(body ?? 'no'),
      req.url === '/slow/common.ts' ? 300 : 0,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function project(name: string, module: string[], denoImports: Record<string, string> = {}): string {
  const files: Record<string, string> = {
    'flow.yaml': [
      'collections:',
      '  acme/events:',
      '    schema: { type: object, properties: { id: { type: integer }, name: { type: string } }, required: [id, name] }',
      '    key: [/id]',
      '  acme/labels:',
      '    schema: { type: object, properties: { id: { type: integer }, label: { type: string } }, required: [id, label] }',
      '    key: [/id]',
      '    derive:',
      '      using: { typescript: { module: labels.ts } }',
      '      transforms: [{ name: fromEvents, source: acme/events, shuffle: any }]',
      'tests:',
      '  acme/tests/labels:',
      '    - ingest: { collection: acme/events, documents: [{ id: 7, name: ann }] }',
      '    - verify: { collection: acme/labels, documents: [{ id: 7, label: "007:ANN!" }] }',
      '',
    ].join('\n'),
    'deno.json': JSON.stringify({ imports: { 'flow/': './flow_generated/typescript/', ...denoImports } }),
    'labels.ts': module.join('\n'),
  };
  for (const [f, text] of Object.entries(files)) {
    const p = join(dir, name, f);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
  return join(dir, name, 'flow.yaml');
}

const MODULE = (imports: string[]) => [
  "import { IDerivation, Document, SourceFromEvents } from 'flow/acme/labels.ts';",
  ...imports,
  'export class Derivation extends IDerivation {',
  '  fromEvents(read: { doc: SourceFromEvents }): Document[] {',
  '    return [{ id: read.doc.id, label: label(read.doc.id, read.doc.name) + suffix }];',
  '  }',
  '}',
  '',
];

async function runTests(root: string) {
  const { catalog, diagnostics } = await loadCatalog(root, { typeCheckModules: true });
  expect(diagnostics).toEqual([]);
  const runner = await TestRunner.create(catalog!, new SchemaRegistry(catalog!.schemas));
  const result = await runner.run(catalog!.tests['acme/tests/labels']);
  expect([result.failure?.message, result.failure?.diff]).toEqual([undefined, undefined]);
  return catalog!;
}

describe('remote imports of TypeScript derivations', () => {
  it('a URL import and deno.json entries naming URLs (a prefix and a file) are fetched, laid out as their URLs, tested and bundled for Lambda', async () => {
    requests = [];
    const root = project(
      'fetched',
      MODULE([
        "import { label } from 'fmt/mod.ts';",
        "import { shout } from 'shout';",
        `import { suffix } from '${base}/x/suffix.ts';`,
        'export const loud = shout;',
      ]),
      { 'fmt/': `${base}/x/fmt@1.0.0/`, shout: `${base}/y/shout.js` },
    );
    const catalog = await runTests(root);
    const cache = join(dir, 'fetched', '.sluice', 'remote', 'modules', 'http', new URL(base).host);
    // The relative imports of mod.ts were fetched against its URL and resolve on disk the same way.
    const fetched = Object.keys(FILES).filter((p) => !p.startsWith('/slow/'));
    for (const path of fetched) expect(readFileSync(join(cache, path), 'utf8')).toBe(FILES[path]);
    expect(requests.sort()).toEqual(fetched.sort());

    // The Lambda bundle (synth) reads the same cached files: no URL is left for the function to fetch.
    const ts = typescriptOf(catalog.collections['acme/labels'].derive)!;
    const bundle = Buffer.from(derivationModuleBundle(ts.module, ts.imports!)).toString();
    expect(bundle).not.toContain(base);
    const file = join(dir, 'fetched', 'derivation.mjs');
    writeFileSync(file, bundle);
    const { Derivation } = (await import(pathToFileURL(file).href)) as {
      Derivation: new (init: { state: unknown }) => { fromEvents(r: { doc: unknown }): unknown[] };
    };
    expect(new Derivation({ state: {} }).fromEvents({ doc: { id: 3, name: 'bo' } })).toEqual([
      { id: 3, label: '003:BO!' },
    ]);
  });

  it('a cached module is not fetched again: the catalog loads and tests while the server fails', async () => {
    const root = project(
      'cached',
      MODULE([
        `import { label } from '${base}/x/fmt@1.0.0/mod.ts';`,
        `import { suffix } from '${base}/x/suffix.ts';`,
      ]),
    );
    requests = [];
    await runTests(root);
    expect(requests.length).toBe(4);
    failing = true;
    try {
      requests = [];
      await runTests(root);
      expect(requests).toEqual([]);
    } finally {
      failing = false;
    }
  });

  it('two modules importing one more while it is being fetched share one download', async () => {
    const root = project(
      'shared-download',
      MODULE([`import { label } from '${base}/slow/a.ts';`, `import { suffix } from '${base}/slow/b.ts';`]),
    );
    requests = [];
    await runTests(root);
    expect(requests.filter((r) => r === '/slow/common.ts')).toEqual(['/slow/common.ts']);
  });

  it('a module the server does not have: RemoteFetchFailed at the import, naming the status; nothing cached', async () => {
    const root = project(
      'missing',
      MODULE(["import { label } from './local.ts';", `import { suffix } from '${base}/x/nope.ts';`]),
    );
    writeFileSync(
      join(dir, 'missing', 'local.ts'),
      "export const label = (n: number, s: string): string => n + ':' + s;\n",
    );
    const { catalog, diagnostics } = await loadCatalog(root);
    expect(catalog).toBeUndefined();
    expect(diagnostics.map((d) => [d.code, d.line, d.col, d.message])).toEqual([
      [
        'RemoteFetchFailed',
        3,
        24,
        `cannot fetch remote import \`${base}/x/nope.ts\` (HTTP 404 Not Found) and no copy is cached in ${join(dir, 'missing', '.sluice', 'remote', 'modules')}`,
      ],
    ]);
    expect(existsSync(join(dir, 'missing', '.sluice', 'remote', 'modules', 'http'))).toBe(false);
  });

  it('a module URL that names no file (no extension, or a query): said so at the import', async () => {
    const root = project(
      'shapeless',
      MODULE([`import { label } from '${base}/x/fmt';`, `import { suffix } from '${base}/x/suffix.ts?v=2';`]),
    );
    const { diagnostics } = await loadCatalog(root);
    expect(diagnostics.map((d) => [d.code, d.line, d.message])).toEqual([
      [
        'ModuleUnresolved',
        2,
        `remote import \`${base}/x/fmt\`: a remote module's URL must end in .ts, .tsx, .js, .mjs, .jsx or .json (as deno.land/x's do); found /x/fmt`,
      ],
      [
        'ModuleUnresolved',
        3,
        `remote import \`${base}/x/suffix.ts?v=2\`: a query or fragment in a module URL is not supported (the URL must name a file)`,
      ],
    ]);
  });
});
