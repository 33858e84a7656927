/**
 * `sluice dev` killed hard (SIGKILL: no clean stop, no in-flight batch finished, no emulator flushed by a
 * close) in the middle of a flow, then started again on the same `--data` folder: the emulators' data,
 * the mappings' checkpoints and the tasks' state come back from disk, every task resumes from its
 * checkpoint, and the sums (the derived collection's view, the DynamoDB materialization) equal the oracle
 * of everything that was answered 200 — nothing lost, nothing counted twice. No process of the killed
 * stack may be left holding the data folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { alive } from '../../cli/running.ts';
import { EMULATOR_CREDENTIALS, makeClients } from '../../shared/adapters/clients.ts';
import { DynamoStateStore } from '../../shared/adapters/dynamodb.ts';
import { loadCatalog } from '../../shared/catalog/load.ts';
import { processesOn } from '../support/processes.ts';
import { materializedSums, type SumEvent, sumEvents, sumOracle } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/localstack/', import.meta.url));
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface Endpoints {
  pid: number;
  ingest: string;
  kinesis: string;
  dynamodb: string;
  s3: string;
  stateTable: string;
}

/** Start `sluice dev` (node itself, not npx: the kill must reach the stack) and wait until it is ready. */
async function dev(catalog: string, data: string): Promise<{ child: ChildProcess; endpoints: Endpoints }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'sluice.js'), 'dev', catalog, '--data', data, '--port', '0', '--no-ui'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  await new Promise<void>((ok, fail) => {
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (out.includes('ready in')) ok();
    });
    child.once('exit', (code) => fail(new Error(`sluice dev exited with ${code}: ${out}`)));
  });
  const endpoints = JSON.parse(readFileSync(join(data, 'endpoints.json'), 'utf8')) as Endpoints;
  expect(endpoints.pid).toBe(child.pid);
  return { child, endpoints };
}

/** Processes whose command line names the data folder (the emulators are started with their paths). */
async function post(e: Endpoints, docs: SumEvent[]): Promise<void> {
  const res = await fetch(`${e.ingest}/test/ingest/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(docs),
  });
  expect(await res.json()).toEqual({ published: docs.length });
}

function clientsOf(e: Endpoints) {
  return makeClients({
    region: 'us-east-1',
    endpoints: { kinesis: e.kinesis, dynamodb: e.dynamodb, s3: e.s3 },
    credentials: EMULATOR_CREDENTIALS,
  });
}

/** The DynamoDB materialization's items of test/totals. */
async function materialized(e: Endpoints, catalogPath: string) {
  const { catalog } = await loadCatalog(catalogPath);
  return materializedSums(catalog!, 'test/to-dynamo', clientsOf(e).dynamodb);
}

async function sums(e: Endpoints): Promise<Record<string, { count: number; total: number }>> {
  const clients = clientsOf(e);
  const store = new DynamoStateStore({ client: clients.dynamodb, table: e.stateTable });
  const out: Record<string, { count: number; total: number }> = {};
  for await (const it of store.scan('test/totals')) {
    const d = it.doc as { user: string; count: number; total: number };
    out[d.user] = { count: d.count, total: d.total };
  }
  return out;
}

describe('sluice dev killed hard and started again on the same data', () => {
  it('resumes every task from its checkpoint: the sums equal the oracle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-faults-kill-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(FIXTURE, join(dir, 'flow'), { recursive: true });
    const catalog = join(dir, 'flow', 'flow.yaml');
    const data = join(dir, 'data');
    const sent = sumEvents(400, 0, { users: 9, mul: 17, mod: 89 });

    const first = await dev(catalog, data);
    for (let i = 0; i < 200; i += 50) await post(first.endpoints, sent.slice(i, i + 50));
    // Killed once the first sums are in the collection's view: the derivation, the persisters and the
    // materialization are then at work on the rest.
    const summed = async () => Object.values(await sums(first.endpoints)).reduce((n, t) => n + t.count, 0);
    const until1 = Date.now() + 20_000;
    while ((await summed()) === 0 && Date.now() < until1) await new Promise((r) => setTimeout(r, 20));
    const killed = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await killed;
    expect(alive(first.endpoints.pid)).toBe(false);
    // Its emulators and function instances (child processes on the data folder) follow it: none is left
    // holding the folder. An instance in the middle of an invocation used to stay, its runner gone.
    const until0 = Date.now() + 10_000;
    while (processesOn(data).length > 0 && Date.now() < until0) await new Promise((r) => setTimeout(r, 200));
    expect(processesOn(data)).toEqual([]);

    const second = await dev(catalog, data);
    for (let i = 200; i < 400; i += 50) await post(second.endpoints, sent.slice(i, i + 50));
    const expected = sumOracle(sent);
    const until = Date.now() + 40_000;
    let got = await sums(second.endpoints);
    while (JSON.stringify(got) !== JSON.stringify(expected) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      got = await sums(second.endpoints);
    }
    expect(got).toEqual(expected);
    // Still equal once everything in flight has settled (a late double count would show here).
    await new Promise((r) => setTimeout(r, 3000));
    expect(await sums(second.endpoints)).toEqual(expected);
    expect(await materialized(second.endpoints, catalog)).toEqual(expected);

    const stopped = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGINT');
    await stopped;
    expect(existsSync(join(data, 'endpoints.json'))).toBe(false);
  });
});
