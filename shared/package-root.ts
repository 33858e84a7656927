/**
 * Root of the Sluice package (where package.json, and in a checkout package-lock.json, live), whether
 * the code runs from its TypeScript sources (shared/) or compiled (dist/shared/): paths to the sources,
 * the launchers in bin/ and the console's sources are taken from here, never from dist/.
 */
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UP = join(dirname(fileURLToPath(import.meta.url)), '..');

export const SLUICE_ROOT = basename(UP) === 'dist' ? dirname(UP) : UP;
