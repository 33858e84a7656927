/** The loader's schema questions, answered by shared/schema (registry, shape inference). */
import { SchemaRegistry } from '../schema/registry.ts';
import { listReduceAnnotations, shapeAt } from '../schema/shape.ts';
import type { SchemaIndexFactory } from './schema-index.ts';

export const sharedSchemaIndex: SchemaIndexFactory = (schemas) => {
  const registry = new SchemaRegistry(schemas);
  return {
    shapeAt: (uri, pointer) => shapeAt(registry, uri, pointer),
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
