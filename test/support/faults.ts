/**
 * Fault injection on the functions' AWS calls (the local stack's proxies, ProxyHooks), shared by the
 * parity-under-faults tests: a capped, counted tally of injected faults and the canned answers AWS gives
 * when it refuses a call. Debugging a failing run: FAULT_ONLY=<regex> injects only the faults whose
 * `kind task` matches it (bisecting which fault breaks parity).
 */
import { PutRecordsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import type { AssemblyRunner } from '../../shared/local/assembly/runner.ts';
import type { CannedResponse, ProxiedCall } from '../../shared/local/sandbox/proxy.ts';

/** A throttled call (nothing applied), as Kinesis or DynamoDB answers it. */
export const throttled = (service: 'kinesis' | 'dynamodb'): CannedResponse => ({
  status: 400,
  headers: { 'content-type': `application/x-amz-json-1.${service === 'kinesis' ? 1 : 0}` },
  body: JSON.stringify({
    __type:
      service === 'kinesis'
        ? 'ProvisionedThroughputExceededException'
        : 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message: 'Rate exceeded (injected)',
  }),
});

const REFUSED_ENTRY: PutRecordsResultEntry = {
  ErrorCode: 'ProvisionedThroughputExceededException',
  ErrorMessage: 'Rate exceeded for shard (injected)',
};

/** A PutRecords answered 200 with every one of its `n` entries refused (nothing appended). */
export const failedEntries = (n: number): CannedResponse => ({
  status: 200,
  headers: { 'content-type': 'application/x-amz-json-1.1' },
  body: JSON.stringify({ FailedRecordCount: n, Records: Array.from({ length: n }, () => REFUSED_ENTRY) }),
});

interface PutRecordsBody {
  StreamName?: string;
  Records: { Data: string; PartitionKey: string; ExplicitHashKey?: string }[];
}

/** The IAM action a proxied call was checked as (`kinesis:PutRecords`). */
export const actionOf = (c: ProxiedCall): string => c.iam[0]?.action ?? '';

/** The task label of a proxied call's function (`names`: function name → label, filled once the runner started). */
export const taskOf =
  (names: ReadonlyMap<string, string>) =>
  (c: ProxiedCall): string =>
    names.get(c.functionName) ?? '';

/** The entries of a PutRecords call on the wire. */
export function putEntries(c: ProxiedCall): number {
  return (JSON.parse(c.call.body.toString()) as PutRecordsBody).Records.length;
}

/**
 * A partial PutRecords, as Kinesis answers one when some shards throttle: the entries at `refuse` are
 * refused, the others really appended (through the emulator, with the positions it gives them), and the
 * answer says which is which (FailedRecordCount < Records.length).
 */
export async function partialPut(
  runner: AssemblyRunner,
  c: ProxiedCall,
  refuse: (i: number) => boolean,
): Promise<CannedResponse> {
  const req = JSON.parse(c.call.body.toString()) as PutRecordsBody;
  const streamName =
    req.StreamName ??
    c.iam
      .find((r) => r.action === 'kinesis:PutRecords')
      ?.resource.split('/')
      .pop() ??
    '';
  const kept = req.Records.map((r, i) => ({ r, i })).filter(({ i }) => !refuse(i));
  const res = await runner.admin.kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: kept.map(({ r }) => ({
        Data: Buffer.from(r.Data, 'base64'),
        PartitionKey: r.PartitionKey,
        ExplicitHashKey: r.ExplicitHashKey,
      })),
    }),
  );
  if (res.FailedRecordCount) throw new Error(`partialPut: the emulator refused ${res.FailedRecordCount}`);
  const out: PutRecordsResultEntry[] = req.Records.map(() => REFUSED_ENTRY);
  kept.forEach(({ i }, j) => {
    out[i] = { SequenceNumber: res.Records![j].SequenceNumber, ShardId: res.Records![j].ShardId };
  });
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.1' },
    body: JSON.stringify({ FailedRecordCount: req.Records.length - kept.length, Records: out }),
  };
}

/** Injected faults by kind and function (`kind function` -> count). */
export class Faults {
  readonly counts = new Map<string, number>();
  readonly calls = new Map<string, number>();
  /** Calls seen by `label action` (what a test could inject into; SLUICE_TEST_FAULTS=1 prints them). */
  readonly seenCalls = new Map<string, number>();
  seen(call: string): void {
    this.seenCalls.set(call, (this.seenCalls.get(call) ?? 0) + 1);
  }
  /** Count a fault of `kind` on `fn` if fewer than `cap` fired yet. */
  take(kind: string, fn: string, cap: number): boolean {
    if (process.env.FAULT_ONLY && !new RegExp(process.env.FAULT_ONLY).test(`${kind} ${fn}`)) return false;
    const k = `${kind} ${fn}`;
    const n = this.counts.get(k) ?? 0;
    if (n >= cap) return false;
    this.counts.set(k, n + 1);
    this.note(k);
    return true;
  }
  /** The n-th call (1-based) of `fn` seen after the emulator answered. */
  nth(fn: string): number {
    const n = (this.calls.get(fn) ?? 0) + 1;
    this.calls.set(fn, n);
    return n;
  }
  /** Faults of `kind` (on `fn`, or on `fn <more>`: a test may count per function and call). */
  total(kind: string, fn?: string): number {
    let t = 0;
    for (const [k, n] of this.counts)
      if (k.startsWith(`${kind} `) && (!fn || k === `${kind} ${fn}` || k.startsWith(`${kind} ${fn} `)))
        t += n;
    return t;
  }
  /** What happened when (faults, and whatever a test notes), for a failing run's report. */
  readonly timeline: string[] = [];
  private readonly t0 = Date.now();
  note(what: string): void {
    this.timeline.push(`${String(Date.now() - this.t0).padStart(6)} ${what}`);
  }
  /** Every count, sorted (for a report). */
  summary(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
