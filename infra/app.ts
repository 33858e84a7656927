/**
 * The CDK app (`cdk.json`: `node bin/cdk-app.js`, which runs it compiled when dist/ is current, else
 * through tsx).
 *
 *   npx cdk synth                                   # the clickstream example (cdk.json context)
 *   npx cdk synth -c catalog=path/to/flow.yaml      # any catalog
 *   npx cdk deploy -c catalog=... [-c stack=Name] [-c streams='{"acme/orders":{"shards":4}}']
 *                  [-c eventSource='{"maxBatchingWindow":0}'] [-c onFailure=park]
 *
 * A catalog with errors fails synth with the same diagnostics `sluice check` prints, exit status 2.
 * cdk-nag's AwsSolutions pack validates every stack; a violation fails synth.
 */
import { readFileSync } from 'node:fs';
import { App, Duration, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { formatDiagnostics } from '../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
import type { EventSourceSettings } from './event-source.ts';
import type { OnFailure, StreamOverride } from './sluice-catalog.ts';
import { SluiceStack, stackNameFor } from './stack.ts';

export const DEFAULT_CATALOG = 'examples/clickstream/flow.yaml';

function jsonContext<T>(app: App, key: string): T | undefined {
  const v: unknown = app.node.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') return v as T;
  try {
    return JSON.parse(v) as T;
  } catch (e) {
    process.stderr.write(`context ${key}: not JSON (${(e as Error).message}): ${v}\n`);
    process.exit(2);
  }
}

/**
 * `-c eventSource='{"maxBatchingWindow":0,"persisterBatchingWindow":30,"batchSize":1000}'`: the
 * mappings' settings (windows in seconds) for this synth, e.g. to trade latency for cost per document.
 */
function eventSourceContext(
  v: Record<string, unknown> | undefined,
): Partial<EventSourceSettings> | undefined {
  if (v === undefined) return undefined;
  const out: Partial<EventSourceSettings> = {};
  for (const [k, x] of Object.entries(v)) {
    const ok = typeof x === 'number' && Number.isInteger(x) && x >= 0;
    if (ok && x <= 300 && (k === 'maxBatchingWindow' || k === 'persisterBatchingWindow'))
      out[k] = Duration.seconds(x);
    else if (ok && k === 'batchSize' && x >= 1 && x <= 10_000) out.batchSize = x;
    else {
      process.stderr.write(
        `context eventSource: ${k}=${JSON.stringify(x)} is not allowed; expected maxBatchingWindow and persisterBatchingWindow (whole seconds, 0–300, as Lambda's MaximumBatchingWindowInSeconds) or batchSize (1–10000)\n`,
      );
      process.exit(2);
    }
  }
  return out;
}

/** `-c views=none`, `-c views=all` or `-c views='["acme/totals"]'` (SluiceCatalogProps.views). */
function viewsContext(app: App): 'all' | 'none' | string[] | undefined {
  const v: unknown = app.node.tryGetContext('views');
  if (v === 'all' || v === 'none') return v;
  // A list, given as JSON on the command line (jsonContext reports JSON that does not parse).
  const list = jsonContext<unknown>(app, 'views');
  if (list === undefined || (Array.isArray(list) && list.every((x) => typeof x === 'string')))
    return list as string[] | undefined;
  process.stderr.write(
    `context views: ${JSON.stringify(v)} is not allowed; expected all, none or a JSON list of collection names\n`,
  );
  process.exit(2);
}

const app = new App();
const catalogPath: string = app.node.tryGetContext('catalog') || DEFAULT_CATALOG;
// `-c builtCatalog=file.json`: an already built catalog (BuiltCatalog JSON), as `sluice dev` and tests
// synthesize catalogs made in memory; else the catalog file is loaded as `sluice check` loads it.
const builtFile: string | undefined = app.node.tryGetContext('builtCatalog') || undefined;
const { catalog, diagnostics } = builtFile
  ? { catalog: JSON.parse(readFileSync(builtFile, 'utf8')) as BuiltCatalog, diagnostics: [] }
  : await loadCatalog(catalogPath);
if (!catalog) {
  // Exactly what `sluice check` prints (and its exit status, 2).
  const { runCheck } = await import('../cli/check.ts');
  process.exit(await runCheck(catalogPath));
}
if (diagnostics.length > 0) process.stderr.write(`${formatDiagnostics(diagnostics)}\n`);

// `-c onFailure=park` (every stream task) or `-c onFailure='{"derivation:acme/x":"park"}'` (per task).
const onFailureRaw: unknown = app.node.tryGetContext('onFailure');
const onFailure =
  onFailureRaw === 'halt' || onFailureRaw === 'park'
    ? onFailureRaw
    : jsonContext<Record<string, OnFailure>>(app, 'onFailure');

new SluiceStack(app, app.node.tryGetContext('stack') || stackNameFor(catalogPath), {
  catalog,
  onFailure,
  views: viewsContext(app),
  eventSource: eventSourceContext(jsonContext<Record<string, unknown>>(app, 'eventSource')),
  streams: jsonContext<Record<string, StreamOverride>>(app, 'streams'),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `Sluice data flows of ${catalogPath}`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
