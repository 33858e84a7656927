/**
 * What the console needs from the process that serves it (`sluice dev`): the running stack and the
 * catalog it runs, and a way to publish a draft. The console never starts or stops a stack itself, so
 * `sluice dev` (or a test) stays the one owner of the runner's lifecycle.
 */
import type { BuiltCatalog } from '../catalog/model.ts';
import type { AssemblyRunner } from '../local/assembly/runner.ts';
import type { ReloadSummary } from './api-types.ts';

export type { ReloadSummary } from './api-types.ts';

export interface ConsoleHost {
  /** The stack running now (a reload replaces it, so always ask again). */
  runner(): AssemblyRunner;
  /** The catalog the running stack was built from. */
  catalog(): Promise<BuiltCatalog>;
  /** Absolute path of the root catalog file (drafts are edits of its folder). */
  readonly catalogPath: string;
  /**
   * Re-synthesize the catalog from the files on disk and restart the stack on it. Called after a
   * publish has written the draft; resolves when the new stack runs (or failed to start).
   */
  reload(): Promise<ReloadSummary>;
  /** The command that deploys this catalog to AWS (shown next to publish). */
  deployCommand?: string;
}
