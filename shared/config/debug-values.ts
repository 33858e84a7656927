/**
 * Whether error messages (and so logs) may quote document values. By default they name only keys, JSON
 * pointers, files and lines: documents may hold personal data, and logs are kept longer and read by
 * more people than the data. `SLUICE_LOG_VALUES=1` or a DEBUG log level (POWERTOOLS_LOG_LEVEL) asks for
 * the values, for debugging.
 */
export function valuesInErrors(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SLUICE_LOG_VALUES === '1' || (env.POWERTOOLS_LOG_LEVEL ?? '').toUpperCase() === 'DEBUG';
}
