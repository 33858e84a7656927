import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file's temp folder is its own and removed after it; TEST_TMP_ROOT stays the run's.
    setupFiles: ['test/support/tmp-per-file.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // Compiled validators and module inspections (shared/cache) go here, not to the user's ~/.cache.
      SLUICE_CACHE_DIR: join(tmpdir(), 'sluice-vitest-cache'),
      SLUICE_TEST_TMP_ROOT: tmpdir(),
    },
  },
});
