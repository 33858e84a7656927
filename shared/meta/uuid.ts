/**
 * `_meta/uuid`: a time-ordered UUID (version 7 layout: 48-bit Unix milliseconds, then a counter and
 * a producer id) derived only from its inputs, so that replaying the same source position produces
 * the same id.
 */
import { createHash } from 'node:crypto';

/**
 * @param ms publish time in Unix milliseconds
 * @param producer a stable name of who publishes (task and source shard)
 * @param position a stable position inside the producer (sequence number and index, or a counter)
 */
export function metaUuid(ms: number, producer: string, position: string | number): string {
  const h = createHash('sha1').update(producer).update('\0').update(String(position)).digest();
  const b = Buffer.alloc(16);
  b.writeUIntBE(Math.max(0, Math.floor(ms)) % 2 ** 48, 0, 6);
  h.copy(b, 6, 0, 10);
  b[6] = (b[6] & 0x0f) | 0x70; // version 7
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The publish time (Unix ms) carried by a `metaUuid`. */
export function uuidTime(uuid: string): number {
  return Number.parseInt(uuid.replaceAll('-', '').slice(0, 12), 16);
}

/** When a document was published: the time its `_meta/uuid` carries (undefined without one). */
export function publishedAt(doc: unknown): number | undefined {
  const meta = (doc as { _meta?: { uuid?: unknown } } | null)?._meta;
  return typeof meta?.uuid === 'string' ? uuidTime(meta.uuid) : undefined;
}
