/**
 * Billable units, counted by the AWS adapters as they call the services, and what they would cost at
 * us-east-1 list prices. A local run can so report what the same traffic would cost on AWS.
 */

export interface Usage {
  /** Kinesis PUT payload units: per record, ceil(bytes / 25 KiB). */
  kinesisPutPayloadUnits: number;
  kinesisRecords: number;
  kinesisGetRecordsCalls: number;
  /** DynamoDB on-demand write request units: per write, ceil(item bytes / 1 KiB) (2x in transactions). */
  dynamoWriteUnits: number;
  /** DynamoDB on-demand read request units: per 4 KiB, 0.5 eventually consistent, 1 strongly consistent. */
  dynamoReadUnits: number;
  s3PutRequests: number;
  s3GetRequests: number;
  s3ListRequests: number;
  lambdaInvocations: number;
  /** Lambda compute in GB-seconds (memory GB x billed duration). */
  lambdaGbSeconds: number;
}

/** us-east-1 list prices, USD (on-demand DynamoDB after the November 2024 price cut). */
export const PRICES = {
  kinesisPerMillionPutUnits: 0.014,
  kinesisShardHour: 0.015,
  dynamoPerMillionWriteUnits: 0.625,
  dynamoPerMillionReadUnits: 0.125,
  s3PerThousandPut: 0.005,
  s3PerThousandGet: 0.0004,
  lambdaPerMillionRequests: 0.2,
  lambdaPerGbSecond: 0.0000166667,
} as const;

export interface CostReport {
  usage: Usage;
  dollars: {
    kinesis: number;
    dynamodb: number;
    s3: number;
    lambda: number;
    total: number;
  };
}

export function emptyUsage(): Usage {
  return {
    kinesisPutPayloadUnits: 0,
    kinesisRecords: 0,
    kinesisGetRecordsCalls: 0,
    dynamoWriteUnits: 0,
    dynamoReadUnits: 0,
    s3PutRequests: 0,
    s3GetRequests: 0,
    s3ListRequests: 0,
    lambdaInvocations: 0,
    lambdaGbSeconds: 0,
  };
}

export const KINESIS_PAYLOAD_UNIT = 25 * 1024;

/** One meter shared by every adapter of a process (or one per measured pipeline). */
export class UsageMeter {
  readonly usage: Usage = emptyUsage();

  add(delta: Partial<Usage>): void {
    for (const [k, v] of Object.entries(delta) as [keyof Usage, number][]) this.usage[k] += v;
  }

  kinesisPut(recordBytes: number): void {
    this.usage.kinesisRecords += 1;
    this.usage.kinesisPutPayloadUnits += Math.max(1, Math.ceil(recordBytes / KINESIS_PAYLOAD_UNIT));
  }

  dynamoWrite(itemBytes: number): void {
    this.usage.dynamoWriteUnits += Math.max(1, Math.ceil(itemBytes / 1024));
  }

  dynamoRead(itemBytes: number, consistent: boolean): void {
    const units = Math.max(1, Math.ceil(itemBytes / 4096));
    this.usage.dynamoReadUnits += consistent ? units : units / 2;
  }

  lambda(durationMs: number, memoryMb: number): void {
    this.usage.lambdaInvocations += 1;
    this.usage.lambdaGbSeconds += (Math.max(1, Math.ceil(durationMs)) / 1000) * (memoryMb / 1024);
  }

  reset(): void {
    Object.assign(this.usage, emptyUsage());
  }

  costReport(): CostReport {
    return costOf(this.usage);
  }
}

export function costOf(usage: Usage): CostReport {
  const kinesis = (usage.kinesisPutPayloadUnits / 1e6) * PRICES.kinesisPerMillionPutUnits;
  const dynamodb =
    (usage.dynamoWriteUnits / 1e6) * PRICES.dynamoPerMillionWriteUnits +
    (usage.dynamoReadUnits / 1e6) * PRICES.dynamoPerMillionReadUnits;
  const s3 =
    (usage.s3PutRequests / 1000) * PRICES.s3PerThousandPut +
    ((usage.s3GetRequests + usage.s3ListRequests) / 1000) * PRICES.s3PerThousandGet;
  const lambda =
    (usage.lambdaInvocations / 1e6) * PRICES.lambdaPerMillionRequests +
    usage.lambdaGbSeconds * PRICES.lambdaPerGbSecond;
  return {
    usage: { ...usage },
    dollars: { kinesis, dynamodb, s3, lambda, total: kinesis + dynamodb + s3 + lambda },
  };
}

/** Approximate DynamoDB item size: attribute names plus values (strings/binary by length, numbers ~ digits/2). */
export function dynamoItemBytes(item: Record<string, unknown>): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) n += Buffer.byteLength(k) + attrBytes(v);
  return n;
}

function attrBytes(v: unknown): number {
  if (v === null || v === undefined) return 1;
  if (typeof v !== 'object') return 1;
  const a = v as Record<string, unknown>;
  if (typeof a.S === 'string') return Buffer.byteLength(a.S);
  if (typeof a.N === 'string') return Math.ceil(a.N.length / 2) + 1;
  if (a.B instanceof Uint8Array) return a.B.byteLength;
  if (typeof a.BOOL === 'boolean' || a.NULL === true) return 1;
  if (Array.isArray(a.L)) return 3 + a.L.reduce((s: number, x) => s + 1 + attrBytes(x), 0);
  if (a.M && typeof a.M === 'object') return 3 + dynamoItemBytes(a.M as Record<string, unknown>);
  return 1;
}
