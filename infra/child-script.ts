/**
 * How infra/ runs one of its own modules in a child Node process (constructs and CDK's bundling hook are
 * synchronous; the work is async): compiled JavaScript when this module is compiled (dist/), else the
 * TypeScript source through tsx.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Node's arguments to run `infra/<name>.ts` (or its compiled `.js`). */
export function childScriptArgs(name: string): string[] {
  if (import.meta.url.endsWith('.js')) return [join(HERE, `${name}.js`)];
  return ['--import', import.meta.resolve('tsx'), join(HERE, `${name}.ts`)];
}
