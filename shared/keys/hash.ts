/**
 * Stable hashes of packed keys, for routing a key to a shard. Both depend only on the packed bytes,
 * so a key lands on the same shard in every process, on every machine, in every release.
 */
import { createHash } from 'node:crypto';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a, 32 bits, of the packed key: an unsigned integer in [0, 2^32). */
export function hashKey(packed: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < packed.length; i++) {
    h ^= packed[i];
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * A Kinesis `ExplicitHashKey`: the MD5 of the packed key read as a 128-bit big-endian unsigned
 * integer, in decimal, in [0, 2^128). (Kinesis itself maps a partition key to a shard by the MD5 of
 * the partition key; routing by this value keeps one key on one shard across splits and merges.)
 */
export function explicitHashKey(packed: Uint8Array): string {
  const hex = createHash('md5').update(packed).digest('hex');
  return BigInt('0x' + hex).toString(10);
}
