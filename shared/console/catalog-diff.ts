/**
 * What publishing a draft would change, `cdk diff`-style: tasks and collections added, changed or
 * removed between the running catalog and the draft's. Two catalogs loaded from different folders (the
 * draft is checked in a copy) are compared with their folders' paths and source positions taken out,
 * so only what would deploy differently counts as a change.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuiltCatalog, typescriptOf } from '../catalog/model.ts';
import type { CatalogChange } from './api-types.ts';

export type { CatalogChange, ChangeKind } from './api-types.ts';

type Entry = { kind: string; name: string; parts: Record<string, string> };

/** A catalog's entities, each reduced to comparable strings with `folder` made relative. */
function entries(catalog: BuiltCatalog): Map<string, Entry> {
  const folder = dirname(catalog.root);
  const url = pathToFileURL(folder).href;
  const norm = (v: unknown): string =>
    JSON.stringify(v, (k, x) => (k === 'source' && x && typeof x === 'object' && 'line' in x ? undefined : x))
      .replaceAll(url, '.')
      .replaceAll(folder, '.');
  const schemaText = (uri: string) => norm(catalog.schemas[uri.split('#')[0]] ?? null);
  const moduleText = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const out = new Map<string, Entry>();
  const put = (kind: string, name: string, parts: Record<string, string>) =>
    out.set(`${kind}:${name}`, { kind, name, parts });
  for (const c of Object.values(catalog.collections)) {
    put('collection', c.name, {
      schema: schemaText(c.writeSchema) + schemaText(c.readSchema),
      key: norm(c.key),
      projections: norm(c.projections),
      journals: norm(c.journals ?? null),
    });
    if (c.derive)
      put('derivation', c.name, {
        transforms: norm(c.derive.transforms),
        // The module's text (TypeScript) or the migrations (SQLite), as `using` holds them.
        module: (() => {
          const ts = typescriptOf(c.derive);
          return ts ? moduleText(ts.module) : norm(c.derive.using);
        })(),
        shards: norm(c.derive.shards ?? null),
      });
  }
  for (const c of Object.values(catalog.captures))
    put('capture', c.name, {
      endpoint: norm(c.endpoint),
      bindings: norm(c.bindings),
      interval: norm(c.interval ?? null),
    });
  for (const m of Object.values(catalog.materializations))
    put('materialization', m.name, { endpoint: norm(m.endpoint), bindings: norm(m.bindings) });
  for (const t of Object.values(catalog.tests)) put('test', t.name, { steps: norm(t.steps) });
  return out;
}

export function diffCatalogs(before: BuiltCatalog, after: BuiltCatalog): CatalogChange[] {
  const a = entries(before);
  const b = entries(after);
  const out: CatalogChange[] = [];
  for (const [id, e] of b) {
    const old = a.get(id);
    if (!old) out.push({ change: 'added', kind: e.kind, name: e.name });
    else {
      const parts = Object.keys(e.parts).filter((p) => e.parts[p] !== old.parts[p]);
      if (parts.length > 0) out.push({ change: 'changed', kind: e.kind, name: e.name, parts });
    }
  }
  for (const [id, e] of a) if (!b.has(id)) out.push({ change: 'removed', kind: e.kind, name: e.name });
  const order = ['capture', 'collection', 'derivation', 'materialization', 'test'];
  return out.sort((x, y) => order.indexOf(x.kind) - order.indexOf(y.kind) || x.name.localeCompare(y.name));
}
