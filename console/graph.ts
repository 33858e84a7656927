/**
 * Home: the flow as a DAG laid out by dagre (left to right: captures → collections → derivations →
 * materializations). Each node shows its task's live figures; a failing or halted task is drawn in the
 * error colour with a link to its error; edges are labelled with the documents per second along them.
 * The layout is computed once per catalog; live ticks only rewrite text and classes, so a page left
 * open at 5,000 docs/s costs one small DOM update a second.
 */
import { Graph, layout } from '@dagrejs/dagre';
import type { GraphNode, GraphResponse, LiveSnapshot, TaskLive } from '../shared/console/api-types.ts';
import { get, live } from './api.ts';
import { collectionHref, h, ms, num, s, taskHref } from './dom.ts';

const NODE_W = 204;
const NODE_H = 78;
const KIND_LABEL: Record<string, string> = {
  capture: 'capture',
  collection: 'collection',
  derivation: 'derivation',
  materialization: 'materialization',
};

function shortName(name: string, max = 23): string {
  return name.length <= max ? name : `…${name.slice(name.length - max + 1)}`;
}

/** A catalog name that may wrap after each `/` on a narrow screen. */
function breakable(name: string): (string | HTMLElement)[] {
  return name.split('/').flatMap((part, i) => (i === 0 ? [part] : [h('wbr'), `/${part}`]));
}

function href(n: GraphNode): string {
  return n.kind === 'collection' ? collectionHref(n.name) : taskHref(n.task);
}

interface NodeView {
  node: GraphNode;
  g: SVGGElement;
  line1: SVGTextElement;
  line2: SVGTextElement;
  err: SVGAElement;
  row: HTMLTableRowElement;
}

export function graphPage(root: HTMLElement): () => void {
  let unsub: (() => void) | undefined;
  let generation = -1;
  let disposed = false;

  const render = async () => {
    const data = await get<GraphResponse>('graph');
    if (disposed) return;
    generation = data.generation;
    root.replaceChildren(...build(data));
    unsub?.();
    unsub = live.subscribe((snap) => {
      if (snap.generation !== generation) {
        // A publish changed the catalog: lay the new graph out.
        generation = snap.generation;
        void render();
        return;
      }
      update(snap);
    });
  };

  const views = new Map<string, NodeView[]>();
  const edgeLabels: { task: string; rate: 'in' | 'out'; text: SVGTextElement; path: SVGPathElement }[] = [];

  function build(data: GraphResponse): Node[] {
    views.clear();
    edgeLabels.length = 0;
    const lay = (rankdir: 'LR' | 'TB') => {
      const g = new Graph({ multigraph: false });
      g.setGraph({ rankdir, nodesep: 28, ranksep: rankdir === 'LR' ? 64 : 44, marginx: 16, marginy: 16 });
      g.setDefaultEdgeLabel(() => ({}));
      for (const n of data.graph.nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
      // Edge labels are placed at the edge's midpoint below, not given room by dagre (which would add a
      // rank of label nodes between every two ranks and double the width).
      for (const e of data.graph.edges) g.setEdge(e.from, e.to, {});
      layout(g);
      return g;
    };
    // Left to right reads like the flow; a long chain on a narrow screen would shrink its text to
    // nothing, so top to bottom is taken when it keeps the boxes closer to their real size.
    const avail = Math.max(320, root.clientWidth || window.innerWidth - 32);
    const lr = lay('LR');
    const scaleOf = (x: Graph) => Math.min(1, avail / (x.graph().width ?? 1));
    const tb = scaleOf(lr) < 0.85 ? lay('TB') : undefined;
    const g = tb && scaleOf(tb) > scaleOf(lr) ? tb : lr;
    const size = g.graph();
    const width = size.width ?? 800;
    const height = size.height ?? 400;
    const svg = s('svg', {
      viewBox: `0 0 ${width} ${height}`,
      class: 'flow',
      role: 'img',
      'aria-label': `Flow graph of ${data.graph.nodes.length} nodes`,
      style: `max-width:${width}px`,
    });
    svg.append(
      s(
        'defs',
        null,
        s(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: '10',
            refY: '5',
            // Sized in the drawing's units: a thick (busy) edge keeps a normal arrowhead.
            markerUnits: 'userSpaceOnUse',
            markerWidth: '9',
            markerHeight: '9',
            orient: 'auto',
          },
          s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
        ),
      ),
    );
    for (const e of data.graph.edges) {
      const ed = g.edge(e.from, e.to);
      const pts = ed.points ?? [];
      const d = pts
        .map(
          (p: { x: number; y: number }, i: number) =>
            `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`,
        )
        .join(' ');
      const path = s('path', { d, class: 'edge', 'marker-end': 'url(#arrow)' });
      const mid = pts[Math.floor(pts.length / 2)] ?? { x: 0, y: 0 };
      const text = s('text', { x: mid.x, y: mid.y - 6, class: 'edge-label', 'text-anchor': 'middle' }, '');
      svg.append(path, text);
      edgeLabels.push({ task: e.task, rate: e.rate, text, path });
    }
    const tbody = h('tbody');
    const pos = (n: GraphNode) => g.node(n.id);
    const ordered = [...data.graph.nodes].sort(
      (a, b) => (pos(a).x ?? 0) - (pos(b).x ?? 0) || (pos(a).y ?? 0) - (pos(b).y ?? 0),
    );
    for (const n of ordered) {
      const p = g.node(n.id);
      const x = (p.x ?? 0) - NODE_W / 2;
      const y = (p.y ?? 0) - NODE_H / 2;
      const line1 = s('text', { x: x + 12, y: y + 50, class: 'figures' }, '');
      const line2 = s('text', { x: x + 12, y: y + 67, class: 'figures' }, '');
      const err = s(
        'a',
        { href: `${taskHref(n.task)}/errors`, class: 'node-error', 'aria-label': `errors of ${n.name}` },
        s('text', { x: x + NODE_W - 12, y: y + 18, 'text-anchor': 'end' }, '⚠ error'),
      );
      const a = s(
        'a',
        { href: href(n), 'aria-label': `${KIND_LABEL[n.kind]} ${n.name}` },
        s('rect', { x, y, width: NODE_W, height: NODE_H, rx: 8, class: 'box' }),
        s('text', { x: x + 12, y: y + 18, class: 'kind' }, KIND_LABEL[n.kind]),
        s('text', { x: x + 12, y: y + 34, class: 'name' }, s('title', null, n.name), shortName(n.name)),
        line1,
        line2,
      );
      const group = s('g', { class: `node ${n.kind}`, 'data-node': n.id, 'data-task': n.task }, a, err);
      svg.append(group);
      const row = h(
        'tr',
        { 'data-row': n.id },
        h('td', null, KIND_LABEL[n.kind]),
        h('td', null, h('a', { href: href(n) }, breakable(n.name))),
        h('td', { class: 'n docs-in' }, '0'),
        h('td', { class: 'n docs-out' }, '0'),
        h('td', { class: 'n rate' }, '0'),
        h('td', { class: 'n lag' }, '0 ms'),
        h('td', { class: 'n errors' }, '0'),
        h('td', { class: 'status' }, ''),
      );
      tbody.append(row);
      const list = views.get(n.task) ?? [];
      list.push({ node: n, g: group, line1, line2, err, row });
      views.set(n.task, list);
    }
    const table = h(
      'table',
      { class: 'tasks' },
      h('caption', null, 'Tasks, live'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ...['kind', 'name', 'docs in', 'docs out', 'docs/s', 'lag', 'errors', 'status'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      tbody,
    );
    const out: Node[] = [
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, 'Flow'),
        h('p', { class: 'muted' }, `${data.catalogPath} · ingest at ${data.ingestUrl}`),
      ),
      h('div', { class: 'graph-wrap' }, svg),
      table,
    ];
    update(data.live);
    return out;
  }

  function update(snap: LiveSnapshot): void {
    const byLabel = new Map<string, TaskLive>(snap.tasks.map((t) => [t.label, t]));
    for (const [label, list] of views) {
      const t = byLabel.get(label);
      for (const v of list) {
        const docsIn = t?.docsIn ?? 0;
        const docsOut = t?.docsOut ?? 0;
        const rate = Math.max(t?.inRate ?? 0, t?.outRate ?? 0);
        v.line1.textContent = `in ${num(docsIn)} · out ${num(docsOut)}`;
        v.line2.textContent = `${num(rate)}/s · lag ${ms(t?.lagMs ?? 0)} · ${num(t?.errors ?? 0)} err`;
        v.g.dataset.docsIn = String(docsIn);
        v.g.dataset.docsOut = String(docsOut);
        const status = t?.status ?? 'idle';
        v.g.setAttribute('class', `node ${v.node.kind} status-${status}`);
        v.err.style.display = status === 'failing' || status === 'halted' ? '' : 'none';
        const cells = v.row.cells;
        cells[2].textContent = num(docsIn);
        cells[3].textContent = num(docsOut);
        cells[4].textContent = num(rate);
        cells[5].textContent = ms(t?.lagMs ?? 0);
        cells[6].textContent = num(t?.errors ?? 0);
        cells[7].replaceChildren(
          status === 'failing' || status === 'halted'
            ? h('a', { href: `${taskHref(label)}/errors`, class: `badge ${status}` }, status)
            : h('span', { class: `badge ${status}` }, status),
        );
      }
    }
    for (const e of edgeLabels) {
      const t = byLabel.get(e.task);
      const r = t ? (e.rate === 'in' ? t.inRate : t.outRate) : 0;
      e.text.textContent = r > 0 ? `${num(r)}/s` : '';
      // Thicker as throughput grows, on a log scale so 5,000/s does not swamp 5/s.
      e.path.style.strokeWidth = String(1.5 + Math.min(5, Math.log10(1 + r)));
    }
  }

  void render().catch((e: Error) => root.replaceChildren(h('p', { class: 'error' }, e.message)));
  return () => {
    disposed = true;
    unsub?.();
  };
}
