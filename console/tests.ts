/** Run the catalog's tests (on disk, or a draft) and show each test's result as `sluice test` prints it. */
import type { ConsoleTestRun } from '../shared/console/api-types.ts';
import { post } from './api.ts';
import { h } from './dom.ts';

export function renderTestRun(run: ConsoleTestRun): HTMLElement {
  return h(
    'div',
    { class: 'test-run', 'data-passed': run.passed, 'data-failed': run.failed },
    h('p', null, h('strong', null, `${run.passed} passed, ${run.failed} failed`)),
    run.error ? h('p', { class: 'error' }, run.error) : null,
    ...(run.diagnostics ?? []).map((d) =>
      h('p', { class: 'error' }, `${d.file}:${d.line}:${d.col}: ${d.code}: ${d.message}`),
    ),
    h(
      'ul',
      { class: 'tests' },
      ...run.results.map((r) =>
        h(
          'li',
          { class: r.passed ? 'pass' : 'fail', 'data-test': r.name },
          h('span', { class: `badge ${r.passed ? 'ok' : 'failing'}` }, r.passed ? 'PASS' : 'FAIL'),
          ' ',
          r.name,
          h('span', { class: 'muted' }, ` (${r.millis.toFixed(1)} ms)`),
          r.passed ? null : h('pre', null, r.lines.slice(1).join('\n')),
        ),
      ),
    ),
  );
}

/** Run tests and put the result in `out`; `files` is a draft (empty: the catalog on disk). */
export async function runTests(out: HTMLElement, files: Record<string, string>, button?: HTMLButtonElement) {
  if (button) button.disabled = true;
  out.replaceChildren(h('p', { class: 'muted' }, 'running…'));
  try {
    out.replaceChildren(renderTestRun(await post<ConsoleTestRun>('tests', { files })));
  } catch (e) {
    out.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
  } finally {
    if (button) button.disabled = false;
  }
}

export function testsPage(root: HTMLElement): () => void {
  const out = h('div', { id: 'test-results', 'aria-live': 'polite' });
  const run = h('button', { type: 'button', class: 'primary', id: 'run-tests' }, 'Run tests');
  run.addEventListener('click', () => void runTests(out, {}, run));
  root.replaceChildren(
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Tests'),
      h(
        'p',
        { class: 'muted' },
        'The catalog’s tests as sluice test runs them: offline, on the files on disk. To test a change, run them on a draft.',
      ),
    ),
    h('div', { class: 'toolbar' }, run),
    out,
  );
  return () => {};
}
