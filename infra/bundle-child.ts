/**
 * A derivation module's Lambda bundle built in a child process (infra/bundling.ts), for a module with
 * remote imports: CDK's bundling hook is synchronous, esbuild's synchronous API takes no plugins, and
 * esbuild leaves a URL import external unless a plugin resolves it to the file the catalog load cached.
 * stdin: `{options, imports}` as JSON; stdout: the bundle; on failure, esbuild's errors as JSON on stderr
 * and exit status 1.
 */
import { readFileSync } from 'node:fs';
import { type BuildOptions, build } from 'esbuild';
import { cachedRemoteImports } from '../shared/catalog/remote-modules.ts';

const input = JSON.parse(readFileSync(0, 'utf8')) as {
  options: BuildOptions;
  imports: Record<string, string>;
};
try {
  const result = await build({
    ...input.options,
    write: false,
    plugins: [cachedRemoteImports(input.imports)],
  });
  process.stdout.write(result.outputFiles?.[0]?.contents ?? new Uint8Array());
} catch (e) {
  const errors = (e as { errors?: unknown[] }).errors ?? [{ text: String(e) }];
  process.stderr.write(JSON.stringify({ errors }));
  process.exitCode = 1;
}
