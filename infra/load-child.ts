/**
 * Child process of infra/load-sync.ts: load one catalog, print `{catalog?, diagnostics, formatted}` as
 * JSON on stdout. Exit 0 whenever the loader answered (even with diagnostics); non-zero only on a crash.
 */
import { formatDiagnostics } from '../shared/catalog/diagnostics.ts';
import { loadCatalog } from '../shared/catalog/load.ts';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: load-child.ts <catalog>\n');
  process.exit(64);
}
const { catalog, diagnostics } = await loadCatalog(path);
process.stdout.write(JSON.stringify({ catalog, diagnostics, formatted: formatDiagnostics(diagnostics) }));
