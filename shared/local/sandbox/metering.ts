/**
 * Billable units of the calls functions make, read off the wire by their proxies (proxy.ts): what the
 * same traffic would be billed on AWS. Kinesis PUT payload units per record, DynamoDB write units per
 * written item and read units per item read, S3 requests by class.
 */
import { dynamoItemBytes, type UsageMeter } from '../../ports/usage.ts';
import type { ProxiedCall } from './proxy.ts';

type WireItem = Record<string, unknown>;

function json(body: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Wire items carry binary as base64 strings; size them as the bytes they stand for. */
function itemBytes(item: WireItem | undefined): number {
  if (!item) return 1;
  const fix = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    const a = v as Record<string, unknown>;
    if (typeof a.B === 'string') return { B: Buffer.from(a.B, 'base64') };
    if (Array.isArray(a.L)) return { L: a.L.map(fix) };
    if (a.M && typeof a.M === 'object')
      return { M: Object.fromEntries(Object.entries(a.M as WireItem).map(([k, x]) => [k, fix(x)])) };
    return a;
  };
  return dynamoItemBytes(Object.fromEntries(Object.entries(item).map(([k, v]) => [k, fix(v)])));
}

/** The meter calls metering makes, applied to several meters. */
function fanOut(meters: UsageMeter[]): Pick<UsageMeter, 'kinesisPut' | 'dynamoWrite' | 'dynamoRead' | 'add'> {
  return {
    kinesisPut: (bytes) => {
      for (const m of meters) m.kinesisPut(bytes);
    },
    dynamoWrite: (bytes) => {
      for (const m of meters) m.dynamoWrite(bytes);
    },
    dynamoRead: (bytes, consistent) => {
      for (const m of meters) m.dynamoRead(bytes, consistent);
    },
    add: (u) => {
      for (const m of meters) m.add(u);
    },
  };
}

/**
 * Counts the call's billable units into each of `meters` (the stack's and the calling task's): the
 * bodies are read once for all of them, the request's as the IAM mapping parsed it.
 */
export function meterCall(
  meters: UsageMeter | UsageMeter[],
  c: ProxiedCall,
  status: number,
  response: Buffer,
): void {
  if (status >= 300) return;
  const all = Array.isArray(meters) ? meters : [meters];
  const meter = all.length === 1 ? all[0] : fanOut(all);
  const request = () => {
    c.call.json ??= json(c.call.body);
    return c.call.json;
  };
  const action = c.iam[0]?.action ?? '';
  switch (c.service) {
    case 'kinesis': {
      const body = request();
      if (action === 'kinesis:PutRecords')
        for (const r of (body.Records ?? []) as { Data?: string; PartitionKey?: string }[])
          meter.kinesisPut(
            Buffer.byteLength(r.Data ?? '', 'base64') + Buffer.byteLength(r.PartitionKey ?? ''),
          );
      else if (action === 'kinesis:PutRecord')
        meter.kinesisPut(
          Buffer.byteLength(String(body.Data ?? ''), 'base64') +
            Buffer.byteLength(String(body.PartitionKey ?? '')),
        );
      break;
    }
    case 'dynamodb': {
      const body = request();
      const consistent = body.ConsistentRead === true;
      if (action === 'dynamodb:PutItem') meter.dynamoWrite(itemBytes(body.Item as WireItem));
      else if (action === 'dynamodb:UpdateItem' || action === 'dynamodb:DeleteItem') meter.dynamoWrite(1024);
      else if (action === 'dynamodb:BatchWriteItem') {
        for (const reqs of Object.values((body.RequestItems ?? {}) as Record<string, WireItem[]>))
          for (const r of reqs)
            meter.dynamoWrite(
              itemBytes((r.PutRequest as { Item?: WireItem } | undefined)?.Item ?? undefined),
            );
      } else if (action === 'dynamodb:GetItem')
        meter.dynamoRead(itemBytes(json(response).Item as WireItem), consistent);
      else if (
        action === 'dynamodb:BatchGetItem' ||
        action === 'dynamodb:Query' ||
        action === 'dynamodb:Scan'
      ) {
        const res = json(response);
        const items = res.Items
          ? (res.Items as WireItem[])
          : Object.values((res.Responses ?? {}) as Record<string, WireItem[]>).flat();
        if (items.length === 0) meter.dynamoRead(1, consistent);
        for (const i of items) meter.dynamoRead(itemBytes(i), consistent);
      }
      break;
    }
    case 's3':
      if (action === 's3:PutObject' || action === 's3:DeleteObject') meter.add({ s3PutRequests: 1 });
      else if (action === 's3:ListBucket') meter.add({ s3ListRequests: 1 });
      else if (action === 's3:GetObject') meter.add({ s3GetRequests: 1 });
      break;
  }
}
