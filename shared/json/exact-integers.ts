/**
 * Numbers a JSON number cannot hold exactly. Sluice's documents are JavaScript values: JSON.parse reads
 * `9007199254740993` as 9007199254740992, so two keys would become one and a value would change without
 * a word. Estuary keeps int64/uint64 exact; until Sluice does, an integer literal in that range that a
 * double would round is refused where documents enter (HTTP ingest, files, `sluice combine` keys, test
 * fixtures), with where it is and how to send it instead (a string, with `format: integer` to sum it
 * exactly). Literals beyond uint64 stay doubles, as Estuary reads them too. A literal beyond any double
 * (`1e400`) is refused everywhere documents enter, `sluice combine` included: JSON.parse reads it as
 * Infinity, which passes `type: number` and is written back as `null`; Estuary's parser (serde_json)
 * refuses it as out of range.
 */
import { escapeToken } from './pointer.ts';

const INT64_MIN = -(BigInt(2) ** BigInt(63));
const UINT64_MAX = BigInt(2) ** BigInt(64) - BigInt(1);
/**
 * Every integer literal a double rounds has at least 16 digits (2^53 = 9007199254740992), every literal
 * beyond a double a three-digit exponent or over 300 digits (DBL_MAX ≈ 1.8e308).
 */
const MAYBE_INEXACT = /\d{16}|[eE]\+?\d{3}/;
const MAYBE_OVERFLOWING = /[eE]\+?\d{3}|\d{309}/;

/** Whether JSON.parse would round this number literal (an integer within int64/uint64). */
export function isRoundedIntegerLiteral(literal: string): boolean {
  if (literal.length < 16 || !/^-?\d+$/.test(literal)) return false;
  const exact = BigInt(literal);
  if (exact < INT64_MIN || exact > UINT64_MAX) return false;
  return BigInt(Number(literal)) !== exact;
}

/** Whether JSON.parse reads this number literal as ±Infinity. */
export function isOverflowingLiteral(literal: string): boolean {
  return !Number.isFinite(Number(literal));
}

export interface InexactNumber {
  /** JSON pointer of the number inside the text's value (`/3/id`: the 4th item's `id`). */
  pointer: string;
  literal: string;
}

/**
 * The first number literal in `text` (valid JSON, as JSON.parse accepted it) that JSON.parse rounds
 * (an integer) or overflows. A text without a run of 16 digits or a three-digit exponent is passed at
 * the cost of one regular-expression scan.
 */
export function inexactNumberIn(text: string): InexactNumber | undefined {
  if (!MAYBE_INEXACT.test(text)) return undefined;
  return numberIn(text, (literal) => isRoundedIntegerLiteral(literal) || isOverflowingLiteral(literal));
}

/**
 * The first number literal in `text` (valid JSON) that JSON.parse overflows: what `sluice combine` looks
 * for in every line (a regular-expression scan; it checks only keys for rounded integers).
 */
export function overflowingNumberIn(text: string): InexactNumber | undefined {
  if (!MAYBE_OVERFLOWING.test(text)) return undefined;
  return numberIn(text, isOverflowingLiteral);
}

function numberIn(text: string, pick: (literal: string) => boolean): InexactNumber | undefined {
  /** Containers open at this point of the text: an array's next index, or an object's current key. */
  const stack: { index: number; key: string | undefined }[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack.at(-1);
      // A string right before `:` is an object's key.
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k])) k++;
      if (top && text[k] === ':') top.key = JSON.parse(text.slice(i, j + 1)) as string;
      i = j + 1;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      stack.push({ index: 0, key: undefined });
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      i++;
    } else if (c === 0x2c /* , */) {
      const top = stack.at(-1);
      if (top) top.index++;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const literal = text.slice(i, j);
      if (pick(literal)) {
        const pointer = stack.map((f) => `/${f.key === undefined ? f.index : escapeToken(f.key)}`).join('');
        return { pointer, literal };
      }
      i = j;
    } else {
      i++;
    }
  }
  return undefined;
}

/**
 * What to say about a rounded integer or an overflowing number: why, and what to send instead; the value
 * itself only where values may be shown (`quote`: the user's own test data, or config/debug-values.ts
 * where documents are data).
 */
export function inexactNumberMessage(literal: string, quote: boolean): string {
  if (isOverflowingLiteral(literal))
    return `the number ${quote ? `${literal} ` : ''}is beyond what JSON numbers hold here (a 64-bit float, at most ±1.8e308); send it as a string`;
  return `the integer ${quote ? `${literal} ` : `of ${literal.replace('-', '').length} digits `}cannot be held exactly (Sluice keeps integers exact within ±9007199254740991); send it as a string (with \`format: integer\` to sum it exactly)`;
}

/** A JSON number that may be a rounded integer (JSON.parse gives only doubles ≥ 2^53 for those). */
export function mayBeRounded(n: number): boolean {
  return Number.isInteger(n) && !Number.isSafeInteger(n) && n >= -(2 ** 63) && n <= 2 ** 64;
}
