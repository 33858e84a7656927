/**
 * File parsers for source-s3: JSON, JSON lines, CSV (RFC 4180 with configurable delimiter, quote and
 * escape), gzip. Every record becomes an object document with `_meta: {file, offset}` where `offset` is
 * the record's 0-based index in the file, so parsing the same object twice gives the same documents.
 * A bad record (a line that is not JSON or not an object, a CSV row of the wrong width) is a
 * SourceParseError naming the file and its 1-based line: `parseObject` throws the first, `parseRecords`
 * returns each in its place among the documents, so that a capture under `park` can set aside that record
 * alone. What spoils the whole object (not gzip, not UTF-8, not one JSON value, an unterminated quote, a
 * limit) throws from both.
 *
 * Bounded: gunzip stops at `maxDecompressedBytes` of output (a small gzip bomb cannot exhaust memory or
 * make V8 abort on an oversized string), and no line of JSON lines or CSV may exceed `maxLineBytes`;
 * either throws ObjectLimitError naming the object and the limit (source-s3 adds the per-object size
 * limit, checked before the body is read).
 */
import { gunzipSync } from 'node:zlib';
import { valuesInErrors } from '../config/debug-values.ts';
import { type InexactNumber, inexactNumberIn, inexactNumberMessage } from '../json/exact-integers.ts';
import { setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { ObjectLimitError, SourceParseError } from './errors.ts';
import { jsonValueSpans } from './json-values.ts';

export type FormatType = 'json' | 'jsonl' | 'csv' | 'auto';
export type Compression = 'gzip' | 'none' | 'auto';

export interface CsvOptions {
  /** Column names; default: the file's first row. */
  headers?: string[];
  /** Default: detected from the start of the file (detectDelimiter), as Estuary's parser does. */
  delimiter?: string;
  /** `''` turns quoting off (Estuary's "Disable Quoting"). */
  quote?: string;
  /** Escape character inside quoted fields; default (and `''`): the quote character itself (`""`). */
  escape?: string;
  /** `\x1E` ends records too; `\n`, `\r\n` and `\r` are all read whatever is set, as Estuary's CRLF default. */
  lineEnding?: string;
  /** Lines skipped at the start of the file (metadata before the header row). */
  skipLines?: number;
}

/** Estuary's CSV null sentinels (crates/parser character_separated CSV_NULLS): these values read as null. */
const CSV_NULLS = new Set(['', 'NULL', 'null', 'nil']);

/** Estuary's delimiters (crates/parser config/character_separated.rs `Delimiter`). */
const DELIMITERS = [',', '\t', ';', '|', '\x1F', '\x01', '\x0B', ' '];

/**
 * The delimiter of a file that names none. Estuary counts each candidate in the first 8 KiB and takes the
 * most frequent; counted outside quotes and preferring one that splits the first lines alike, so that the
 * spaces of a comma-separated file's text do not win.
 */
export function detectDelimiter(text: string, quote = '"'): string {
  const lines = text
    .slice(0, 8192)
    .split(/\r?\n|\r/)
    .filter((l) => l !== '')
    .slice(0, 10);
  if (lines.length > 1 && text.length > 8192) lines.pop(); // the last one may be cut short
  const counts = (line: string, d: string): number => {
    let n = 0;
    let quoted = false;
    for (const ch of line) {
      if (quote !== '' && ch === quote) quoted = !quoted;
      else if (ch === d && !quoted) n++;
    }
    return n;
  };
  let best = ',';
  let bestScore = -1;
  for (const d of DELIMITERS) {
    const per = lines.map((l) => counts(l, d));
    const total = per.reduce((a, b) => a + b, 0);
    // Absent from the first line, it splits no columns there: a one-column file's text keeps its spaces.
    if (total === 0 || per[0] === 0) continue;
    const consistent = per.every((c) => c === per[0]);
    // Consistent across lines first, then the most frequent; the list's order breaks ties (comma first).
    const score = (consistent ? 1e9 : 0) + total;
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  return best;
}

/** `0x09` (the hex notation of Estuary's docs) as the character it names; any other value as it is. */
export function csvChar(value: string | undefined): string | undefined {
  const m = value === undefined ? null : /^0x([0-9a-fA-F]{2})$/.exec(value);
  return m ? String.fromCharCode(Number.parseInt(m[1], 16)) : value;
}

/** How much of one object the parsers accept (source-s3 `advanced`; defaults below). */
export interface ParseLimits {
  /** Stored (possibly compressed) size of one object. */
  maxObjectBytes: number;
  /** Size after decompression. */
  maxDecompressedBytes: number;
  /** Length of one line (JSON lines, CSV), in bytes. */
  maxLineBytes: number;
}

/**
 * Defaults sized for a 1 GB Lambda: an object and its text are held in memory while parsed, and no
 * document above 1 MiB fits in a Kinesis record anyway.
 */
export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxObjectBytes: 64 * 1024 * 1024,
  maxDecompressedBytes: 64 * 1024 * 1024,
  maxLineBytes: 4 * 1024 * 1024,
};

export interface ParseOptions {
  format: FormatType;
  compression: Compression;
  csv?: CsvOptions;
  /** Default DEFAULT_PARSE_LIMITS. */
  limits?: Partial<ParseLimits>;
  /** The object's bucket, named in limit errors. */
  bucket?: string;
}

export function decompress(
  file: string,
  body: Uint8Array,
  compression: Compression,
  maxOutputBytes: number = DEFAULT_PARSE_LIMITS.maxDecompressedBytes,
  bucket?: string,
): Uint8Array {
  const gz = body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
  if (compression === 'gzip' || (compression === 'auto' && gz)) {
    try {
      // zlib inflates chunk by chunk and gives up as soon as the output passes the cap.
      return gunzipSync(body, { maxOutputLength: maxOutputBytes });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError)
        throw new ObjectLimitError(
          bucket,
          file,
          `decompresses to more than ${maxOutputBytes} bytes (advanced.maxDecompressedBytes)`,
        );
      throw new SourceParseError(file, 1, 'not valid gzip', (err as Error).message);
    }
  }
  if (body.length > maxOutputBytes)
    throw new ObjectLimitError(
      bucket,
      file,
      `is more than ${maxOutputBytes} bytes (advanced.maxDecompressedBytes)`,
    );
  return body;
}

/** The first line (1-based) longer than `max` bytes, if any: checked on the bytes, before decoding. */
function longLine(bytes: Uint8Array, max: number): number | undefined {
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    if (end - start > max) return line;
    if (nl < 0) return undefined;
    start = nl + 1;
    line++;
  }
}

export function formatOf(file: string, format: FormatType): Exclude<FormatType, 'auto'> {
  if (format !== 'auto') return format;
  const name = file.toLowerCase().replace(/\.(gz|gzip)$/, '');
  if (name.endsWith('.csv') || name.endsWith('.tsv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  return 'json';
}

/** JSON.parse's message without the snippet of input it may quote, unless values may be logged. */
function jsonErrorDetail(err: unknown): string {
  const m = (err as Error).message;
  return valuesInErrors() ? m : m.replace(/"(?:[^"\\]|\\.)*"/g, '…');
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function withMeta(file: string, offset: number, line: number, v: Json, raw: string): JsonObject {
  if (!isObject(v)) throw new SourceParseError(file, line, 'a record must be a JSON object', raw);
  const meta = isObject(v._meta) ? v._meta : {};
  return { ...v, _meta: { ...meta, file, offset } };
}

/**
 * One record of an object, in file order: its document, or why it is not one (with its text). Its index
 * in the list is its `_meta/offset`, bad records counted too, so a record's offset does not depend on
 * whether the records before it parsed.
 */
export type ParsedRecord = { doc: JsonObject } | { error: SourceParseError };

/** A record's document, or its parse error in its place. */
function record(make: () => JsonObject): ParsedRecord {
  try {
    return { doc: make() };
  } catch (err) {
    if (err instanceof SourceParseError) return { error: err };
    throw err;
  }
}

/**
 * The records of one JSON value (`text`, starting on `line`): an object, or each item of an array, as
 * Estuary's JSON parser unrolls a top-level array. A value that is not JSON is one bad record (and the
 * answer is false); an integer JSON.parse would round fails the record holding it (exact-integers.ts).
 */
function pushValue(file: string, text: string, line: number, out: ParsedRecord[]): boolean {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (err) {
    out.push({
      error: new SourceParseError(
        file,
        line,
        `invalid JSON (${jsonErrorDetail(err)})`,
        text.split('\n')[0] ?? '',
      ),
    });
    return false;
  }
  const rounded = inexactNumberIn(text);
  const items = Array.isArray(v) ? v : [v];
  items.forEach((item, i) => {
    const excerpt = Array.isArray(v) ? JSON.stringify(item) : text.slice(0, 200);
    const prefix = Array.isArray(v) ? `/${i}` : '';
    out.push(
      record(() => {
        if (rounded && (rounded.pointer === prefix || rounded.pointer.startsWith(`${prefix}/`)))
          throw inexactError(
            file,
            line + lineAt(text, text.indexOf(rounded.literal)) - 1,
            { ...rounded, pointer: rounded.pointer.slice(prefix.length) },
            excerpt,
          );
        return withMeta(file, out.length, line, item, excerpt);
      }),
    );
  });
  return true;
}

/** The records of a stream of JSON values, or undefined when the text is not one (see json-values.ts). */
function parseValueStream(file: string, text: string): ParsedRecord[] | undefined {
  const spans = jsonValueSpans(text);
  if (!spans) return undefined;
  const out: ParsedRecord[] = [];
  for (const { start, end, line } of spans)
    if (!pushValue(file, text.slice(start, end), line, out)) return undefined;
  return out;
}

/**
 * JSON lines: a value per line (an array's items each a record), so that a bad line is that record alone.
 * A file whose lines are not values one by one (pretty-printed objects in a `.jsonl`) is read as a stream
 * of values, as Estuary reads both formats.
 */
function parseJsonLines(file: string, text: string): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let line = 0;
  let allJson = true;
  for (const raw of text.split('\n')) {
    line++;
    const s = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (s.trim() === '') continue;
    if (!pushValue(file, s, line, out)) allJson = false;
  }
  return allJson ? out : (parseValueStream(file, text) ?? out);
}

/** One JSON value, or a stream of them (concatenated, pretty-printed, one per line); whitespace alone is no record. */
function parseJson(file: string, text: string): ParsedRecord[] {
  if (text.trim() === '' || text === '\ufeff') return [];
  const whole: ParsedRecord[] = [];
  if (pushValue(file, text, 1, whole)) return whole;
  const stream = parseValueStream(file, text);
  if (stream) return stream;
  if (text.trim().startsWith('{') && text.includes('\n')) return parseJsonLines(file, text);
  // Neither one value nor a stream: the whole text's syntax error says where.
  try {
    JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    const at = lineAt(text, m ? Number(m[1]) : 0);
    throw new SourceParseError(
      file,
      at,
      `invalid JSON (${jsonErrorDetail(err)})`,
      text.split('\n')[at - 1] ?? '',
    );
  }
  return [];
}

function inexactError(file: string, line: number, rounded: InexactNumber, text: string): SourceParseError {
  return new SourceParseError(
    file,
    line,
    `${rounded.pointer}: ${inexactNumberMessage(rounded.literal, valuesInErrors())}`,
    text,
  );
}

/** CSV records with the 1-based line each starts on. Quoted fields may hold delimiters, quotes and newlines. */
export function* csvRecords(
  file: string,
  text: string,
  o: CsvOptions = {},
): Generator<{ fields: (string | null)[]; line: number }> {
  let i = 0;
  let line = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  for (let skip = o.skipLines ?? 0; skip > 0 && i < n; skip--) {
    const nl = text.indexOf('\n', i);
    i = nl < 0 ? n : nl + 1;
    line++;
  }
  const quote = csvChar(o.quote) ?? '"';
  // Detected from what follows the skipped lines (metadata there is no table).
  const delim = csvChar(o.delimiter) ?? detectDelimiter(i === 0 ? text : text.slice(i), quote);
  const esc = csvChar(o.escape) || quote;
  const rs = csvChar(o.lineEnding) === '\x1E';
  const isEnd = (ch: string | undefined) => ch === '\n' || ch === '\r' || (rs && ch === '\x1E');
  while (i < n) {
    const start = line;
    const fields: (string | null)[] = [];
    let atRecordEnd = false;
    while (!atRecordEnd) {
      let value = '';
      let quoted = false;
      if (quote !== '' && text[i] === quote) {
        quoted = true;
        i++;
        for (;;) {
          if (i >= n) throw new SourceParseError(file, start, 'unterminated quoted field', value);
          const ch = text[i] as string;
          if (ch === esc && esc !== quote && text[i + 1] === quote) {
            value += quote;
            i += 2;
          } else if (ch === quote) {
            if (esc === quote && text[i + 1] === quote) {
              value += quote;
              i += 2;
            } else {
              i++;
              break;
            }
          } else {
            if (ch === '\n') line++;
            value += ch;
            i++;
          }
        }
        if (i < n && text[i] !== delim && !isEnd(text[i])) {
          const end = text.indexOf('\n', i);
          throw new SourceParseError(
            file,
            line,
            `unexpected character ${JSON.stringify(text[i])} after a closing quote`,
            text.slice(i, end < 0 ? n : end),
          );
        }
      } else {
        while (i < n && text[i] !== delim && !isEnd(text[i])) value += text[i++];
      }
      fields.push(quoted || value !== '' ? value : null);
      if (i >= n) atRecordEnd = true;
      else if (text[i] === delim) i++;
      else {
        if (text[i] === '\x1E') i++;
        else {
          if (text[i] === '\r') i++;
          if (text[i] === '\n') i++;
          line++;
        }
        atRecordEnd = true;
      }
    }
    if (fields.length === 1 && fields[0] === null) continue; // blank line
    yield { fields, line: start };
  }
}

function parseCsv(file: string, text: string, o: CsvOptions = {}): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let headers = o.headers;
  for (const { fields, line } of csvRecords(file, text, o)) {
    if (!headers) {
      headers = fields.map((f, i) => f ?? `column${i + 1}`);
      continue;
    }
    const names = headers;
    out.push(
      record(() => {
        // As Estuary's parser: a row may have fewer columns than the headers (the missing ones are left
        // out), not more.
        if (fields.length > names.length) {
          throw new SourceParseError(
            file,
            line,
            `expected at most ${names.length} fields (${names.join(', ')}), found ${fields.length}`,
            fields.map((f) => f ?? '').join(csvChar(o.delimiter) ?? ','),
          );
        }
        const doc: JsonObject = {};
        // A column named `__proto__` (or `constructor`) is a plain property like any other.
        fields.forEach((f, i) => {
          setOwnProp(doc, names[i], f === null || CSV_NULLS.has(f) ? null : f);
        });
        return { ...doc, _meta: { file, offset: out.length } };
      }),
    );
  }
  return out;
}

/** Parse one object's bytes into documents; the first bad record throws. */
export function parseObject(file: string, body: Uint8Array, o: ParseOptions): JsonObject[] {
  return parseRecords(file, body, o).map((r) => {
    if ('error' in r) throw r.error;
    return r.doc;
  });
}

/** Parse one object's bytes into its records, each a document or the error of that record alone. */
export function parseRecords(file: string, body: Uint8Array, o: ParseOptions): ParsedRecord[] {
  const limits = { ...DEFAULT_PARSE_LIMITS, ...o.limits };
  const bytes = decompress(file, body, o.compression, limits.maxDecompressedBytes, o.bucket);
  const format = formatOf(file, o.format);
  if (format !== 'json') {
    const line = longLine(bytes, limits.maxLineBytes);
    if (line !== undefined)
      throw new ObjectLimitError(
        o.bucket,
        file,
        `line ${line} is longer than ${limits.maxLineBytes} bytes (advanced.maxLineBytes)`,
      );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new SourceParseError(file, 1, 'not valid UTF-8 text', '');
  }
  switch (format) {
    case 'jsonl':
      return parseJsonLines(file, text);
    case 'csv':
      return parseCsv(file, text, o.csv);
    default:
      return parseJson(file, text);
  }
}
