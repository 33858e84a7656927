/**
 * Source positions. Kinesis sequence numbers are decimal strings of up to 128 digits: never numbers.
 * A document's position is (sequence number of its record, index inside the packed record), encoded as
 * `<sequence left-zero-padded to 128 digits>:<index left-zero-padded to 6 digits>` so that positions
 * compare correctly as plain strings (the Checkpoint encoding of shared/materialize/connector.ts).
 */
import { createHash } from 'node:crypto';

export const SEQ_DIGITS = 128;
export const INDEX_DIGITS = 6;

export class PositionError extends Error {
  readonly code = 'BadPosition';
  constructor(readonly value: string) {
    super(`not a position or sequence number: ${JSON.stringify(value)}`);
    this.name = 'PositionError';
  }
}

export function padSequence(seq: string): string {
  if (!/^[0-9]{1,128}$/.test(seq)) throw new PositionError(seq);
  return seq.padStart(SEQ_DIGITS, '0');
}

export function encodePosition(sequenceNumber: string, index: number): string {
  return `${padSequence(sequenceNumber)}:${String(index).padStart(INDEX_DIGITS, '0')}`;
}

export function decodePosition(pos: string): { sequenceNumber: string; index: number } {
  const m = /^([0-9]{128}):([0-9]{6})$/.exec(pos);
  if (!m) throw new PositionError(pos);
  return { sequenceNumber: m[1].replace(/^0+(?=[0-9])/, ''), index: Number(m[2]) };
}

/** The larger of two positions (either may be undefined). */
export function maxPosition(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}

/** Compare sequence numbers of any length numerically, as strings. */
export function compareSequence(a: string, b: string): number {
  const pa = padSequence(a);
  const pb = padSequence(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

/**
 * A deterministic, time-ordered UUID (version 7 layout): 48 bits of milliseconds, then bits taken from
 * SHA-256 of `seed`. The same (time, seed) always gives the same UUID, so a replayed batch publishes
 * the same documents again rather than new ones.
 */
export function deterministicUuid(timeMs: number, seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  const b = Buffer.alloc(16);
  const ms = BigInt(Math.max(0, Math.floor(timeMs)));
  for (let i = 0; i < 6; i++) b[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  h.copy(b, 6, 0, 10);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** Milliseconds encoded in a version-7 UUID. */
export function uuidTimeMs(uuid: string): number {
  return Number.parseInt(uuid.replace(/-/g, '').slice(0, 12), 16);
}
