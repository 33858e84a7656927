/** Errors raised while turning a catalog into CDK constructs. Each has a code, a location and the values involved. */
import type { Diagnostic } from '../shared/catalog/diagnostics.ts';
import { SluiceError } from '../shared/errors.ts';

/** A catalog that does not load: carries the loader's diagnostics, formatted exactly as `sluice check` prints them. */
export class CatalogInvalidError extends SluiceError {
  readonly code = 'CatalogInvalid';
  constructor(
    readonly catalogPath: string,
    /** The loader's diagnostics. */
    readonly diagnostics: readonly Diagnostic[],
    /** `formatDiagnostics(diagnostics)`: one `file:line:col: CODE: message` line per diagnostic. */
    readonly formatted: string,
  ) {
    super(`catalog ${catalogPath} has errors:\n${formatted}`);
    this.name = 'CatalogInvalidError';
  }
}

/** The catalog loads but asks for something the AWS deployment cannot provide. */
export class DeployUnsupportedError extends SluiceError {
  readonly code: 'UnsupportedConnector' | 'UnsupportedStore' | 'InvalidOverride' | 'MissingDerivationModule';
  constructor(
    code: DeployUnsupportedError['code'],
    /** `file:line:col` of the catalog entity, or the prop path of an override. */
    readonly location: string,
    /** JSON pointer of the offending value in its file (empty for props). */
    readonly pointer: string,
    readonly value: unknown,
    detail: string,
  ) {
    super(`${location}: ${code}: ${detail} (at ${pointer || '/'}; found ${JSON.stringify(value)})`);
    this.name = 'DeployUnsupportedError';
    this.code = code;
  }
}
