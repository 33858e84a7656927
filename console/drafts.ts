/**
 * Drafts → publish: edit the catalog folder's files in CodeMirror (YAML highlighting), with the
 * `sluice check` diagnostics of the whole draft shown inline at their line as you type; run the tests
 * against the draft; see what would change; publish (written to the files, then the local stack
 * re-synthesizes and restarts). Loaded as its own chunk: the editor is only needed on this page.
 */
import { yaml } from '@codemirror/lang-yaml';
import { type Diagnostic, forceLinting, linter, lintGutter } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { basicSetup, EditorView } from 'codemirror';
import type {
  DraftCheck,
  DraftDiagnostic,
  FilesResponse,
  GraphResponse,
  PublishResponse,
} from '../shared/console/api-types.ts';
import { get, getText, post } from './api.ts';
import { h } from './dom.ts';
import { runTests } from './tests.ts';

export function draftsPage(root: HTMLElement): () => void {
  let disposed = false;
  const original = new Map<string, string>();
  const states = new Map<string, EditorState>();
  let current = '';
  /** Bumped by every edit: a check answers for the version it was asked about. */
  let version = 0;
  let checked: { version: number; check: DraftCheck } | undefined;

  const fileList = h('ul', { class: 'files', 'aria-label': 'Catalog files' });
  const editorBox = h('div', { class: 'editor', id: 'editor' });
  const problems = h('div', { id: 'draft-problems', 'aria-live': 'polite' });
  const changes = h('div', { id: 'draft-changes' });
  const results = h('div', { id: 'draft-results', 'aria-live': 'polite' });
  const testOut = h('div', { id: 'draft-tests', 'aria-live': 'polite' });
  const publish = h('button', { type: 'button', class: 'primary', id: 'publish', disabled: true }, 'Publish');
  const runTestsBtn = h('button', { type: 'button', id: 'draft-run-tests' }, 'Run tests on draft');
  const discard = h('button', { type: 'button', id: 'discard' }, 'Discard draft');
  const deploy = h('code', { id: 'deploy-command' });

  /** The draft: every file whose text differs from the file on disk. */
  const draft = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [path, state] of states) {
      const text = state.doc.toString();
      if (text !== original.get(path)) out[path] = text;
    }
    return out;
  };

  const renderState = () => {
    const modified = Object.keys(draft());
    for (const li of fileList.children) {
      const path = (li as HTMLElement).dataset.path ?? '';
      li.classList.toggle('modified', modified.includes(path));
      li.querySelector('button')?.setAttribute('aria-current', String(path === current));
    }
    const ok = checked?.version === version && checked.check.ok;
    publish.disabled = !ok || modified.length === 0;
    publish.title =
      !checked || checked.version !== version
        ? 'checking…'
        : !checked.check.ok
          ? 'the draft has errors: fix them to publish'
          : modified.length === 0
            ? 'nothing to publish'
            : 'write the draft to the files and restart the local stack';
  };

  const renderCheck = (check: DraftCheck) => {
    const errs = check.diagnostics.filter((d) => d.severity === 'error');
    problems.replaceChildren(
      h('h2', null, 'Problems'),
      check.diagnostics.length === 0
        ? h('p', { class: 'muted', 'data-ok': '' }, 'sluice check: no problems')
        : h(
            'ul',
            { class: 'problems', 'data-errors': errs.length },
            ...check.diagnostics.map((d: DraftDiagnostic) =>
              h(
                'li',
                { class: d.severity },
                h(
                  'button',
                  { type: 'button', class: 'link', onclick: () => open(d.file, d.line) },
                  `${d.file}:${d.line}:${d.col}`,
                ),
                `: ${d.severity === 'warning' ? 'warning: ' : ''}${d.code}: ${d.message}${d.pointer ? ` (at ${d.pointer})` : ''}${d.hint ? ` ${d.hint}` : ''}`,
              ),
            ),
          ),
    );
    changes.replaceChildren(
      h('h2', null, 'What would change'),
      !check.ok
        ? h('p', { class: 'muted' }, 'fix the errors first')
        : check.changes.length === 0
          ? h('p', { class: 'muted' }, 'nothing: the draft deploys the same stack')
          : h(
              'ul',
              { class: 'changes' },
              ...check.changes.map((c) =>
                h(
                  'li',
                  { class: c.change, 'data-change': `${c.change} ${c.kind} ${c.name}` },
                  h(
                    'span',
                    { class: `sign ${c.change}` },
                    c.change === 'added' ? '+' : c.change === 'removed' ? '−' : '~',
                  ),
                  ` ${c.kind} ${c.name}`,
                  c.parts ? h('span', { class: 'muted' }, ` (${c.parts.join(', ')})`) : null,
                ),
              ),
            ),
    );
  };

  const lint = linter(
    async (view): Promise<Diagnostic[]> => {
      const asked = version;
      states.set(current, view.state);
      let check: DraftCheck;
      try {
        check = await post<DraftCheck>('drafts/check', { files: draft() });
      } catch (e) {
        problems.replaceChildren(h('p', { class: 'error' }, (e as Error).message));
        return [];
      }
      if (disposed || asked !== version) return [];
      checked = { version: asked, check };
      renderCheck(check);
      renderState();
      const doc = view.state.doc;
      return check.diagnostics
        .filter((d) => d.file === current)
        .map((d) => {
          const line = doc.line(Math.min(Math.max(1, d.line), doc.lines));
          const from = line.from + Math.min(Math.max(0, d.col - 1), line.length);
          return {
            from,
            to: Math.max(from + 1, line.to) > doc.length ? doc.length : Math.max(from + 1, line.to),
            severity: d.severity,
            message: `${d.code}: ${d.message}${d.hint ? ` ${d.hint}` : ''}`,
          };
        });
    },
    { delay: 300 },
  );

  const extensions = [
    basicSetup,
    yaml(),
    lintGutter(),
    lint,
    EditorView.darkTheme.of(matchMedia('(prefers-color-scheme: dark)').matches),
    EditorView.contentAttributes.of({ 'aria-label': 'File editor' }),
    EditorView.updateListener.of((u) => {
      if (!u.docChanged) return;
      version++;
      states.set(current, u.state);
      renderState();
    }),
  ];
  const view = new EditorView({ parent: editorBox, state: EditorState.create({ doc: '', extensions }) });

  async function open(path: string, line?: number) {
    if (current) states.set(current, view.state);
    if (!original.has(path)) {
      original.set(path, await getText('file', { path }));
    }
    if (disposed) return;
    current = path;
    const state = states.get(path) ?? EditorState.create({ doc: original.get(path), extensions });
    states.set(path, state);
    view.setState(state);
    if (line) {
      const l = view.state.doc.line(Math.min(line, view.state.doc.lines));
      view.dispatch({ selection: { anchor: l.from }, scrollIntoView: true });
      view.focus();
    }
    renderState();
    forceLinting(view);
  }

  publish.addEventListener('click', () => {
    publish.disabled = true;
    results.replaceChildren(
      h('p', { class: 'muted' }, 'publishing: writing the files, re-synthesizing and restarting the stack…'),
    );
    void post<PublishResponse>('drafts/publish', { files: draft() })
      .then((r) => {
        if (!r.published) {
          renderCheck(r);
          results.replaceChildren(h('p', { class: 'error' }, 'not published: the draft has errors'));
          return;
        }
        for (const [p, t] of Object.entries(draft())) original.set(p, t);
        results.replaceChildren(
          h(
            'p',
            { 'data-published': '' },
            h('strong', null, 'Published'),
            `: wrote ${r.written.join(', ') || 'nothing'}`,
          ),
          ...(r.reload?.messages ?? []).map((m) => h('p', { class: r.reload?.ok ? 'muted' : 'error' }, m)),
        );
        renderState();
        forceLinting(view);
      })
      .catch((e: Error) => results.replaceChildren(h('p', { class: 'error' }, e.message)))
      .finally(renderState);
  });
  runTestsBtn.addEventListener('click', () => void runTests(testOut, draft(), runTestsBtn));
  discard.addEventListener('click', () => {
    states.clear();
    version++;
    if (current) void open(current);
  });

  root.replaceChildren(
    h(
      'div',
      { class: 'page-head' },
      h('h1', null, 'Draft'),
      h(
        'p',
        { class: 'muted' },
        'Edits stay in this page until you publish; a draft with errors cannot be published.',
      ),
    ),
    h(
      'div',
      { class: 'drafts' },
      h('nav', { class: 'file-nav', 'aria-label': 'Files' }, fileList),
      editorBox,
      h(
        'aside',
        { class: 'draft-side' },
        h('div', { class: 'toolbar' }, publish, runTestsBtn, discard),
        results,
        problems,
        changes,
        h('h2', null, 'Tests on the draft'),
        testOut,
        h('h2', null, 'Deploy to AWS'),
        h('p', null, 'After publishing: ', deploy),
      ),
    ),
  );

  void get<GraphResponse>('graph').then((g) => {
    deploy.textContent = g.deployCommand ?? `npx cdk deploy -c catalog=${g.catalogPath}`;
  });
  void get<FilesResponse>('files').then(async (f) => {
    if (disposed) return;
    fileList.replaceChildren(
      ...f.files.map((p) =>
        h(
          'li',
          { 'data-path': p },
          h('button', { type: 'button', class: 'link', onclick: () => void open(p) }, p),
        ),
      ),
    );
    await open(f.root);
  });
  return () => {
    disposed = true;
    view.destroy();
  };
}
