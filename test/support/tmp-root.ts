/**
 * The OS temp folder of the whole run, for what test files share on purpose (synthesized assemblies,
 * the console test's fixed catalog folder). `os.tmpdir()` inside a test file is that file's own folder,
 * removed after it (tmp-per-file.ts).
 */
import { tmpdir } from 'node:os';

export const TEST_TMP_ROOT = process.env.SLUICE_TEST_TMP_ROOT ?? tmpdir();
