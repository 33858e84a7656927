/**
 * `sluice read <collection> [--catalog f] [--data DIR]`: the collection's fully reduced documents (its
 * reduced view in the state table, maintained by the persister) as JSON lines in key order. Uses the
 * running stack's emulators when `<data>/endpoints.json` names a live process, else starts the
 * emulators on the data directory just for the read.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { destroyClients, EMULATOR_CREDENTIALS, makeClients } from '../shared/adapters/clients.ts';
import { DynamoStateStore } from '../shared/adapters/dynamodb.ts';
import { S3BlobStore } from '../shared/adapters/s3.ts';
import { formatDiagnostics, hasErrors, loadCatalog } from '../shared/catalog/load.ts';
import { parseEnv } from '../shared/config/env.ts';
import { type Emulators, startEmulators } from '../shared/local/emulators.ts';
import { noViewReason } from '../shared/persist/place.ts';
import { runningStack } from './running.ts';

export async function runRead(
  collection: string,
  opts: { catalog: string; data: string },
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { catalog, diagnostics } = await loadCatalog(opts.catalog);
  if (!catalog || hasErrors(diagnostics)) {
    process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);
    return 2;
  }
  if (!catalog.collections[collection]) {
    const known = Object.keys(catalog.collections).join(', ');
    process.stderr.write(`no collection ${collection} in ${opts.catalog} (collections: ${known})\n`);
    return 2;
  }
  const dataDir = resolve(opts.data);
  const running = runningStack(dataDir);
  if (!running && !existsSync(join(dataDir, 'dynamodb'))) {
    process.stderr.write(`no local stack data in ${dataDir}: run \`sluice dev\` first\n`);
    return 1;
  }
  // The stack that ran here: its state table's physical name (from the template), and which
  // collections keep no view (nothing to read, so no emulators to start).
  const stackFile = join(dataDir, 'stack.json');
  const stack = existsSync(stackFile)
    ? (JSON.parse(readFileSync(stackFile, 'utf8')) as { stateTable?: string; noViews?: string[] })
    : {};
  if (stack.noViews?.includes(collection)) {
    process.stderr.write(
      `${noViewReason(collection)}. Its documents are in its fragments (S3, the console's collection page); keep its view to read it by key\n`,
    );
    return 1;
  }
  let emulators: Emulators | undefined;
  if (!running) emulators = await startEmulators({ dataDir });
  const endpoints = running ?? emulators!.endpoints;
  const table = running?.stateTable ?? stack.stateTable ?? parseEnv({}).stateTable;
  // A closed pipe (`sluice read ... | head`) ends the output quietly.
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  const clients = makeClients({
    region: 'us-east-1',
    endpoints: { kinesis: endpoints.kinesis, dynamodb: endpoints.dynamodb, s3: endpoints.s3 },
    credentials: EMULATOR_CREDENTIALS,
  });
  try {
    // Reduced documents too large for an item are in S3 behind a pointer: resolved through the same emulators.
    const state = new DynamoStateStore({
      client: clients.dynamodb,
      table,
      blobs: (bucket) => new S3BlobStore({ client: clients.s3, bucket }),
    });
    for await (const it of state.scan(collection)) out.write(`${JSON.stringify(it.doc)}\n`);
  } catch (e) {
    if ((e as Error).name !== 'ResourceNotFoundException') throw e;
  } finally {
    destroyClients(clients);
    await emulators?.stop();
  }
  return 0;
}
