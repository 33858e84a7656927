/**
 * A parsed catalog, schema, config or fixture file (YAML or JSON: the YAML parser reads both),
 * with a way back from a JSON pointer to the line and column where that location was written.
 */
import { readFile } from 'node:fs/promises';
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { parsePointer } from '../json/pointer.ts';
import type { Json } from '../json/types.ts';

export interface Position {
  line: number;
  col: number;
}

export interface ParseProblem extends Position {
  message: string;
  severity: 'error' | 'warning';
}

type YamlDoc = ReturnType<typeof parseDocument>;

export class SourceDoc {
  private constructor(
    /** Absolute path. */
    readonly file: string,
    /** The parsed content; undefined when the file has a syntax error. */
    readonly value: Json | undefined,
    readonly problems: readonly ParseProblem[],
    private readonly doc: YamlDoc,
    private readonly lines: LineCounter,
  ) {}

  static parse(file: string, text: string): SourceDoc {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const problems: ParseProblem[] = [];
    for (const [severity, list] of [
      ['error', doc.errors],
      ['warning', doc.warnings],
    ] as const) {
      for (const e of list) {
        problems.push({ severity, message: e.message.split('\n')[0], ...lines.linePos(e.pos[0]) });
      }
    }
    // A duplicate key is reported but leaves a usable document (the last value wins), so that
    // the rest of the file is still checked; any other syntax error makes the content unusable.
    const usable = doc.errors.every((e) => e.code === 'DUPLICATE_KEY');
    const value = usable ? (doc.toJS({ maxAliasCount: 10_000 }) as Json | undefined) : undefined;
    return new SourceDoc(file, value ?? (usable ? null : undefined), problems, doc, lines);
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
   * Where the value at `pointer` was written. With `key: true`, and when the pointer's last
   * segment is an object property, where that property's key was written instead. A pointer
   * that does not fully exist resolves to its deepest existing ancestor.
   */
  position(pointer: string, opts: { key?: boolean } = {}): Position {
    let node: Node | null | undefined = this.doc.contents as Node | null;
    let at = node?.range?.[0] ?? 0;
    const segments = parsePointer(pointer);
    for (let i = 0; i < segments.length && node; i++) {
      if (isAlias(node)) node = node.resolve(this.doc) as Node | undefined;
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
    return this.lines.linePos(at);
  }
}
