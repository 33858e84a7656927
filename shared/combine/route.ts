/**
 * Routing JSON lines to combiner shards by key without parsing them: each shard must see every
 * document of its keys, in input order, so that its per-key fold is exactly the sequential one. A
 * byte scan finds the value of one top-level property (the collection key `/name`) and hashes its
 * canonical JSON text; parsing stays in the shards, which is where the time goes.
 *
 * Equal keys always land on the same shard: a plain string hashes its raw bytes (its UTF-8 text, as
 * JSON.stringify writes it back); a string with escapes, a number or a literal hashes
 * JSON.stringify(JSON.parse(raw)) (`"a\u0062"` as `"ab"`, `1.0` and `-0` as `1` and `0`, as the
 * combiner's Map compares them); a duplicated property counts at its last occurrence, as JSON.parse
 * does. A line that is not a JSON object, lacks the property or holds an object or array there goes
 * to shard 0: it is invalid for a keyed collection, or at least always on the same shard.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function fnv(buf: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) {
    h ^= buf[i];
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** Index of the closing quote of the string whose opening quote is at `i`, or -1. */
function stringEnd(buf: Uint8Array, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = buf[j];
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j;
  }
  return -1;
}

function hasBackslash(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] === BACKSLASH) return true;
  return false;
}

export class KeyRouter {
  private readonly name: Buffer;
  /** `{"<name>":"`: how most lines start (the key written first). */
  private readonly prefix: Buffer;
  /**
   * `<name>"`: preceded by a quote, another occurrence after the prefix might be a duplicate
   * property. Searched without its opening quote, the commonest byte of JSON text, which the search
   * would stop at every few bytes: ≈ 2× faster.
   */
  private readonly quotedTail: Buffer;

  /** prefix and quotedTail as latin1 text: one character per byte (see shardOfLine). */
  private readonly prefixText: string;
  private readonly quotedTailText: string;

  /** @param property the top-level property holding the key (the single token of the key pointer) */
  constructor(
    private readonly property: string,
    readonly shards: number,
  ) {
    this.name = Buffer.from(property, 'utf8');
    this.prefix = Buffer.from(`{${JSON.stringify(property)}:"`, 'utf8');
    this.quotedTail = Buffer.from(JSON.stringify(property).slice(1), 'utf8');
    this.prefixText = this.prefix.toString('latin1');
    this.quotedTailText = this.quotedTail.toString('latin1');
  }

  /** The text being routed (see setText) and the data it was decoded from. */
  private text = '';
  private textBuf: Buffer | undefined;
  private textOffset = 0;
  private textLimit = 0;
  /** The first backslash in the text at or after the line being routed, or -1 for none. */
  private textSlash = -1;

  /**
   * Starts routing lines given as latin1 text: `text` is `buf[offset, offset + text.length)` decoded
   * one character per byte, its lines then routed in order by shardOfLine. `limit`: as for shardOf.
   */
  setText(text: string, buf: Buffer, offset: number, limit: number): void {
    this.text = text;
    this.textBuf = buf;
    this.textOffset = offset;
    this.textLimit = limit;
    this.textSlash = text.indexOf('\\');
  }

  /**
   * The shard of the line `text[start, end)` of the text set last: what shardOf gives for its bytes.
   * The common case (fastValueEnd's) is decided on the text with V8's own string search and
   * charCodeAt, ≈ 2× faster than on the bytes, where each search is a call into Node's Buffer
   * bindings; any other line goes to shardOf.
   */
  shardOfLine(start: number, end: number): number {
    if (this.shards === 1) return 0;
    const text = this.text;
    const p = this.prefixText;
    if (end - start > p.length && text.startsWith(p, start)) {
      const open = start + p.length - 1;
      const close = text.indexOf('"', open + 1);
      // Lines come in order: the first backslash found is reused until a line passes it.
      if (this.textSlash >= 0 && this.textSlash < open) this.textSlash = text.indexOf('\\', open);
      const slash = this.textSlash;
      if (close >= 0 && close < end && (slash < 0 || slash >= end)) {
        // Stops at the next line at the latest (which starts with the prefix) in the usual input.
        const tail = this.quotedTailText;
        let dup = false;
        for (let i = text.indexOf(tail, close + 2); i >= 0 && i < end; i = text.indexOf(tail, i + 1)) {
          if (text.charCodeAt(i - 1) === QUOTE) {
            dup = true;
            break;
          }
        }
        if (!dup) {
          let h = FNV_OFFSET;
          for (let i = open; i <= close; i++) {
            h ^= text.charCodeAt(i);
            h = Math.imul(h, FNV_PRIME);
          }
          return (h >>> 0) % this.shards;
        }
      }
    }
    const o = this.textOffset;
    return this.shardOf(this.textBuf!, o + start, o + end, this.textLimit);
  }

  /** The first backslash in `slashBuf[slashFrom, slashLimit)`, or -1 for none there. */
  private slashBuf: Uint8Array | undefined;
  private slashFrom = 0;
  private slashLimit = 0;
  private nextSlash = -1;

  /**
   * Whether `buf[from, end)` holds a backslash, where `buf[0, limit)` is the data (it may grow past
   * `limit` later: what lies there counts as unknown). Lines of a buffer are routed in order, so the
   * first backslash found is kept and reused until a line passes it or the data grows: one scan per
   * chunk of data, not one per line (searching to the buffer's end for each line was quadratic in the
   * buffer's size).
   */
  private hasBackslashIn(buf: Uint8Array, from: number, end: number, limit: number): boolean {
    if (
      buf !== this.slashBuf ||
      from < this.slashFrom ||
      end > this.slashLimit ||
      (this.nextSlash >= 0 && this.nextSlash < from)
    ) {
      const i = buf.indexOf(BACKSLASH, from);
      this.slashBuf = buf;
      this.slashFrom = from;
      this.slashLimit = limit;
      this.nextSlash = i < limit ? i : -1;
    }
    return this.nextSlash >= 0 && this.nextSlash < end;
  }

  /**
   * The common case without a byte-by-byte scan: the line starts with `{"<name>":"` and, after that
   * string value, holds neither the quoted name nor any backslash (so no duplicate of the property,
   * escaped or not, can follow). Returns the end of the value (whose opening quote is the prefix's
   * last byte), or -1.
   */
  private fastValueEnd(buf: Buffer, start: number, end: number, limit: number): number {
    const p = this.prefix;
    if (end - start <= p.length) return -1;
    for (let i = 0; i < p.length; i++) if (buf[start + i] !== p[i]) return -1;
    const open = start + p.length - 1;
    let close = open + 1;
    while (close < end && buf[close] !== QUOTE) close++;
    if (close >= end) return -1;
    if (this.hasBackslashIn(buf, open + 1, end, limit)) return -1;
    // Stops at the next line at the latest (which starts with the prefix) in the usual input.
    const tail = this.quotedTail;
    for (let i = buf.indexOf(tail, close + 2); i >= 0 && i < end; i = buf.indexOf(tail, i + 1)) {
      if (buf[i - 1] === QUOTE) return -1;
    }
    return close + 1;
  }

  private nameIs(buf: Uint8Array, start: number, end: number): boolean {
    if (hasBackslash(buf, start, end)) {
      try {
        return JSON.parse(Buffer.from(buf.subarray(start - 1, end + 1)).toString('utf8')) === this.property;
      } catch {
        return false;
      }
    }
    const n = this.name;
    if (end - start !== n.length) return false;
    for (let i = 0; i < n.length; i++) if (buf[start + i] !== n[i]) return false;
    return true;
  }

  /**
   * The shard of the line `buf[start, end)`. `limit`: where the data in `buf` ends, when the buffer
   * is being filled (bytes past it may still change).
   */
  shardOf(buf: Buffer, start: number, end: number, limit = buf.length): number {
    if (this.shards === 1) return 0;
    const fast = this.fastValueEnd(buf, start, end, limit);
    if (fast >= 0) return fnv(buf, start + this.prefix.length - 1, fast) % this.shards;
    let i = start;
    while (i < end && isSpace(buf[i])) i++;
    if (buf[i] !== LBRACE) return 0;
    let depth = 0;
    let expectName = false;
    let valueStart = -1;
    let valueEnd = -1;
    for (; i < end; i++) {
      const c = buf[i];
      if (c === QUOTE) {
        const close = stringEnd(buf, i, end);
        if (close < 0) return 0;
        if (depth === 1 && expectName) {
          expectName = false;
          let k = close + 1;
          while (k < end && isSpace(buf[k])) k++;
          if (buf[k] !== COLON) return 0;
          k++;
          while (k < end && isSpace(buf[k])) k++;
          if (this.nameIs(buf, i + 1, close)) {
            const v = buf[k];
            if (v === QUOTE) {
              const vClose = stringEnd(buf, k, end);
              if (vClose < 0) return 0;
              valueStart = k;
              valueEnd = vClose + 1;
              i = vClose;
              continue;
            }
            if (v === LBRACE || v === LBRACKET) {
              valueStart = -1; // an object or array key: shard 0
              i = k - 1;
              continue;
            }
            let e = k;
            while (e < end && buf[e] !== COMMA && buf[e] !== RBRACE && !isSpace(buf[e])) e++;
            valueStart = k;
            valueEnd = e;
            i = e - 1;
            continue;
          }
          i = k - 1;
          continue;
        }
        i = close;
      } else if (c === LBRACE || c === LBRACKET) {
        depth++;
        expectName = depth === 1;
      } else if (c === RBRACE || c === RBRACKET) {
        depth--;
      } else if (c === COMMA && depth === 1) {
        expectName = true;
      }
    }
    if (valueStart < 0) return 0;
    return this.hashValue(buf, valueStart, valueEnd) % this.shards;
  }

  private hashValue(buf: Uint8Array, start: number, end: number): number {
    if (buf[start] === QUOTE && !hasBackslash(buf, start, end)) return fnv(buf, start, end);
    let canonical: string;
    try {
      canonical = JSON.stringify(JSON.parse(Buffer.from(buf.subarray(start, end)).toString('utf8')));
    } catch {
      return 0;
    }
    const bytes = Buffer.from(canonical, 'utf8');
    return fnv(bytes, 0, bytes.length);
  }
}
