/**
 * Construct ids derived from catalog names.
 *
 * A CloudFormation logical id is computed from the construct path, so the id of everything that holds
 * data (streams, tables, buckets) must be a pure function of the catalog name it stands for: the same
 * catalog always gives the same ids, and adding or removing an unrelated entity changes no other id.
 * Never derive an id from a position in a list or from a counter.
 *
 * Catalog names match `^[\p{L}\p{N}\-_.]+(/[\p{L}\p{N}\-_.]+)*$`, so they never contain `:`; replacing
 * `/` (the construct path separator) by `:` is therefore injective.
 */
import { SluiceError } from '../shared/errors.ts';

const NAME = /^[\p{L}\p{N}\-_.]+(\/[\p{L}\p{N}\-_.]+)*$/u;

export class InvalidCatalogNameError extends SluiceError {
  readonly code = 'InvalidCatalogName';
  constructor(
    readonly kind: string,
    readonly value: string,
  ) {
    super(
      `${kind} name ${JSON.stringify(value)} is not a catalog name (segments of letters, digits, -, _, . joined by /)`,
    );
    this.name = 'InvalidCatalogNameError';
  }
}

/** The construct id for a catalog name: `acmeCo/anvils/orders` → `acmeCo:anvils:orders`. */
export function constructIdFor(kind: string, name: string): string {
  if (!NAME.test(name)) throw new InvalidCatalogNameError(kind, name);
  return name.replaceAll('/', ':');
}

/**
 * A short, readable label for metric dimensions and dashboard titles (CloudWatch dimension values accept
 * any characters up to 1024; we keep the catalog name as is).
 */
export function taskLabel(
  kind: 'capture' | 'derivation' | 'materialization' | 'persister',
  name: string,
): string {
  return `${kind}:${name}`;
}
