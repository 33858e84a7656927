/**
 * Durations as written in catalogs (`journals.fragments.retention: 720h`, Go-style `1h30m`, or `30d`),
 * converted for S3 lifecycle rules, which count whole days.
 */
import { SluiceError } from '../shared/errors.ts';

export class InvalidDurationError extends SluiceError {
  readonly code = 'InvalidDuration';
  constructor(
    readonly value: string,
    readonly where: string,
  ) {
    super(
      `${where}: ${JSON.stringify(value)} is not a duration (expected e.g. 720h, 30d, 1h30m, 90m, 3600s)`,
    );
    this.name = 'InvalidDurationError';
  }
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

/** Seconds in a duration string such as `720h`, `1h30m`, `30d`. `where` (a JSON pointer or file:line) goes into errors. */
export function parseDurationSeconds(value: string, where: string): number {
  const text = value.trim();
  if (text === '') throw new InvalidDurationError(value, where);
  PART.lastIndex = 0;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) throw new InvalidDurationError(value, where);
    total += Number(m[1]) * UNIT_SECONDS[m[2]];
    pos = PART.lastIndex;
  }
  if (!(total > 0)) throw new InvalidDurationError(value, where);
  return total;
}

/** Whole days for an S3 lifecycle expiration: rounded up (never delete earlier than asked), at least 1. */
export function retentionDays(value: string, where: string): number {
  return Math.max(1, Math.ceil(parseDurationSeconds(value, where) / 86400));
}
