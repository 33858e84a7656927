/**
 * The part of a built catalog one task needs, which is all a deployed function ships (`catalog.json` in
 * its asset): its own capture, derivation or materialization (with its own endpoint config, whose
 * secrets stay references resolved at run time), the collections it reads or writes, the schema
 * documents those collections name and everything they `$ref`, and the storage mappings (where fragments
 * live; no credentials). Another task's endpoint config, credentials or code path never reaches it.
 * No tests: a function never runs them.
 */

import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SluiceError } from '../errors.ts';
import { isObject, type Json } from '../json/types.ts';
import type { BuiltCatalog, CollectionSpec } from './model.ts';

export type TaskRef =
  | { kind: 'capture'; name: string }
  | { kind: 'derivation'; name: string }
  | { kind: 'materialization'; name: string }
  | { kind: 'persister'; name: string };

export class TaskCatalogError extends SluiceError {
  readonly code = 'UnknownTask';
  constructor(readonly task: TaskRef) {
    super(`no ${task.kind === 'persister' ? 'collection' : task.kind} named ${task.name} in the catalog`);
    this.name = 'TaskCatalogError';
  }
}

/**
 * Where a shipped catalog's folder appears to be. A built catalog names its files by absolute path
 * (`root`, schema URIs `file:///home/ann/flows/orders.flow.yaml?ptr=…`, source locations), so the same
 * catalog synthesized from two checkouts (a laptop, CI) made different `catalog.json` files: every
 * function's asset, and so every function, changed on each deploy from another folder, and the
 * developer's paths were deployed. Nothing in a function reads those files: they are names.
 */
export const SHIPPED_CATALOG_DIR = '/catalog';

/**
 * `catalog.json` as a function ships it: the task catalog as JSON, with the catalog's folder renamed
 * SHIPPED_CATALOG_DIR wherever it is written (as a path, and as a file URL). Files outside that folder
 * (an import from `../`) keep their absolute names.
 */
export function shippedCatalogJson(catalog: BuiltCatalog): string {
  const dir = dirname(catalog.root);
  const json = JSON.stringify(catalog);
  // As JSON writes them: inside a string, a path's `"` or `\` would be escaped.
  const asJson = (s: string) => JSON.stringify(s).slice(1, -1);
  return json
    .replaceAll(asJson(`${pathToFileURL(dir).href}/`), asJson(`file://${SHIPPED_CATALOG_DIR}/`))
    .replaceAll(asJson(`${dir}/`), asJson(`${SHIPPED_CATALOG_DIR}/`));
}

/** The catalog as shipped to the function of `task`. */
export function taskCatalog(catalog: BuiltCatalog, task: TaskRef): BuiltCatalog {
  const out: BuiltCatalog = {
    root: catalog.root,
    schemas: {},
    collections: {},
    captures: {},
    materializations: {},
    tests: {},
    storageMappings: catalog.storageMappings,
  };
  const collections = new Set<string>();
  switch (task.kind) {
    case 'capture': {
      const spec = catalog.captures[task.name];
      if (!spec) throw new TaskCatalogError(task);
      out.captures[task.name] = spec;
      for (const b of spec.bindings) collections.add(b.target);
      break;
    }
    case 'materialization': {
      const spec = catalog.materializations[task.name];
      if (!spec) throw new TaskCatalogError(task);
      out.materializations[task.name] = spec;
      for (const b of spec.bindings) collections.add(b.source.name);
      break;
    }
    case 'derivation': {
      const spec = catalog.collections[task.name];
      if (!spec?.derive) throw new TaskCatalogError(task);
      collections.add(task.name);
      for (const t of spec.derive.transforms) collections.add(t.source.name);
      break;
    }
    case 'persister':
      if (!catalog.collections[task.name]) throw new TaskCatalogError(task);
      collections.add(task.name);
      break;
  }
  for (const name of [...collections].sort()) {
    const spec = catalog.collections[name];
    if (!spec) continue; // the loader reports it; nothing to ship
    // Only a derivation's own collection keeps its `derive` (its module path and transforms).
    const shipped: CollectionSpec =
      task.kind === 'derivation' && name === task.name ? spec : withoutDerive(spec);
    out.collections[name] = shipped;
    addSchema(catalog.schemas, out.schemas, spec.writeSchema);
    addSchema(catalog.schemas, out.schemas, spec.readSchema);
  }
  return out;
}

function withoutDerive(spec: CollectionSpec): CollectionSpec {
  const { derive: _, ...rest } = spec;
  return rest;
}

function stripFragment(uri: string): string {
  const i = uri.indexOf('#');
  return i < 0 ? uri : uri.slice(0, i);
}

/** The schema documents a URI names (an exact key, else every key of the same document). */
function documentsOf(all: Record<string, Json>, uri: string): string[] {
  if (uri in all) return [uri];
  const doc = stripFragment(uri);
  return Object.keys(all).filter((k) => k === doc || stripFragment(k) === doc);
}

/** Add the schema document(s) `uri` names and, transitively, every document they `$ref`. */
function addSchema(all: Record<string, Json>, out: Record<string, Json>, uri: string): void {
  const pending = documentsOf(all, uri);
  while (pending.length > 0) {
    const key = pending.pop() as string;
    if (key in out) continue;
    out[key] = all[key];
    for (const ref of refsOf(all[key], key)) for (const k of documentsOf(all, ref)) pending.push(k);
  }
}

/** Absolute URIs of the `$ref`s of a schema document that point outside it. */
function refsOf(schema: Json, base: string): string[] {
  const refs: string[] = [];
  const walk = (node: Json, at: string) => {
    if (Array.isArray(node)) {
      for (const x of node) walk(x, at);
      return;
    }
    if (!isObject(node)) return;
    const id = typeof node.$id === 'string' ? resolveUri(node.$id, at) : at;
    for (const [k, v] of Object.entries(node)) {
      if ((k === '$ref' || k === '$dynamicRef') && typeof v === 'string') {
        if (!v.startsWith('#')) refs.push(resolveUri(v, id));
      } else {
        walk(v, id);
      }
    }
  };
  walk(schema, base);
  return refs;
}

function resolveUri(ref: string, base: string): string {
  try {
    return new URL(ref, base).href;
  } catch {
    return ref;
  }
}

/**
 * The catalog a whole assembly ships, put back together from its functions' parts (`sluice dev
 * --assembly` has no catalog file): every collection, capture and materialization some function ships,
 * with a derivation's own spec (its `derive`) preferred over a reader's copy without it. No tests.
 */
export function mergeTaskCatalogs(parts: BuiltCatalog[]): BuiltCatalog | undefined {
  if (parts.length === 0) return undefined;
  const out: BuiltCatalog = {
    root: parts[0].root,
    schemas: {},
    collections: {},
    captures: {},
    materializations: {},
    tests: {},
    storageMappings: parts[0].storageMappings,
  };
  for (const p of parts) {
    Object.assign(out.schemas, p.schemas);
    Object.assign(out.captures, p.captures);
    Object.assign(out.materializations, p.materializations);
    for (const [name, spec] of Object.entries(p.collections))
      if (!out.collections[name] || (spec.derive && !out.collections[name].derive))
        out.collections[name] = spec;
  }
  return out;
}
