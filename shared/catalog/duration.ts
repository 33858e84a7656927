/**
 * Durations as Estuary writes them (Rust's `humantime`): one or more `<integer><unit>` terms,
 * optionally separated by spaces: `30s`, `5m`, `48h`, `2h30m`, `1h 30m`, `1 day`, `500ms`.
 */
import { SluiceError } from '../errors.ts';

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  nsec: 1e-9,
  nanos: 1e-9,
  us: 1e-6,
  usec: 1e-6,
  micros: 1e-6,
  ms: 1e-3,
  msec: 1e-3,
  millis: 1e-3,
  s: 1,
  sec: 1,
  secs: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  mins: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hrs: 3600,
  hour: 3600,
  hours: 3600,
  d: 86_400,
  day: 86_400,
  days: 86_400,
  w: 604_800,
  week: 604_800,
  weeks: 604_800,
  M: 2_630_016, // 30.44 days, as humantime
  month: 2_630_016,
  months: 2_630_016,
  y: 31_557_600, // 365.25 days, as humantime
  year: 31_557_600,
  years: 31_557_600,
};

export const DURATION_UNITS: readonly string[] = Object.keys(UNIT_SECONDS);

export class DurationError extends SluiceError {
  readonly code = 'InvalidDuration';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(`\`${input}\` is not a duration: ${reason}; write e.g. \`30s\`, \`5m\`, \`48h\` or \`2h30m\``);
    this.name = 'DurationError';
  }
}

/** Seconds in `input` (fractional for sub-second units). Throws DurationError. */
export function parseDuration(input: string): number {
  const text = input.trim();
  if (text === '') throw new DurationError(input, 'it is empty');
  const term = /(\d+)\s*([a-zA-Z]+)\s*/y;
  let seconds = 0;
  let at = 0;
  while (at < text.length) {
    term.lastIndex = at;
    const m = term.exec(text);
    if (!m) {
      const rest = text.slice(at);
      throw new DurationError(
        input,
        /^\d+$/.test(rest) ? `\`${rest}\` has no unit` : `unexpected \`${rest}\``,
      );
    }
    const unit = UNIT_SECONDS[m[2]];
    if (unit === undefined) throw new DurationError(input, `unknown unit \`${m[2]}\``);
    seconds += Number(m[1]) * unit;
    at = term.lastIndex;
  }
  return seconds;
}
