/**
 * Estuary's schema inspections (crates/doc/src/shape/inspections.rs `Shape::inspect`, which
 * crates/validation collection.rs turns into build errors) that the key, projection and reduction checks
 * (checks.ts) do not already make:
 * - `SetInvalidProperty`: a `set` location declares a property other than `add`, `intersect` and
 *   `remove`, which the strategy would reject at the first document that has it;
 * - `InvalidDefaultValue`: a `default` its own schema rejects (Estuary fills defaults into key and
 *   projected fields, so a wrong one would be materialized);
 * - `ImpossibleMustExist`: a location every document must have, whose schema admits nothing (`false`),
 *   so no document can ever be valid.
 * `SumNotNumber` and `MergeNotObjectOrArray` are checks.ts's `ReduceWrongType`; `ChildWithoutParentReduction`
 * is its `ReduceUnreachable` warning, as the spec asks.
 */
import { escapeToken } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { ARRAY_SCHEMA_KEYWORDS, MAP_SCHEMA_KEYWORDS, SINGLE_SCHEMA_KEYWORDS } from '../schema/keywords.ts';
import type { Report, Where } from './report.ts';
import type { Resources } from './resources.ts';
import type { SchemaIndex } from './schema-index.ts';

const SET_TERMS = new Set(['add', 'intersect', 'remove']);

/** Every subschema of a schema document, with its JSON pointer inside the document. */
function* subschemas(node: Json, pointer = ''): Generator<{ node: Json; pointer: string }> {
  yield { node, pointer };
  if (!isObject(node)) return;
  for (const [k, v] of Object.entries(node)) {
    const at = `${pointer}/${escapeToken(k)}`;
    if (SINGLE_SCHEMA_KEYWORDS.has(k) || (k === 'items' && !Array.isArray(v))) yield* subschemas(v, at);
    else if (MAP_SCHEMA_KEYWORDS.has(k) && isObject(v))
      for (const [name, s] of Object.entries(v)) yield* subschemas(s, `${at}/${escapeToken(name)}`);
    else if ((ARRAY_SCHEMA_KEYWORDS.has(k) || k === 'items') && Array.isArray(v))
      for (let i = 0; i < v.length; i++) yield* subschemas(v[i], `${at}/${i}`);
  }
}

/**
 * `SetInvalidProperty`, `InvalidDefaultValue` and a `pattern` (or `patternProperties` name) that is no
 * regular expression, in one schema document (`docUri`, as loaded); whether it found such a pattern
 * (ajv's compiler would then fail naming only the schema, so checks.ts does not compile it again).
 */
export function inspectSchemaDocument(
  report: Report,
  resources: Resources,
  index: SchemaIndex,
  docUri: string,
): boolean {
  const origin = resources.origins.get(docUri);
  const doc = resources.schemas[docUri];
  if (!origin || doc === undefined) return false;
  const where = (pointer: string): Where => ({ doc: origin.doc, pointer: origin.pointer + pointer });
  let badPattern = false;
  const checkPattern = (source: string, at: Where, what: string) => {
    const problem = regexProblem(source);
    if (problem === undefined) return;
    badPattern = true;
    report.error(
      'SchemaInvalid',
      at,
      `${what} ${JSON.stringify(source)} is not a regular expression (ECMA-262 with the \`u\` flag, as JSON Schema's are): ${problem}`,
    );
  };
  for (const { node, pointer } of subschemas(doc)) {
    if (!isObject(node)) continue;
    if (typeof node.pattern === 'string')
      checkPattern(node.pattern, where(`${pointer}/pattern`), '`pattern`');
    if (isObject(node.patternProperties))
      for (const name of Object.keys(node.patternProperties))
        checkPattern(
          name,
          { ...where(`${pointer}/patternProperties/${escapeToken(name)}`), key: true },
          'the `patternProperties` name',
        );
  }
  for (const { node, pointer } of subschemas(doc)) {
    if (!isObject(node)) continue;
    if (isObject(node.reduce) && node.reduce.strategy === 'set') {
      for (const keyword of ['properties', 'patternProperties'] as const) {
        const declared = node[keyword];
        if (!isObject(declared)) continue;
        for (const name of Object.keys(declared)) {
          if (SET_TERMS.has(name)) continue;
          report.error(
            'SetInvalidProperty',
            { ...where(`${pointer}/${keyword}/${escapeToken(name)}`), key: true },
            `\`${name}\` is declared under a location with the \`set\` reduce strategy, whose value may hold only \`add\`, \`intersect\` and \`remove\``,
          );
        }
      }
    }
    // (Defaults are validated, which compiles the schema: not when a pattern would fail that.)
    if ('default' in node && !badPattern) {
      // A fragment of this document: ajv resolves the subschema's `$ref`s against the document.
      const problems = index.validate(`${docUri}#${encodeURI(pointer)}`, node.default as Json);
      if (problems.length > 0)
        report.error(
          'InvalidDefaultValue',
          where(`${pointer}/default`),
          `the default value ${JSON.stringify(node.default)?.slice(0, 80)} does not match its own schema: ${problems[0].replace(/^\(root\): /, '')}`,
        );
    }
  }
  return badPattern;
}

/** Why `source` is not a regular expression (V8's words, without the repeated pattern), or undefined. */
function regexProblem(source: string): string | undefined {
  try {
    new RegExp(source, 'u');
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    return message.slice(message.lastIndexOf(': ') + 2) || message;
  }
}

/**
 * `ImpossibleMustExist` in a collection's schema (`uri`): a property required of a location that every
 * document has, whose schema admits no value. Found through the shape index (so `$ref`, `allOf` and the
 * like count), with `required` read where the parent's schema is written.
 */
export function impossibleRequired(
  report: Report,
  index: SchemaIndex,
  uri: string,
  role: string,
  requiredAt: (parent: string) => { names: string[]; at: (name: string) => Where | undefined },
): void {
  let level = [''];
  for (let depth = 0; level.length > 0 && depth < 16; depth++) {
    const next: string[] = [];
    for (const parent of level) {
      const shape = index.shapeAt(uri, parent);
      if (shape.exists !== 'must' || shape.types.size !== 1 || !shape.types.has('object')) continue;
      const required = requiredAt(parent);
      for (const name of required.names) {
        const child = `${parent}/${escapeToken(name)}`;
        const childShape = index.shapeAt(uri, child);
        if (childShape.exists === 'cannot' || childShape.types.size === 0) {
          const at = required.at(name);
          if (at)
            report.error(
              'ImpossibleMustExist',
              at,
              `\`${child}\` is required in every document of the ${role}, but its schema admits no value, so no document can be valid`,
            );
        } else next.push(child);
      }
    }
    level = next;
  }
}
