/**
 * Reading SQL text the way SQLite's tokenizer does, for what sql.js does not expose: the `$parameters`
 * a statement uses (SQLite's Tcl-style variables: `$` then letters, digits, `_`, `$` and `::`, with an
 * optional `(…)` suffix, so `$p::(nested/prop)` is one parameter), skipping string literals, quoted
 * identifiers and comments.
 */

/** The distinct `$` parameter names of a statement, in order of first use. */
export function parameterNames(sql: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const past = pastLiteralOrComment(sql, i);
    if (past !== i) {
      i = past;
    } else if (c === '$' && (i === 0 || !/[\p{L}\p{N}_$]/u.test(sql[i - 1]))) {
      // (A `$` inside an identifier, as in `a$b`, is part of the name, not a parameter.)
      let j = i + 1;
      while (j < n) {
        if (/[\p{L}\p{N}_$]/u.test(sql[j])) j++;
        else if (sql[j] === ':' && sql[j + 1] === ':') j += 2;
        else if (sql[j] === '(') {
          const end = sql.indexOf(')', j);
          j = end < 0 ? n : end + 1;
          break;
        } else break;
      }
      const name = sql.slice(i, j);
      if (name.length > 1 && !out.includes(name)) out.push(name);
      i = j;
    } else if (/[\p{L}\p{N}_]/u.test(c)) {
      // Skip a whole identifier or number, `$` included (`a$b` names a column).
      let j = i + 1;
      while (j < n && /[\p{L}\p{N}_$]/u.test(sql[j])) j++;
      i = j;
    } else i++;
  }
  return out;
}

/**
 * What follows a SQL block's last `;` (outside literals and comments) when it is more than whitespace:
 * Estuary's derive-sqlite (`sql_block_to_statements`) refuses such a block, a trailing comment
 * included, rather than guess whether the tail is a statement missing its `;` or nothing at all.
 */
export function unterminatedTail(block: string): string | undefined {
  let end = 0;
  let i = 0;
  const n = block.length;
  while (i < n) {
    const past = pastLiteralOrComment(block, i);
    if (past !== i) i = past;
    else {
      if (block[i] === ';') end = i + 1;
      i++;
    }
  }
  const tail = block.slice(end);
  return tail.trim() === '' ? undefined : tail.trim();
}

/**
 * Where the string literal, quoted identifier (`"…"`, `` `…` ``, `[…]`) or comment starting at `i` ends
 * (the end of the text when it is unclosed); `i` itself when none starts there.
 */
function pastLiteralOrComment(sql: string, i: number): number {
  const c = sql[i];
  const after = (close: number, length: number) => (close < 0 ? sql.length : close + length);
  if (c === "'" || c === '"' || c === '`') return skipQuoted(sql, i, c);
  if (c === '[') return after(sql.indexOf(']', i + 1), 1);
  if (c === '-' && sql[i + 1] === '-') return after(sql.indexOf('\n', i), 1);
  if (c === '/' && sql[i + 1] === '*') return after(sql.indexOf('*/', i + 2), 2);
  return i;
}

function skipQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return sql.length;
}
