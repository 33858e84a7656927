/** The loader's schema questions, answered by shared/schema (registry, shape inference). */

import { escapeToken, parsePointer } from '../json/pointer.ts';
import { SchemaRegistry } from '../schema/registry.ts';
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
    validate: (uri, doc) =>
      registry
        .validator(uri)
        .validate(doc)
        .map((v) => {
          const extra = v.params.additionalProperty;
          return `${v.instancePath || '(root)'}: ${v.message}${typeof extra === 'string' ? ` (\`${extra}\`)` : ''}`;
        }),
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
 * Declared properties, recursively: to a depth of 16 and at most 5,000 locations, so that a recursive
 * schema (a tree of nodes) stops rather than expanding without end.
 */
function declaredLocations(registry: SchemaRegistry, uri: string): string[] {
  const out: string[] = [];
  const walk = (pointer: string, depth: number) => {
    if (depth > 16 || out.length >= MAX_LOCATIONS) return;
    const shape = shapeAt(registry, uri, pointer);
    if (!shape.types.has('object')) return;
    for (const name of shape.properties) {
      if (out.length >= MAX_LOCATIONS) return;
      const child = `${pointer}/${escapeToken(name)}`;
      if (shapeAt(registry, uri, child).exists === 'cannot') continue;
      out.push(child);
      walk(child, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

const MAX_LOCATIONS = 5000;
