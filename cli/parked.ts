/**
 * `sluice parked <task>` and `sluice redrive <task>`: the documents a `park` task set aside
 * (shared/ports/parking.ts), and applying them again once the cause is fixed.
 *
 * Where:
 * - `--stack NAME` (AWS): the task's function is found among the stack's functions by its label
 *   (POWERTOOLS_SERVICE_NAME); parked documents are read from its SLUICE_PARKED place in S3, and a
 *   redrive invokes the function (RequestResponse) with `{"sluiceRedrive": {}}` — the same code path as
 *   the local stack's.
 * - otherwise the local stack of `--data DIR` (default `.sluice`): when `sluice dev` is running there,
 *   through its console's API (the functions run inside that process); when not, the stack's assembly
 *   (`--assembly DIR`, else the one that last ran there) is started on the data folder's emulators just
 *   for this, without its event-source mappings.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CloudFormationClient, paginateListStackResources } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore } from '../shared/adapters/s3.ts';
import type { ParkedDocInfo } from '../shared/console/api-types.ts';
import { SluiceError } from '../shared/errors.ts';
import { AssemblyRunner } from '../shared/local/assembly/runner.ts';
import { readStackTemplate } from '../shared/local/assembly/template.ts';
import { ParkingLot, parkedInfo, type RedriveResult } from '../shared/ports/parking.ts';
import { runningStack } from './running.ts';

export interface ParkedOptions {
  data?: string;
  assembly?: string;
  stack?: string;
  /** AWS (`--stack`): region of the stack (else the SDK's default chain). */
  region?: string;
  /** `parked`: JSON lines of the full records (documents included) instead of a table. */
  json?: boolean;
}

/** The AWS clients `--stack` uses (tests give their own). */
export interface AwsParkingClients {
  cloudformation: CloudFormationClient;
  lambda: LambdaClient;
  s3: S3Client;
}

class ParkedCommandError extends SluiceError {
  constructor(message: string) {
    super(message);
    this.name = 'ParkedCommandError';
  }
}

interface TaskFunction {
  label: string;
  functionName: string;
  parked?: { bucket: string; prefix: string };
}

function parkedPlace(url: string | undefined): TaskFunction['parked'] {
  const m = url ? /^s3:\/\/([^/]+)\/(.+\/)$/.exec(url) : null;
  return m ? { bucket: m[1], prefix: m[2] } : undefined;
}

/** `derivation:acme/x`, or a bare task name that only one stream task carries. */
function pick(name: string, fns: TaskFunction[]): TaskFunction {
  const exact = fns.find((f) => f.label === name);
  if (exact) return exact;
  const byName = fns.filter((f) => f.label.slice(f.label.indexOf(':') + 1) === name);
  const parking = byName.filter((f) => f.parked);
  if (parking.length === 1) return parking[0];
  if (byName.length === 1) return byName[0];
  const labels = fns.map((f) => f.label).join(', ');
  throw new ParkedCommandError(
    byName.length > 1
      ? `${name} names several tasks (${byName.map((f) => f.label).join(', ')}): give the label`
      : `no task ${name} (tasks: ${labels})`,
  );
}

function mustPark(f: TaskFunction): { bucket: string; prefix: string } {
  if (!f.parked)
    throw new ParkedCommandError(
      `${f.label} does not park documents: its failure policy is halt (deploy with -c onFailure=park or the SluiceCatalog prop onFailure)`,
    );
  return f.parked;
}

async function stackFunctions(name: string, aws: AwsParkingClients): Promise<TaskFunction[]> {
  const out: TaskFunction[] = [];
  for await (const page of paginateListStackResources({ client: aws.cloudformation }, { StackName: name })) {
    for (const r of page.StackResourceSummaries ?? []) {
      if (r.ResourceType !== 'AWS::Lambda::Function' || !r.PhysicalResourceId) continue;
      const cfg = await aws.lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: r.PhysicalResourceId }),
      );
      const env = cfg.Environment?.Variables ?? {};
      if (!env.POWERTOOLS_SERVICE_NAME || !env.SLUICE_TASK) continue;
      out.push({
        label: env.POWERTOOLS_SERVICE_NAME,
        functionName: r.PhysicalResourceId,
        parked: parkedPlace(env.SLUICE_PARKED),
      });
    }
  }
  return out;
}

function awsClients(region?: string): AwsParkingClients {
  return {
    cloudformation: new CloudFormationClient({ region }),
    lambda: new LambdaClient({ region }),
    s3: new S3Client({ region }),
  };
}

async function consoleCall<T>(url: string | undefined, path: string, init?: RequestInit): Promise<T> {
  if (!url)
    throw new ParkedCommandError(
      'sluice dev is running on this data folder without its console (--no-console): run this there, or stop it first',
    );
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new ParkedCommandError(`sluice dev's console answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

function localFunctions(assembly: string, stack?: string): TaskFunction[] {
  return readStackTemplate(assembly, stack)
    .functions.filter((f) => f.environment.POWERTOOLS_SERVICE_NAME && f.environment.SLUICE_TASK)
    .map((f) => ({
      label: f.environment.POWERTOOLS_SERVICE_NAME,
      functionName: f.logicalId,
      parked: parkedPlace(f.environment.SLUICE_PARKED),
    }));
}

/** The assembly that runs (or last ran) on the data folder, unless `--assembly` names one. */
function assemblyOf(dataDir: string, given?: string): string {
  if (given) return resolve(given);
  const file = join(dataDir, 'stack.json');
  if (!existsSync(file))
    throw new ParkedCommandError(
      `no local stack in ${dataDir}: run \`sluice dev\` first, or give --assembly DIR`,
    );
  return (JSON.parse(readFileSync(file, 'utf8')) as { assembly: string }).assembly;
}

/** Run `fn` on the local stack of the data folder, started just for it (no mappings). */
async function withLocalStack<T>(
  dataDir: string,
  assembly: string,
  fn: (r: AssemblyRunner) => Promise<T>,
): Promise<T> {
  const runner = await AssemblyRunner.start({ assembly, dataDir, onLog: () => {} });
  try {
    return await fn(runner);
  } finally {
    await runner.stop();
  }
}

/** Where a task runs, found from its label or name: AWS, a running `sluice dev`, or a stopped local stack. */
type Located =
  | { kind: 'aws'; f: TaskFunction; place: { bucket: string; prefix: string }; clients: AwsParkingClients }
  | { kind: 'dev'; f: TaskFunction; console: string | undefined }
  | { kind: 'local'; f: TaskFunction; dataDir: string; assembly: string };

async function locate(name: string, opts: ParkedOptions, aws?: AwsParkingClients): Promise<Located> {
  if (opts.stack) {
    const clients = aws ?? awsClients(opts.region);
    const f = pick(name, await stackFunctions(opts.stack, clients));
    return { kind: 'aws', f, place: mustPark(f), clients };
  }
  const dataDir = resolve(opts.data ?? '.sluice');
  const assembly = assemblyOf(dataDir, opts.assembly);
  const f = pick(name, localFunctions(assembly, opts.stack));
  mustPark(f);
  const dev = opts.assembly ? undefined : runningStack(dataDir);
  return dev ? { kind: 'dev', f, console: dev.console } : { kind: 'local', f, dataDir, assembly };
}

/** The parked documents of a task, wherever it runs. */
export async function listParked(
  name: string,
  opts: ParkedOptions,
  aws?: AwsParkingClients,
): Promise<{ label: string; docs: ParkedDocInfo[] }> {
  const at = await locate(name, opts, aws);
  const label = at.f.label;
  const list = async (lot: ParkingLot) => (await lot.list()).map((x) => parkedInfo(x.key, x.parked));
  switch (at.kind) {
    case 'aws': {
      const blobs = new S3BlobStore({ client: at.clients.s3, bucket: at.place.bucket });
      return { label, docs: await list(new ParkingLot(blobs, at.place.prefix, label)) };
    }
    case 'dev':
      return {
        label,
        docs: await consoleCall<ParkedDocInfo[]>(at.console, `api/parked?label=${encodeURIComponent(label)}`),
      };
    case 'local':
      return withLocalStack(at.dataDir, at.assembly, async (r) => ({
        label,
        docs: await list(r.parkingLot(label)),
      }));
  }
}

/** Redrive a task's parked documents, wherever it runs. */
export async function redriveParked(
  name: string,
  opts: ParkedOptions,
  aws?: AwsParkingClients,
): Promise<{ label: string; result: RedriveResult }> {
  const at = await locate(name, opts, aws);
  const label = at.f.label;
  switch (at.kind) {
    case 'aws': {
      const res = await at.clients.lambda.send(
        new InvokeCommand({
          FunctionName: at.f.functionName,
          InvocationType: 'RequestResponse',
          Payload: Buffer.from(JSON.stringify({ sluiceRedrive: {} })),
        }),
      );
      const payload = res.Payload ? Buffer.from(res.Payload).toString('utf8') : '';
      if (res.FunctionError)
        throw new ParkedCommandError(`${at.f.functionName} (${label}) failed the redrive: ${payload}`);
      return { label, result: JSON.parse(payload) as RedriveResult };
    }
    case 'dev':
      return {
        label,
        result: await consoleCall<RedriveResult>(at.console, 'api/redrive', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ task: label }),
        }),
      };
    case 'local':
      return withLocalStack(at.dataDir, at.assembly, async (r) => ({
        label,
        result: await r.redrive(label),
      }));
  }
}

export async function runParked(
  name: string,
  opts: ParkedOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  try {
    const { label, docs } = await listParked(name, opts);
    if (opts.json) {
      for (const d of docs) out.write(`${JSON.stringify(d)}\n`);
      return 0;
    }
    out.write(`${label}: ${docs.length} parked document${docs.length === 1 ? '' : 's'}\n`);
    for (const d of docs)
      out.write(
        `  ${d.collection}  ${d.where}  parked ${d.parkedAt}${d.redriveAttempts ? `  (${d.redriveAttempts} failed redrives)` : ''}\n    ${d.error}\n`,
      );
    if (docs.length > 0) out.write(`fix the cause, then: sluice redrive ${label}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ParkedCommandError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
}

export async function runRedrive(
  name: string,
  opts: ParkedOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  try {
    const { label, result } = await redriveParked(name, opts);
    out.write(formatRedrive(label, result));
    return result.failures.length > 0 ? 1 : 0;
  } catch (e) {
    if (!(e instanceof ParkedCommandError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 2;
  }
}

/** What `sluice redrive` prints: the counts, each document that failed again, and those not tried. */
export function formatRedrive(label: string, result: RedriveResult): string {
  const lines = [`${label}: ${result.redriven} redriven, ${result.remaining} still parked`];
  for (const f of result.failures) lines.push(`  failed again: ${f.collection}  ${f.where}: ${f.error}`);
  // A shard's parked documents are redriven in order: those after one that failed again wait for it.
  const waiting = result.remaining - result.failures.length;
  if (waiting > 0 && result.failures.length > 0)
    lines.push(
      `  not tried: ${waiting}, each parked after one that failed again on its shard (they are redriven in order, after it)`,
    );
  return `${lines.join('\n')}\n`;
}
