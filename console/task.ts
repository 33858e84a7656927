/**
 * A task: throughput and lag over the last minutes (uPlot), its recent errors with where they
 * happened, the documents it parked (`park` policy) with a redrive button, the batches its mappings
 * gave up on (the on-failure destination), and what this run of it would cost on AWS.
 */
import uPlot from 'uplot';
import type {
  Json,
  ParkedDocInfo,
  RedriveResponse,
  TaskResponse,
  TaskSample,
} from '../shared/console/api-types.ts';
import { get, live, post } from './api.ts';
import { fill, h, ms, num, usd } from './dom.ts';

const POSITION_FIELDS = [
  'collection',
  'shard',
  'shardId',
  'firstSequenceNumber',
  'lastSequenceNumber',
  'sequenceNumber',
  'records',
  'index',
  'pointer',
];

/**
 * The fields of a JSON log line (Powertools logger). The runner keeps the first 500 characters of a
 * line, so a long one is cut: its leading string and number fields are read one by one instead.
 */
function logFields(line: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(line) as unknown;
    if (v && typeof v === 'object') return v as Record<string, unknown>;
  } catch {
    // cut or not JSON
  }
  if (!line.startsWith('{')) return undefined;
  const out: Record<string, unknown> = {};
  for (const m of line.matchAll(/"(\w+)":(?:"((?:[^"\\]|\\.)*)"|(-?\d+(?:\.\d+)?))/g))
    out[m[1]] = m[2] !== undefined ? m[2].replace(/\\"/g, '"') : Number(m[3]);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** An error line as the function logged it, with where in the input it happened when it says so. */
function errorEntry(line: string): HTMLElement {
  const f = logFields(line);
  if (!f) return h('li', null, h('pre', { class: 'wrap' }, line));
  const err = (typeof f.error === 'object' && f.error ? f.error : {}) as Record<string, unknown>;
  const where = POSITION_FIELDS.filter((k) => f[k] !== undefined || err[k] !== undefined).map(
    (k) => `${k} ${String(f[k] ?? err[k])}`,
  );
  return h(
    'li',
    null,
    h('div', null, h('strong', null, String(f.level ?? 'ERROR')), ' ', String(f.timestamp ?? '')),
    h('div', null, String(f.message ?? '')),
    typeof f.error === 'string' ? h('div', { class: 'error' }, f.error) : null,
    where.length ? h('div', { class: 'muted' }, where.join(' · ')) : null,
    h('details', null, h('summary', null, 'log line'), h('pre', { class: 'wrap' }, line)),
  );
}

function parkedEntry(p: Json): HTMLElement {
  const rec = (p ?? {}) as Record<string, Record<string, unknown>>;
  const b = rec.KinesisBatchInfo ?? {};
  return h(
    'li',
    null,
    h(
      'div',
      null,
      `shard ${String(b.shardId ?? '?')}, sequence ${String(b.startSequenceNumber ?? '?')} – ${String(b.endSequenceNumber ?? '?')}, ${String(b.batchSize ?? '?')} records`,
    ),
    h(
      'div',
      { class: 'muted' },
      `${String(rec.requestContext?.condition ?? '')} ${String((p as Record<string, unknown>)?.timestamp ?? '')}`,
    ),
    h('details', null, h('summary', null, 'record'), h('pre', null, JSON.stringify(p, null, 2))),
  );
}

function parkedDocEntry(p: ParkedDocInfo): HTMLElement {
  return h(
    'li',
    null,
    h('div', null, `${p.collection} · ${p.where}`),
    h('div', { class: 'error' }, p.error),
    h(
      'div',
      { class: 'muted' },
      `parked ${p.parkedAt}${p.redriveAttempts ? ` · ${p.redriveAttempts} failed redrives` : ''}`,
    ),
    h('details', null, h('summary', null, 'document'), h('pre', null, JSON.stringify(p.doc, null, 2))),
  );
}

function costTable(t: TaskResponse): HTMLElement {
  if (!t.cost) return h('p', null, 'no usage yet');
  const u = t.cost.usage;
  const d = t.cost.dollars;
  const rows: [string, string, string][] = [
    [
      'Lambda',
      `${num(u.lambdaInvocations)} invocations, ${u.lambdaGbSeconds.toFixed(2)} GB-s`,
      usd(d.lambda),
    ],
    [
      'Kinesis',
      `${num(u.kinesisPutPayloadUnits)} PUT payload units, ${num(u.kinesisRecords)} records`,
      usd(d.kinesis),
    ],
    ['DynamoDB', `${num(u.dynamoWriteUnits)} WRU, ${num(u.dynamoReadUnits)} RRU`, usd(d.dynamodb)],
    ['S3', `${num(u.s3PutRequests)} PUT, ${num(u.s3GetRequests + u.s3ListRequests)} GET/LIST`, usd(d.s3)],
  ];
  return h(
    'table',
    { class: 'cost' },
    h('caption', null, 'Billable units and estimated AWS cost of this run (us-east-1 list prices)'),
    h(
      'tbody',
      null,
      ...rows.map(([a, b, c]) =>
        h('tr', null, h('th', { scope: 'row' }, a), h('td', null, b), h('td', { class: 'n' }, c)),
      ),
    ),
    h(
      'tfoot',
      null,
      h('tr', null, h('th', { scope: 'row' }, 'total'), h('td'), h('td', { class: 'n' }, usd(d.total))),
    ),
  );
}

export function taskPage(root: HTMLElement, label: string, focus?: string): () => void {
  let disposed = false;
  let plot: uPlot | undefined;
  const xs: number[] = [];
  const ins: number[] = [];
  const outs: number[] = [];
  const lags: number[] = [];
  const KEEP = 600;
  const push = (s: TaskSample) => {
    if (xs.length && s.t / 1000 <= xs[xs.length - 1]) return;
    xs.push(s.t / 1000);
    ins.push(s.inRate);
    outs.push(s.outRate);
    lags.push(s.lagMs);
    if (xs.length > KEEP) for (const a of [xs, ins, outs, lags]) a.shift();
  };
  const chartBox = h('div', {
    class: 'chart',
    role: 'img',
    'aria-label': `documents per second and lag of ${label}`,
  });
  const summary = h('div', { class: 'cards' });
  const errors = h('section', { id: 'errors', tabindex: -1 });
  const parked = h('section');
  const parkedDocs = h('section', { id: 'parked-docs' });
  const redriveOut = h('p', { role: 'status' });
  let redriving = false;
  const redriveButton = h('button', { type: 'button' }, 'Redrive') as HTMLButtonElement;
  redriveButton.addEventListener('click', () => {
    if (redriving) return;
    redriving = true;
    redriveButton.disabled = true;
    redriveOut.textContent = 'redriving…';
    post<RedriveResponse>('redrive', { task: label })
      .then((r) => {
        const waiting = r.remaining - r.failures.length;
        redriveOut.textContent = `${r.redriven} redriven, ${r.remaining} still parked${r.failures.length ? ` — failed again: ${r.failures.map((f) => f.error).join('; ')}` : ''}${r.failures.length && waiting > 0 ? ` — not tried: ${waiting}, parked after one that failed again on its shard` : ''}`;
      })
      .catch((e: Error) => {
        redriveOut.textContent = `redrive failed: ${e.message}`;
      })
      .finally(() => {
        redriving = false;
        redriveButton.disabled = false;
        void refresh().catch(() => {});
      });
  });
  const cost = h('section');
  root.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', null, label), h('p', { class: 'muted' }, 'task')),
    summary,
    h('section', null, h('h2', null, 'Throughput and lag'), chartBox),
    errors,
    parkedDocs,
    parked,
    cost,
  );

  const makePlot = () => {
    const width = Math.max(280, chartBox.clientWidth || 600);
    plot = new uPlot(
      {
        width,
        height: 240,
        series: [
          {},
          { label: 'in docs/s', stroke: '#2f7ed8', width: 2 },
          { label: 'out docs/s', stroke: '#1b9e77', width: 2 },
          { label: 'lag ms', stroke: '#d95f02', width: 1.5, dash: [6, 4], scale: 'ms' },
        ],
        axes: [
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.2)' } },
          { stroke: 'currentColor', label: 'docs/s', grid: { stroke: 'rgba(128,128,128,.2)' } },
          { side: 1, scale: 'ms', label: 'lag ms', stroke: 'currentColor', grid: { show: false } },
        ],
        scales: { x: { time: true } },
      },
      [xs, ins, outs, lags],
      chartBox,
    );
  };

  const refresh = async () => {
    const t = await get<TaskResponse>('task', { label });
    if (disposed) return;
    if (!plot) {
      for (const s of t.history) push(s);
      makePlot();
    }
    const failing = t.mappings.find((m) => m.failure)?.failure;
    summary.replaceChildren(
      ...[
        ['invocations', num(t.stats.invocations)],
        ['errors', num(t.stats.errors)],
        ['cold starts', num(t.stats.coldStarts)],
        ['timeouts', num(t.stats.timeouts)],
        ['memory', `${t.memoryMb} MB`],
        ['lag', ms(Math.max(0, ...t.mappings.map((m) => m.millisBehindLatest)))],
        ['est. cost', usd(t.cost?.dollars.total ?? 0)],
      ].map(([k, v]) =>
        h('div', { class: 'card' }, h('div', { class: 'muted' }, k), h('div', { class: 'big' }, v)),
      ),
    );
    fill(
      errors,
      h('h2', null, 'Recent errors'),
      failing ? h('p', { class: 'error' }, `halted: ${failing}`) : null,
      t.lastError ? h('p', { class: 'error' }, `last invocation error: ${t.lastError}`) : null,
      t.recentErrors.length
        ? h('ol', { class: 'errors' }, ...t.recentErrors.slice().reverse().map(errorEntry))
        : h('p', { class: 'muted' }, 'none'),
    );
    const docs = t.parkedDocs;
    if (docs)
      parkedDocs.replaceChildren(
        h('h2', null, 'Parked documents'),
        h(
          'p',
          { class: 'muted' },
          'Documents this task could not process (its failure policy is park): fix the cause, then redrive them — each is applied once.',
        ),
        h('div', null, redriveButton, redriveOut),
        docs.length ? h('ol', null, ...docs.map(parkedDocEntry)) : h('p', { class: 'muted' }, 'none'),
      );
    else parkedDocs.replaceChildren();
    parked.hidden = t.parked.length === 0;
    parked.replaceChildren(
      h('h2', null, 'Parked batches'),
      h(
        'p',
        { class: 'muted' },
        'Batch ranges the event-source mapping gave up on (the dead-letter policy), as sent to its on-failure destination.',
      ),
      h('ol', null, ...t.parked.map(parkedEntry)),
    );
    cost.replaceChildren(h('h2', null, 'Cost'), costTable(t));
    if (focus === 'errors' && document.activeElement !== errors) {
      errors.focus();
      focus = undefined;
    }
  };

  const haltBox = h('p', { class: 'error', id: 'halt' });
  errors.before(haltBox);
  const unsub = live.subscribe((snap) => {
    const t = snap.tasks.find((x) => x.label === label);
    haltBox.textContent = t?.halt
      ? `Halted at shard ${t.halt.shardId}, sequence ${t.halt.sequenceNumber}: ${t.halt.attempts} attempts since ${new Date(t.halt.sinceMs).toLocaleTimeString()} — ${t.halt.error}`
      : '';
    if (!t || !plot) return;
    push(t);
    plot.setData([xs, ins, outs, lags]);
  });
  // Errors and cost change slowly and are bigger than a tick: fetched every 2 s while the page is open.
  const timer = setInterval(() => void refresh().catch(() => {}), 2000);
  const onResize = () => plot?.setSize({ width: Math.max(280, chartBox.clientWidth), height: 240 });
  window.addEventListener('resize', onResize);
  void refresh().catch((e: Error) => root.replaceChildren(h('p', { class: 'error' }, e.message)));
  return () => {
    disposed = true;
    unsub();
    clearInterval(timer);
    window.removeEventListener('resize', onResize);
    plot?.destroy();
  };
}
