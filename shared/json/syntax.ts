/**
 * Where and why a text is not JSON, for messages that say so (V8's JSON.parse does not always say
 * where: "Unexpected token '}', ... is not valid JSON"). jsonc-parser (VS Code's JSON scanner and parser)
 * finds the first error, strictly: no comments, no trailing commas, no empty text; this says it in the
 * words of what was expected there and what was found.
 */
import { type ParseErrorCode, printParseErrorCode, visit } from 'jsonc-parser';

export interface JsonSyntaxProblem {
  /** 1-based. */
  line: number;
  col: number;
  /** `not valid JSON: expected ..., found ...` */
  message: string;
}

const A_VALUE = 'a value (an object, array, string, number, `true`, `false` or `null`)';
const AN_ESCAPE = 'an escape (`\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` or `\\uXXXX`)';

/** The first syntax error of a JSON text (a `.json` file, an input line); undefined when it is JSON. */
export function jsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const body = bom ? text.slice(1) : text;
  // What the parser had read when it failed: the open containers, and whether a value or a name just ended.
  const open: ('{' | '[')[] = [];
  let after: 'value' | 'name' | ':' | ',' | 'open' | 'nothing' = 'nothing';
  let first:
    | { code: ParseErrorCode; offset: number; length: number; open: '{' | '[' | undefined; after: string }
    | undefined;
  visit(
    body,
    {
      onObjectBegin: () => {
        open.push('{');
        after = 'open';
      },
      onArrayBegin: () => {
        open.push('[');
        after = 'open';
      },
      onObjectEnd: () => {
        open.pop();
        after = 'value';
      },
      onArrayEnd: () => {
        open.pop();
        after = 'value';
      },
      onObjectProperty: () => {
        after = 'name';
      },
      onLiteralValue: () => {
        after = 'value';
      },
      onSeparator: (c) => {
        after = c === ':' ? ':' : ',';
      },
      onError: (code, offset, length) => {
        first ??= { code, offset, length, open: open.at(-1), after };
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  );
  if (first === undefined) return undefined;
  const { at, expected } = explain(body, first);
  const found =
    at >= body.length
      ? 'the end of the file'
      : body.charCodeAt(at) < 0x20
        ? JSON.stringify(body[at])
        : `\`${body[at]}\``;
  const before = text.slice(0, at + bom);
  return {
    line: before.split('\n').length,
    col: at + bom - before.lastIndexOf('\n'),
    message: `not valid JSON: expected ${expected}, found ${found}`,
  };
}

/** Where the error is and what was expected there, from the parser's error code and what it had read. */
function explain(
  text: string,
  e: { code: ParseErrorCode; offset: number; length: number; open: '{' | '[' | undefined; after: string },
): { at: number; expected: string } {
  const afterItem =
    e.open === '[' ? '`,` or `]` after the array item' : '`,` or `}` after the property value';
  switch (printParseErrorCode(e.code)) {
    case 'PropertyNameExpected':
      return { at: e.offset, expected: 'a double-quoted property name' };
    case 'ColonExpected':
      return { at: e.offset, expected: '`:` after the property name' };
    case 'CommaExpected':
    case 'CloseBraceExpected':
    case 'CloseBracketExpected':
      return { at: e.offset, expected: afterItem };
    case 'EndOfFileExpected':
      return { at: e.offset, expected: 'nothing after the JSON value' };
    case 'UnexpectedEndOfString': {
      // The string token runs from its quote to where it broke off: the end, or a line break in it.
      const at = e.offset + e.length;
      return at < text.length && text.charCodeAt(at) < 0x20
        ? { at, expected: 'no line break or control character inside a string (write `\\n`)' }
        : { at, expected: 'the closing `"` of the string' };
    }
    case 'InvalidCharacter':
      return { at: e.offset, expected: 'no line break or control character inside a string (write `\\n`)' };
    case 'InvalidEscapeCharacter':
    case 'InvalidUnicode': {
      // The error spans the string token: point at the escape that is wrong.
      const token = text.slice(e.offset, e.offset + e.length);
      const bad = /\\(?:u(?![0-9a-fA-F]{4})|[^"\\/bfnrtu])/.exec(token);
      return { at: e.offset + (bad ? bad.index + 1 : 0), expected: AN_ESCAPE };
    }
    case 'InvalidCommentToken':
    case 'UnexpectedEndOfComment':
      return { at: e.offset, expected: 'a value (JSON has no comments)' };
    case 'InvalidSymbol':
      // A symbol where a name, a separator, a value or nothing at all had to come.
      if (e.after === 'value')
        return { at: e.offset, expected: e.open ? afterItem : 'nothing after the JSON value' };
      if (e.after === 'name') return { at: e.offset, expected: '`:` after the property name' };
      if (e.open === '{' && e.after !== ':')
        return { at: e.offset, expected: 'a double-quoted property name' };
      return { at: e.offset, expected: A_VALUE };
    default:
      return { at: e.offset, expected: A_VALUE };
  }
}
