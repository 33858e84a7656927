/**
 * A schema keyword that misspells a known one (`maxLenght`, `requried`) is a warning with a "did you
 * mean": JSON Schema ignores keywords it does not know, so such a typo silently drops the constraint. A
 * keyword close to no known one is taken as an annotation (`x-order`, `airbyte_secret`) and left alone.
 */
import { escapeToken } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import {
  ARRAY_SCHEMA_KEYWORDS,
  KNOWN_SCHEMA_KEYWORDS,
  MAP_SCHEMA_KEYWORDS,
  SINGLE_SCHEMA_KEYWORDS,
} from '../schema/keywords.ts';
import { didYouMeanHint } from './diagnostics.ts';
import type { Report, Where } from './report.ts';

/** Warns, where each is written, about the keywords of `schema` (written at `at`) that misspell a known one. */
export function checkSchemaKeywords(schema: Json, at: Where, report: Report): void {
  const walk = (node: Json | undefined, pointer: string): void => {
    if (!isObject(node)) return;
    for (const [k, v] of Object.entries(node)) {
      const p = `${pointer}/${escapeToken(k)}`;
      if (SINGLE_SCHEMA_KEYWORDS.has(k)) walk(v, p);
      else if (ARRAY_SCHEMA_KEYWORDS.has(k) || k === 'items') {
        if (Array.isArray(v)) for (const [i, item] of v.entries()) walk(item, `${p}/${i}`);
        else walk(v, p);
      } else if (MAP_SCHEMA_KEYWORDS.has(k) || k === 'dependencies') {
        if (isObject(v)) for (const [name, sub] of Object.entries(v)) walk(sub, `${p}/${escapeToken(name)}`);
      } else if (!KNOWN_SCHEMA_KEYWORDS.has(k)) {
        const hint = didYouMeanHint(k, KNOWN_SCHEMA_KEYWORDS);
        if (hint) {
          report.warning(
            'UnknownKeyword',
            { doc: at.doc, pointer: p, key: true },
            `\`${k}\` is not a JSON Schema keyword, so it constrains nothing`,
            hint,
          );
        }
      }
    }
  };
  walk(schema, at.pointer);
}
