/**
 * A collection: its schema with the projections (SQL columns a materialization creates, the TypeScript
 * type `sluice generate` writes), its reduced documents by key with a key-prefix search and paging, and
 * a live tail of the newest documents in its journal. Every document has a copy button.
 */
import type { CollectionInfo, DocPage, Json } from '../shared/console/api-types.ts';
import { get } from './api.ts';
import { copyButton, fill, h, taskHref } from './dom.ts';

function docItem(doc: Json, key?: (Json | undefined)[]): HTMLElement {
  const text = JSON.stringify(doc, null, 2);
  return h(
    'li',
    { class: 'doc' },
    h(
      'div',
      { class: 'doc-head' },
      key ? h('code', { class: 'key' }, JSON.stringify(key)) : null,
      copyButton(() => text),
    ),
    h('pre', null, text),
  );
}

export function collectionPage(root: HTMLElement, name: string): () => void {
  let disposed = false;
  const docs = h('ol', { class: 'docs', 'aria-live': 'polite', 'data-docs': '' });
  const tail = h('ol', { class: 'docs tail' });
  const search = h('input', {
    type: 'search',
    placeholder: 'key prefix',
    'aria-label': 'Search reduced documents by key prefix',
  });
  const more = h('button', { type: 'button' }, 'Next page');
  const prev = h('button', { type: 'button' }, 'Previous page');
  const refresh = h('button', { type: 'button' }, 'Refresh');
  const status = h('span', { class: 'muted' });
  // Paging by cursor (the last key of a page): the cursors of the pages before this one, for Previous.
  const back: (string | undefined)[] = [];
  let current: string | undefined;
  let next: string | undefined;

  const load = async (after: string | undefined) => {
    const page = await get<DocPage>('docs', { name, prefix: search.value || undefined, after, limit: '20' });
    if (disposed) return;
    current = after;
    next = page.next;
    docs.replaceChildren(...page.docs.map((d) => docItem(d.doc, d.key)));
    if (page.noView) docs.append(h('li', { class: 'muted' }, page.noView));
    else if (page.docs.length === 0) docs.append(h('li', { class: 'muted' }, 'no reduced documents yet'));
    more.disabled = !next;
    prev.disabled = back.length === 0;
    status.textContent = `page ${back.length + 1}`;
  };
  more.addEventListener('click', () => {
    back.push(current);
    void load(next);
  });
  prev.addEventListener('click', () => void load(back.pop()));
  refresh.addEventListener('click', () => void load(current));
  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      back.length = 0;
      void load(undefined);
    }, 250);
  });

  const info = h('div');
  root.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', null, name), h('p', { class: 'muted' }, 'collection')),
    info,
    h(
      'section',
      null,
      h('h2', null, 'Reduced documents'),
      h('p', { class: 'muted' }, 'Fully reduced by key, from the state table, in key order.'),
      h('div', { class: 'toolbar' }, search, prev, more, refresh, status),
      docs,
    ),
    h(
      'section',
      null,
      h('h2', null, 'Newest in the journal'),
      h('p', { class: 'muted' }, 'Documents as they arrive on the stream, before reduction.'),
      tail,
    ),
  );

  void get<CollectionInfo>('collection', { name })
    .then((c) => {
      if (disposed) return;
      fill(
        info,
        h(
          'p',
          null,
          'key ',
          h('code', null, JSON.stringify(c.key)),
          ' · written by ',
          ...c.writers.flatMap((w, i) => [i ? ', ' : '', h('a', { href: taskHref(w) }, w)]),
          c.writers.length ? '' : 'nothing',
          ' · read by ',
          ...c.readers.flatMap((w, i) => [i ? ', ' : '', h('a', { href: taskHref(w) }, w)]),
          c.readers.length ? '' : 'nothing',
          ' · ',
          h('a', { href: taskHref(`persister:${c.name}`) }, 'persister'),
        ),
        h(
          'details',
          { open: true },
          h('summary', null, 'Projections'),
          h(
            'table',
            { class: 'columns' },
            h(
              'thead',
              null,
              h('tr', null, ...['field', 'pointer', 'SQL type', ''].map((x) => h('th', { scope: 'col' }, x))),
            ),
            h(
              'tbody',
              null,
              ...c.columns.map((f) =>
                h(
                  'tr',
                  null,
                  h('td', null, h('code', null, f.name)),
                  h('td', null, h('code', null, f.pointer)),
                  h('td', null, f.sqlType),
                  h(
                    'td',
                    null,
                    [f.isKey ? 'key' : '', f.partition ? 'partition' : ''].filter(Boolean).join(', '),
                  ),
                ),
              ),
            ),
          ),
        ),
        h('details', null, h('summary', null, 'TypeScript type'), h('pre', null, c.typescript)),
        h(
          'details',
          null,
          h('summary', null, 'Schema'),
          h('pre', null, JSON.stringify(c.writeSchema, null, 2)),
        ),
        c.readSchema
          ? h(
              'details',
              null,
              h('summary', null, 'Read schema'),
              h('pre', null, JSON.stringify(c.readSchema, null, 2)),
            )
          : null,
      );
    })
    .catch((e: Error) => info.replaceChildren(h('p', { class: 'error' }, e.message)));
  void load(undefined).catch((e: Error) => docs.replaceChildren(h('li', { class: 'error' }, e.message)));

  const source = new EventSource(`api/tail?name=${encodeURIComponent(name)}`);
  source.addEventListener('docs', (e) => {
    const batch = JSON.parse((e as MessageEvent<string>).data) as Json[];
    for (const d of batch) tail.prepend(docItem(d));
    while (tail.children.length > 20) tail.lastElementChild?.remove();
  });
  return () => {
    disposed = true;
    source.close();
    clearTimeout(debounce);
  };
}
