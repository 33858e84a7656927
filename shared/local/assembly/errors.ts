/** Errors of reading and running a cloud assembly locally. */

/** The assembly (or a resource in its template) cannot be run locally; says which and why. */
export class AssemblyError extends Error {
  readonly code = 'BadAssembly';
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`cloud assembly ${dir}: ${detail}`);
    this.name = 'AssemblyError';
  }
}
