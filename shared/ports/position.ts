/**
 * Source positions. Kinesis sequence numbers are decimal strings of up to 128 digits: never numbers.
 * A document's position is (sequence number of its record, index inside the packed record), encoded as
 * `<sequence left-zero-padded to 128 digits>:<index left-zero-padded to 6 digits>` so that positions
 * compare correctly as plain strings (the Checkpoint encoding of shared/materialize/connector.ts).
 */
import { SluiceError } from '../errors.ts';
export const SEQ_DIGITS = 128;
export const INDEX_DIGITS = 6;

export class PositionError extends SluiceError {
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
 * An origin: `<source>@<position>`, where source names a source journal shard (`<collection>/<shardId>`)
 * and position is comparable as a string within that source (position.ts encoding, optionally with a
 * `:<output index>` suffix for the n-th document a transform produced from one source document).
 */
export function formatOrigin(source: string, position: string): string {
  return `${source}@${position}`;
}

export function parseOrigin(origin: string): { source: string; position: string } {
  const at = origin.lastIndexOf('@');
  if (at <= 0) throw new PositionError(origin);
  return { source: origin.slice(0, at), position: origin.slice(at + 1) };
}
