/**
 * The flow as a graph: captures → collections → derivations → materializations, from the catalog the
 * stack runs. Nodes that are tasks carry the task label their live figures are keyed by; a collection
 * node carries its persister's label (what writes the collection's fragments and reduced view).
 * Layout is the browser's job (dagre); this is only the structure.
 */
import type { BuiltCatalog } from '../catalog/model.ts';
import { ingestUrlPath } from '../catalog/resource-paths.ts';
import type { FlowGraph, GraphEdge, GraphNode } from './api-types.ts';

export type { FlowGraph, GraphEdge, GraphNode, NodeKind } from './api-types.ts';

export function flowGraph(catalog: BuiltCatalog): FlowGraph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const c of Object.values(catalog.collections))
    nodes.push({ id: `collection:${c.name}`, kind: 'collection', name: c.name, task: `persister:${c.name}` });
  for (const cap of Object.values(catalog.captures)) {
    const id = `capture:${cap.name}`;
    const bindings = cap.bindings.filter((b) => !b.disable);
    nodes.push({
      id,
      kind: 'capture',
      name: cap.name,
      task: id,
      ingestPaths:
        cap.endpoint.connector === 'source-http-ingest'
          ? bindings.map((b) => ({ path: `/${cap.name}${ingestUrlPath(b.resource)}`, collection: b.target }))
          : undefined,
    });
    for (const b of bindings) edges.push({ from: id, to: `collection:${b.target}`, task: id, rate: 'out' });
  }
  for (const c of Object.values(catalog.collections)) {
    if (!c.derive) continue;
    const id = `derivation:${c.name}`;
    nodes.push({ id, kind: 'derivation', name: c.name, task: id });
    const sources = new Set(c.derive.transforms.filter((t) => !t.disable).map((t) => t.source.name));
    for (const s of sources) edges.push({ from: `collection:${s}`, to: id, task: id, rate: 'in' });
    edges.push({ from: id, to: `collection:${c.name}`, task: id, rate: 'out' });
  }
  for (const m of Object.values(catalog.materializations)) {
    const id = `materialization:${m.name}`;
    nodes.push({ id, kind: 'materialization', name: m.name, task: id });
    const sources = new Set(m.bindings.filter((b) => !b.disable).map((b) => b.source.name));
    for (const s of sources) edges.push({ from: `collection:${s}`, to: id, task: id, rate: 'in' });
  }
  return { nodes, edges };
}
