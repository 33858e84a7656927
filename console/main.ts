/**
 * The console's shell: header navigation, hash routes (#/, #/task/<label>, #/collection/<name>,
 * #/ingest, #/tests, #/drafts) and the one live event stream every page listens to.
 */
// Every page's CSS is in the entry's stylesheet: esbuild does not load CSS of lazily imported chunks.
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { live } from './api.ts';
import { h, usd } from './dom.ts';
import { graphPage } from './graph.ts';

type Page = (root: HTMLElement, ...args: string[]) => () => void;

const app = document.getElementById('app')!;
const main = h('main', { id: 'main', tabindex: -1 });
const conn = h('span', { class: 'conn', role: 'status' }, 'connecting…');
const cost = h('span', { class: 'cost muted', title: 'estimated AWS cost of this run' }, '');
const links: [string, string][] = [
  ['#/', 'Flow'],
  ['#/ingest', 'Ingest'],
  ['#/tests', 'Tests'],
  ['#/drafts', 'Draft'],
];
const nav = h('nav', { 'aria-label': 'Console' }, ...links.map(([href, text]) => h('a', { href }, text)));
app.append(
  h(
    'header',
    null,
    h('a', { href: '#/', class: 'brand' }, 'Sluice'),
    nav,
    h('div', { class: 'status' }, cost, conn),
  ),
  main,
);

live.onConnection = (ok) => {
  conn.textContent = ok ? 'live' : 'reconnecting…';
  conn.className = `conn ${ok ? 'ok' : 'down'}`;
};
live.subscribe((s) => {
  cost.textContent = `est. ${usd(s.costUsd)}`;
});
live.connect();

let dispose: () => void = () => {};

async function route(): Promise<void> {
  dispose();
  dispose = () => {};
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const [page, ...rest] = parts;
  const arg = rest[0] ? decodeURIComponent(rest[0]) : '';
  for (const a of nav.querySelectorAll('a'))
    a.setAttribute('aria-current', String(a.getAttribute('href') === `#/${page ?? ''}`));
  let p: Page;
  switch (page) {
    case 'task':
      p = (await import('./task.ts')).taskPage;
      break;
    case 'collection':
      p = (await import('./collection.ts')).collectionPage;
      break;
    case 'ingest':
      p = (await import('./ingest.ts')).ingestPage;
      break;
    case 'tests':
      p = (await import('./tests.ts')).testsPage;
      break;
    case 'drafts':
      p = (await import('./drafts.ts')).draftsPage;
      break;
    default:
      p = graphPage;
  }
  const root = h('div', { class: `page page-${page || 'flow'}` });
  main.replaceChildren(root);
  dispose = p(root, arg, rest[1] ?? '');
  document.title = `${page ? `${arg || page} · ` : ''}Sluice console`;
}

window.addEventListener('hashchange', () => {
  void route().then(() => main.focus({ preventScroll: true }));
});
void route();
