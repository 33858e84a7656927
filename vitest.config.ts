import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // Compiled validators and module inspections (shared/cache) go here, not to the user's ~/.cache.
      SLUICE_CACHE_DIR: join(tmpdir(), 'sluice-vitest-cache'),
    },
  },
});
