/** A stack holding one SluiceCatalog: what `npx cdk deploy -c catalog=...` deploys. */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { SluiceCatalog, type SluiceCatalogProps } from './sluice-catalog.ts';

export type SluiceStackProps = StackProps & SluiceCatalogProps;

export class SluiceStack extends Stack {
  readonly flow: SluiceCatalog;
  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    this.flow = new SluiceCatalog(this, 'Flow', props);
  }
}

/** Stack name for a catalog file: `examples/clickstream/flow.yaml` → `Sluice-clickstream`. */
export function stackNameFor(catalogPath: string): string {
  const parts = catalogPath.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
  const file = parts.at(-1) ?? 'flow.yaml';
  const base =
    /^flow\.(ya?ml|json)$/.test(file) && parts.length > 1
      ? (parts.at(-2) as string)
      : file.replace(/\.[^.]*$/, '');
  const cleaned = base.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return `Sluice-${cleaned || 'catalog'}`.slice(0, 128);
}
