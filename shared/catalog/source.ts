/**
 * A parsed catalog, schema, config or fixture file (YAML or JSON: the YAML parser reads both),
 * with a way back from a JSON pointer to the line and column where that location was written.
 * A `.json` file must be JSON: what only YAML accepts there (`{"a": }`, a trailing comma, a comment)
 * is a syntax error, not a value the YAML parser made of it (`{"a": null}`).
 *
 * The parsed value of a file without problems is cached by its content (shared/cache), and the YAML
 * parser is loaded only when needed: on a cache miss, or when a diagnostic asks where something was
 * written (positions come from the YAML document, parsed then). Loading `yaml` and parsing a
 * catalog's files took ≈ 30–40 ms of a `sluice check` that otherwise takes ≈ 200 ms.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { LineCounter, Node } from 'yaml';
import { contentKey, readCached, writeCached } from '../cache/content-cache.ts';
import { parsePointer } from '../json/pointer.ts';
import { jsonSyntaxError } from '../json/syntax.ts';
import type { Json } from '../json/types.ts';

/** The YAML parser, loaded on first use (a CommonJS package: required synchronously). */
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule;
}

/** Cache kind of parsed values; bump when the parse options or the value's shape change. */
const CACHE_KIND = 'yaml-value-v1';

export interface Position {
  line: number;
  col: number;
}

export interface ParseProblem extends Position {
  message: string;
  severity: 'error' | 'warning';
}

type YamlDoc = ReturnType<typeof Yaml.parseDocument>;

function parseYaml(text: string): { doc: YamlDoc; lines: LineCounter } {
  const y = yaml();
  const lines = new y.LineCounter();
  const doc = y.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  return { doc, lines };
}

export class SourceDoc {
  private parsed: { doc: YamlDoc; lines: LineCounter } | undefined;

  private constructor(
    /** Absolute path. */
    readonly file: string,
    /** The parsed content; undefined when the file has a syntax error. */
    readonly value: Json | undefined,
    readonly problems: readonly ParseProblem[],
    private readonly text: string,
    parsed?: { doc: YamlDoc; lines: LineCounter },
  ) {
    this.parsed = parsed;
  }

  static parse(file: string, text: string): SourceDoc {
    if (/\.json$/i.test(file)) {
      const problem = jsonSyntaxError(text);
      if (problem) return new SourceDoc(file, undefined, [{ severity: 'error', ...problem }], text);
    }
    const key = contentKey(CACHE_KIND, text);
    const cached = readCached(CACHE_KIND, key);
    if (cached !== undefined) {
      try {
        return new SourceDoc(file, JSON.parse(cached) as Json, [], text);
      } catch {
        // A damaged entry: parse again (and overwrite it below).
      }
    }
    const { doc, lines } = parseYaml(text);
    const problems: ParseProblem[] = [];
    for (const [severity, list] of [
      ['error', doc.errors],
      ['warning', doc.warnings],
    ] as const) {
      for (const e of list) {
        let message = e.message.split('\n')[0];
        // The YAML parser's "Map keys must be unique" does not say which key.
        if (e.code === 'DUPLICATE_KEY') {
          const key = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]*?)\s*:/.exec(text.slice(e.pos[0]))?.[1];
          if (key) message = `the key \`${key}\` appears twice in one mapping; keys must be unique`;
        }
        problems.push({ severity, message, ...lines.linePos(e.pos[0]) });
      }
    }
    // A duplicate key is reported but leaves a usable document (the last value wins), so that
    // the rest of the file is still checked; any other syntax error makes the content unusable.
    const usable = doc.errors.every((e) => e.code === 'DUPLICATE_KEY');
    const value = usable ? (doc.toJS({ maxAliasCount: 10_000 }) as Json | undefined) : undefined;
    // Only clean files are cached (a file with problems reports them, with positions, every time),
    // and only values JSON holds exactly (YAML's .inf and .nan would come back as null).
    if (problems.length === 0) {
      let exact = true;
      const text = JSON.stringify(value ?? null, (_k, v) => {
        if (typeof v === 'number' && !Number.isFinite(v)) exact = false;
        return v;
      });
      if (exact) writeCached(CACHE_KIND, key, text);
    }
    return new SourceDoc(file, value ?? (usable ? null : undefined), problems, text, { doc, lines });
  }

  /** Reads and parses `file`; undefined when it does not exist or cannot be read. */
  static async read(file: string): Promise<SourceDoc | { error: string }> {
    try {
      return SourceDoc.parse(file, await readFile(file, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { error: 'does not exist' };
      if (code === 'EISDIR') return { error: 'is a directory, not a file' };
      return { error: `cannot be read: ${(err as Error).message}` };
    }
  }

  /**
   * Where the text of a block scalar (`module: |` and the lines below it) starts: the line and column of
   * its first content character, so that line L, column C of the text is line + L - 1, col + C - 1.
   * Undefined when the value at `pointer` is not a block scalar.
   */
  blockOrigin(pointer: string): Position | undefined {
    const { node, complete } = this.walk(pointer);
    const { isScalar } = yaml();
    if (
      !complete ||
      !isScalar(node) ||
      (node.type !== 'BLOCK_LITERAL' && node.type !== 'BLOCK_FOLDED') ||
      !node.range
    ) {
      return undefined;
    }
    const header = this.text.indexOf('\n', node.range[0]);
    if (header < 0) return undefined;
    const start = header + 1;
    const firstLine = /^(?:[ ]*\r?\n)*([ ]*)/.exec(this.text.slice(start));
    const indent = firstLine ? firstLine[1].length : 0;
    return { line: this.parsed!.lines.linePos(start).line, col: indent + 1 };
  }

  /**
   * Where the value at `pointer` was written. With `key: true`, and when the pointer's last
   * segment is an object property, where that property's key was written instead. A pointer
   * that does not fully exist resolves to its deepest existing ancestor.
   */
  position(pointer: string, opts: { key?: boolean } = {}): Position {
    const { at } = this.walk(pointer, opts);
    return this.parsed!.lines.linePos(at);
  }

  /** The text a scalar at `pointer` was written as (`9007199254740993`), undefined when it is no scalar. */
  scalarSource(pointer: string): string | undefined {
    const { node, complete } = this.walk(pointer);
    if (!complete || !yaml().isScalar(node) || !node.range) return undefined;
    return this.text.slice(node.range[0], node.range[1]);
  }

  /**
   * The YAML node at `pointer` and the offset where it (with `key`, its key) was written; when the
   * pointer does not fully exist, `complete` is false and the offset is its deepest existing ancestor's.
   */
  private walk(
    pointer: string,
    opts: { key?: boolean } = {},
  ): { node: Node | null | undefined; at: number; complete: boolean } {
    this.parsed ??= parseYaml(this.text);
    const { doc } = this.parsed;
    const { isAlias, isMap, isScalar, isSeq } = yaml();
    let node: Node | null | undefined = doc.contents as Node | null;
    let at = node?.range?.[0] ?? 0;
    const segments = parsePointer(pointer);
    let i = 0;
    for (; i < segments.length && node; i++) {
      if (isAlias(node)) node = node.resolve(doc) as Node | undefined;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segments[i]);
        if (!pair) break;
        const keyAt = (pair.key as Node).range?.[0] ?? at;
        const value = pair.value as Node | null;
        at = opts.key && i === segments.length - 1 ? keyAt : (value?.range?.[0] ?? keyAt);
        node = value;
      } else if (isSeq(node)) {
        const item = node.items[Number(segments[i])] as Node | undefined;
        if (!item) break;
        at = item.range?.[0] ?? at;
        node = item;
      } else {
        break;
      }
    }
    return { node, at, complete: i === segments.length };
  }
}
