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
import { type RoundedInteger, roundedIntegerIn, roundedIntegerMessage } from '../json/exact-integers.ts';
import { setOwnProp } from '../json/pointer.ts';
import { isObject, type Json, type JsonObject } from '../json/types.ts';
import { ObjectLimitError, SourceParseError } from './errors.ts';

export type FormatType = 'json' | 'jsonl' | 'csv' | 'auto';
export type Compression = 'gzip' | 'none' | 'auto';

export interface CsvOptions {
  /** Column names; default: the file's first row. */
  headers?: string[];
  delimiter?: string;
  quote?: string;
  /** Escape character inside quoted fields; default: the quote character itself (`""`). */
  escape?: string;
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

function parseJsonLines(file: string, text: string): ParsedRecord[] {
  const out: ParsedRecord[] = [];
  let line = 0;
  for (const raw of text.split('\n')) {
    line++;
    const s = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (s.trim() === '') continue;
    const at = line;
    out.push(
      record(() => {
        let v: Json;
        try {
          v = JSON.parse(s) as Json;
        } catch (err) {
          throw new SourceParseError(file, at, `invalid JSON (${jsonErrorDetail(err)})`, s);
        }
        const rounded = roundedIntegerIn(s);
        if (rounded) throw roundedError(file, at, rounded, s);
        return withMeta(file, out.length, at, v, s);
      }),
    );
  }
  return out;
}

function parseJson(file: string, text: string): ParsedRecord[] {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch (err) {
    // Not one JSON value: maybe concatenated objects, one per line.
    if (text.trim().startsWith('{') && text.includes('\n')) return parseJsonLines(file, text);
    const m = /position (\d+)/.exec((err as Error).message);
    const at = m ? Number(m[1]) : 0;
    const line = lineAt(text, at);
    throw new SourceParseError(
      file,
      line,
      `invalid JSON (${jsonErrorDetail(err)})`,
      text.split('\n')[line - 1] ?? '',
    );
  }
  // An integer JSON.parse rounded fails its own record (exact-integers.ts); the others go on.
  const rounded = roundedIntegerIn(text);
  const roundedAt = rounded && Array.isArray(v) ? Number(/^\/(\d+)/.exec(rounded.pointer)?.[1]) : 0;
  const checked = (i: number, item: Json, excerpt: string): JsonObject => {
    if (rounded && i === roundedAt) {
      const inItem = Array.isArray(v) ? rounded.pointer.replace(/^\/\d+/, '') : rounded.pointer;
      throw roundedError(
        file,
        lineAt(text, text.indexOf(rounded.literal)),
        { ...rounded, pointer: inItem },
        excerpt,
      );
    }
    return withMeta(file, i, 1, item, excerpt);
  };
  if (Array.isArray(v)) return v.map((item, i) => record(() => checked(i, item, JSON.stringify(item))));
  return [record(() => checked(0, v, text.slice(0, 200)))];
}

function roundedError(file: string, line: number, rounded: RoundedInteger, text: string): SourceParseError {
  return new SourceParseError(
    file,
    line,
    `${rounded.pointer}: ${roundedIntegerMessage(rounded.literal, valuesInErrors())}`,
    text,
  );
}

/** CSV records with the 1-based line each starts on. Quoted fields may hold delimiters, quotes and newlines. */
export function* csvRecords(
  file: string,
  text: string,
  o: CsvOptions = {},
): Generator<{ fields: (string | null)[]; line: number }> {
  const delim = o.delimiter ?? ',';
  const quote = o.quote ?? '"';
  const esc = o.escape ?? quote;
  let i = 0;
  let line = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < n) {
    const start = line;
    const fields: (string | null)[] = [];
    let atRecordEnd = false;
    while (!atRecordEnd) {
      let value = '';
      let quoted = false;
      if (text[i] === quote) {
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
        if (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') {
          const end = text.indexOf('\n', i);
          throw new SourceParseError(
            file,
            line,
            `unexpected character ${JSON.stringify(text[i])} after a closing quote`,
            text.slice(i, end < 0 ? n : end),
          );
        }
      } else {
        while (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') value += text[i++];
      }
      fields.push(quoted || value !== '' ? value : null);
      if (i >= n) atRecordEnd = true;
      else if (text[i] === delim) i++;
      else {
        if (text[i] === '\r') i++;
        if (text[i] === '\n') i++;
        line++;
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
        if (fields.length !== names.length) {
          throw new SourceParseError(
            file,
            line,
            `expected ${names.length} fields (${names.join(', ')}), found ${fields.length}`,
            fields.map((f) => f ?? '').join(o.delimiter ?? ','),
          );
        }
        const doc: JsonObject = {};
        // A column named `__proto__` (or `constructor`) is a plain property like any other.
        names.forEach((h, i) => {
          setOwnProp(doc, h, fields[i] ?? null);
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
