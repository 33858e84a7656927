/**
 * A text holding JSON values one after another, separated by whitespace or nothing (`{…}{…}`, pretty-printed
 * objects, JSON lines): what Estuary's JSON parser reads (crates/parser format/json.rs: "any stream of JSON
 * values separated by whitespace"). Where each value starts and ends, without parsing it.
 */
export interface ValueSpan {
  start: number;
  end: number;
  /** 1-based line the value starts on. */
  line: number;
}

/** The spans of the values in `text`, or undefined when it is not such a stream (an unbalanced bracket, a stray character). */
export function jsonValueSpans(text: string): ValueSpan[] | undefined {
  const spans: ValueSpan[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  const n = text.length;
  const skipString = (j: number): number => {
    // j at the opening quote; returns the index after the closing one (n when unterminated).
    for (j++; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x5c) j++;
      else if (c === 0x22) return j + 1;
      else if (c === 0x0a) return n + 1; // JSON strings hold no raw newline
    }
    return n + 1;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      i++;
      continue;
    }
    if (c === 0x20 || c === 0x09 || c === 0x0d) {
      i++;
      continue;
    }
    const start = i;
    const startLine = line;
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      for (; i < n; ) {
        const d = text.charCodeAt(i);
        if (d === 0x22) {
          i = skipString(i);
          if (i > n) return undefined;
          continue;
        }
        if (d === 0x0a) line++;
        else if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) {
          depth--;
          if (depth === 0) {
            i++;
            break;
          }
        }
        i++;
      }
      if (depth !== 0) return undefined;
    } else if (c === 0x22) {
      i = skipString(i);
      if (i > n) return undefined;
    } else {
      // A number or a literal: up to the next whitespace or structural character.
      while (i < n && !/[\s{}[\]",]/.test(text[i])) i++;
      if (i === start) return undefined;
    }
    spans.push({ start, end: i, line: startLine });
  }
  return spans;
}
