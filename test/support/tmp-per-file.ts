/**
 * Setup file: each test file gets its own temp folder as TMPDIR, so `os.tmpdir()` there and in every
 * process it starts points into it, and the folder is removed after the file. CDK apps without an
 * outdir (a `cdk.outXXXXXX` each), bundles and scratch folders otherwise stayed behind after every
 * run: ≈ 1,000 folders and 600 MB in /tmp after a day of runs.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { TEST_TMP_ROOT } from './tmp-root.ts';

const dir = mkdtempSync(join(TEST_TMP_ROOT, 'sluice-test-'));
// Traversable by other users: the test PostgreSQL runs as `postgres` in a folder under it.
chmodSync(dir, 0o755);
process.env.TMPDIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
