/** Where and why a text is not JSON, for messages that say so (JSON.parse often does not say where). */
import { SluiceError } from '../errors.ts';

export interface JsonSyntaxProblem {
  /** 1-based. */
  line: number;
  col: number;
  /** `not valid JSON: expected ..., found ...` */
  message: string;
}

/**
 * The first syntax error of a JSON text (a `.json` file, an input line), with its line and column; undefined when it is JSON.
 * (V8's JSON.parse does not always say where: "Unexpected token '}', ... is not valid JSON".)
 */
export function jsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const found = (): string =>
    i >= text.length
      ? 'the end of the file'
      : text.charCodeAt(i) < 0x20
        ? JSON.stringify(text[i])
        : `\`${text[i]}\``;
  const fail = (expected: string): never => {
    throw new JsonSyntax(i, `expected ${expected}, found ${found()}`);
  };
  const space = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const string = (): void => {
    if (text[i] !== '"') fail('a double-quoted string');
    i++;
    for (;;) {
      if (i >= text.length) fail('the closing `"` of the string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail('no line break or control character inside a string (write `\\n`)');
      if (c === 0x5c) {
        i++;
        if (text[i] === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) i += 4;
        else if (!'"\\/bfnrt'.includes(text[i] ?? 'x') || i >= text.length)
          fail('an escape (`\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or `\\uXXXX`)');
      }
      i++;
    }
    i++;
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') {
      i++;
      space();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        space();
        if (text[i] !== '"') fail('a double-quoted property name');
        string();
        space();
        if (text[i] !== ':') fail('`:` after the property name');
        i++;
        value();
        space();
        if (text[i] === '}') break;
        if (text[i] !== ',') fail('`,` or `}` after the property value');
        i++;
      }
      i++;
    } else if (c === '[') {
      i++;
      space();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[i] === ']') break;
        if (text[i] !== ',') fail('`,` or `]` after the array item');
        i++;
      }
      i++;
    } else if (c === '"') {
      string();
    } else {
      const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(
        text.slice(i, i + 400),
      );
      if (!m) fail('a value (an object, array, string, number, `true`, `false` or `null`)');
      else i += m[0].length;
    }
  };
  try {
    value();
    space();
    if (i < text.length) fail('nothing after the JSON value');
    return undefined;
  } catch (err) {
    if (!(err instanceof JsonSyntax)) throw err;
    const before = text.slice(0, err.offset);
    const line = before.split('\n').length;
    const col = err.offset - before.lastIndexOf('\n');
    return { line, col, message: `not valid JSON: ${err.message}` };
  }
}

/** Where and why a `.json` file is not JSON (thrown and caught inside jsonSyntaxError only). */
class JsonSyntax extends SluiceError {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}
