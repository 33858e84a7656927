/**
 * Ingest playground: post JSON to an HTTP-ingest binding through the console, see the answer (200, or
 * the 400 naming the document and the schema error at its pointer), then follow the documents through
 * the graph: each task downstream is ticked once its documents-in counter moves past where it was.
 */
import type {
  CollectionInfo,
  GraphResponse,
  IngestResponse,
  Json,
  LiveSnapshot,
} from '../shared/console/api-types.ts';
import { get, live, post } from './api.ts';
import { h, taskHref } from './dom.ts';

/** A document that satisfies the schema's required properties, to start from. */
function example(schema: Json): Json {
  const s = (schema ?? {}) as Record<string, Json>;
  const props = (s.properties ?? {}) as Record<string, Record<string, Json>>;
  const out: Record<string, Json> = {};
  for (const [k, p] of Object.entries(props)) {
    const t = Array.isArray(p.type) ? p.type[0] : p.type;
    if (Array.isArray(p.enum)) out[k] = p.enum[0];
    else if (p.format === 'date-time') out[k] = new Date().toISOString().slice(0, 19) + 'Z';
    else if (t === 'integer' || t === 'number') out[k] = 1;
    else if (t === 'boolean') out[k] = true;
    else if (t === 'string') out[k] = `${k}-1`;
  }
  return out;
}

export function ingestPage(root: HTMLElement): () => void {
  let disposed = false;
  let unsub: (() => void) | undefined;
  const select = h('select', { id: 'ingest-path' });
  const editor = h('textarea', {
    id: 'ingest-body',
    rows: 14,
    spellcheck: 'false',
    'aria-label': 'JSON to post: an object, an array of objects or JSON lines',
  });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Post');
  const result = h('div', { id: 'ingest-result', 'aria-live': 'polite' });
  const follow = h('ol', { class: 'follow' });
  const form = h(
    'form',
    { class: 'ingest' },
    h('label', { for: 'ingest-path' }, 'Binding'),
    select,
    h('label', { for: 'ingest-body' }, 'Documents'),
    editor,
    h('div', { class: 'toolbar' }, send),
  );
  root.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', null, 'Ingest playground')),
    form,
    result,
    h('section', null, h('h2', null, 'Following the documents'), follow),
  );

  let graph: GraphResponse | undefined;
  const targets = new Map<string, string>();
  void get<GraphResponse>('graph').then(async (g) => {
    if (disposed) return;
    graph = g;
    for (const n of g.graph.nodes)
      for (const p of n.ingestPaths ?? []) {
        targets.set(p.path, p.collection);
        select.append(h('option', { value: p.path }, `${p.path} → ${p.collection}`));
      }
    if (targets.size === 0) {
      result.replaceChildren(h('p', null, 'This catalog has no HTTP-ingest capture.'));
      send.disabled = true;
      return;
    }
    await fill();
  });
  const fill = async () => {
    const c = await get<CollectionInfo>('collection', { name: targets.get(select.value) ?? '' });
    editor.value = JSON.stringify(example(c.writeSchema), null, 2);
  };
  select.addEventListener('change', () => void fill());

  /** Tasks downstream of a collection, in graph order. */
  const downstream = (collection: string): string[] => {
    if (!graph) return [];
    const seen = new Set<string>();
    const out: string[] = [];
    let frontier = [`collection:${collection}`];
    while (frontier.length) {
      const nextFrontier: string[] = [];
      for (const id of frontier) {
        if (seen.has(id)) continue;
        seen.add(id);
        const node = graph.graph.nodes.find((n) => n.id === id);
        if (node) out.push(node.task);
        for (const e of graph.graph.edges) if (e.from === id) nextFrontier.push(e.to);
      }
      frontier = nextFrontier;
    }
    return out;
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const path = select.value;
    const before = new Map((live.last?.tasks ?? []).map((t) => [t.label, t.docsIn]));
    send.disabled = true;
    void post<IngestResponse>('ingest', { path, body: editor.value })
      .then((r) => {
        const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2);
        result.replaceChildren(
          h(
            'p',
            null,
            h(
              'span',
              { class: `badge ${r.status < 300 ? 'ok' : 'failing'}`, 'data-status': r.status },
              String(r.status),
            ),
          ),
          h('pre', { class: r.status < 300 ? '' : 'error' }, body),
        );
        if (r.status >= 300) return;
        const tasks = downstream(targets.get(path) ?? '');
        const items = new Map(
          tasks.map((t) => [
            t,
            h('li', { class: 'pending' }, h('a', { href: taskHref(t) }, t), ' … waiting'),
          ]),
        );
        follow.replaceChildren(...items.values());
        unsub?.();
        unsub = live.subscribe((snap: LiveSnapshot) => {
          for (const t of snap.tasks) {
            const li = items.get(t.label);
            if (!li || li.className === 'reached') continue;
            if (t.docsIn > (before.get(t.label) ?? 0)) {
              li.className = 'reached';
              li.replaceChildren(h('a', { href: taskHref(t.label) }, t.label), ' ✓ reached');
            }
          }
        });
      })
      .catch((e: Error) => result.replaceChildren(h('p', { class: 'error' }, e.message)))
      .finally(() => {
        send.disabled = false;
      });
  });
  return () => {
    disposed = true;
    unsub?.();
  };
}
