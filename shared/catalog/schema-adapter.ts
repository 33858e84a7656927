/** The loader's schema questions, answered by shared/schema (registry, shape inference). */

import { escapeToken, parsePointer } from '../json/pointer.ts';
import { describeViolation, SchemaRegistry } from '../schema/registry.ts';
import { listReduceAnnotations, shapeAt } from '../schema/shape.ts';
import type { SchemaIndexFactory } from './schema-index.ts';

export const sharedSchemaIndex: SchemaIndexFactory = (schemas) => {
  const registry = new SchemaRegistry(schemas);
  return {
    shapeAt: (uri, pointer) => {
      const shape = shapeAt(registry, uri, pointer);
      return isImplicit(registry, uri, pointer, shape) ? { ...shape, implicit: true } : shape;
    },
    locations: (uri) => declaredLocations(registry, uri),
    reduceAnnotations: (uri) => listReduceAnnotations(registry, uri),
    compile: (uri) => {
      registry.validator(uri);
    },
    // The catalog's own test documents, reported to their author: their values may be quoted.
    validate: (uri, doc) =>
      registry
        .validator(uri)
        .validate(doc)
        .map((v) => describeViolation(v, { values: true })),
  };
};

const ALL_TYPES = ['null', 'boolean', 'string', 'array', 'object'];

/**
 * A location that exists only because nothing forbids it: some token on the way is not a declared
 * property of its parent, and the location admits every type (no `additionalProperties` or
 * `patternProperties` schema constrains it).
 */
function isImplicit(
  registry: SchemaRegistry,
  uri: string,
  pointer: string,
  shape: ReturnType<typeof shapeAt>,
): boolean {
  if (shape.exists === 'cannot' || pointer === '') return false;
  if (!ALL_TYPES.every((t) => shape.types.has(t as never))) return false;
  const tokens = parsePointer(pointer);
  let parent = '';
  for (const token of tokens) {
    const p = shapeAt(registry, uri, parent);
    if (p.types.has('object') && !p.properties.includes(token)) return true;
    parent += `/${escapeToken(token)}`;
  }
  return false;
}

/**
 * Declared properties and tuple items, recursively and breadth first (shallow locations first): at most 5,000 locations
 * to a depth of 16, so that a recursive schema (a tree of nodes) stops rather than expanding without end;
 * `complete` is false when it stopped.
 */
function declaredLocations(registry: SchemaRegistry, uri: string): { pointers: string[]; complete: boolean } {
  const pointers: string[] = [];
  let level = [''];
  for (let depth = 0; level.length > 0; depth++) {
    const next: string[] = [];
    for (const pointer of level) {
      const shape = shapeAt(registry, uri, pointer);
      const tokens = [
        ...(shape.types.has('object') ? shape.properties.map(escapeToken) : []),
        ...Array.from({ length: shape.tupleItems }, (_, i) => `${i}`),
      ];
      for (const token of tokens) {
        const child = `${pointer}/${token}`;
        if (shapeAt(registry, uri, child).exists === 'cannot') continue;
        if (pointers.length >= MAX_LOCATIONS || depth >= MAX_DEPTH) return { pointers, complete: false };
        pointers.push(child);
        next.push(child);
      }
    }
    level = next;
  }
  return { pointers, complete: true };
}

const MAX_LOCATIONS = 5000;
const MAX_DEPTH = 16;
