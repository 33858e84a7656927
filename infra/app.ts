/**
 * The CDK app (`cdk.json`: `npx tsx infra/app.ts`).
 *
 *   npx cdk synth                                   # the clickstream example (cdk.json context)
 *   npx cdk synth -c catalog=path/to/flow.yaml      # any catalog
 *   npx cdk deploy -c catalog=... [-c stack=Name] [-c streams='{"acme/orders":{"shards":4}}']
 *
 * A catalog with errors fails synth with the same diagnostics `sluice check` prints, exit status 2.
 * cdk-nag's AwsSolutions pack validates every stack; a violation fails synth.
 */
import { readFileSync } from 'node:fs';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { formatDiagnostics } from '../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../shared/catalog/load.ts';
import type { BuiltCatalog } from '../shared/catalog/model.ts';
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
  streams: jsonContext<Record<string, StreamOverride>>(app, 'streams'),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  description: `Sluice data flows of ${catalogPath}`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
