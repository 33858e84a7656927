/** Errors of reading and running a cloud assembly locally. */
import { SluiceError } from '../../errors.ts';

/** The assembly (or a resource in its template) cannot be run locally; says which and why. */
export class AssemblyError extends SluiceError {
  readonly code = 'BadAssembly';
  constructor(
    readonly dir: string,
    detail: string,
  ) {
    super(`cloud assembly ${dir}: ${detail}`);
    this.name = 'AssemblyError';
  }
}
