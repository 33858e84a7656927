/**
 * The built-in connectors of this folder, by name (materialize-dynamodb lives beside them but is built by
 * functions/materialize.ts with its DynamoDB client).
 *
 * Materializations: `createMaterializeConnector(name, ctx)`; sources: `createPollingSource(spec, deps)`.
 */
import type { BuiltCatalog, CaptureSpec, MaterializationSpec } from '../catalog/model.ts';
import type { MaterializeConnector } from '../materialize/connector.ts';
import type { SecretResolver } from './config.ts';
import { ConnectorConfigError } from './errors.ts';
import { PostgresMaterialization } from './materialize-postgres.ts';
import { S3Materialization } from './materialize-s3.ts';
import { WebhookMaterialization, type WebhookOptions } from './materialize-webhook.ts';
import type { PollingSource } from './source.ts';
import { PostgresBatchSource } from './source-postgres-batch.ts';
import { type BlobStoreFactory, S3Source } from './source-s3.ts';

export interface ConnectorDeps {
  catalog: BuiltCatalog;
  /** BlobStore per bucket (S3 adapter / emulator). */
  blobs: BlobStoreFactory;
  secret?: SecretResolver;
  /**
   * When the current commit must be done (ms since epoch), read at the start of each commit: in a Lambda,
   * the invocation's end less a margin (functions/materialize.ts). Used by materialize-webhook, whose
   * retries never run past it; without it, its own budget.
   */
  deadlineMs?: () => number;
  /** A materialization's checkpoint store, for connectors whose destination cannot keep one (materialize-webhook). */
  checkpoints?: (materialization: string) => WebhookOptions['checkpoints'];
}

export async function createMaterializeConnector(
  spec: MaterializationSpec,
  deps: ConnectorDeps,
): Promise<MaterializeConnector> {
  switch (spec.endpoint.connector) {
    case 'materialize-postgres':
      return PostgresMaterialization.create({ spec, catalog: deps.catalog, secret: deps.secret });
    case 'materialize-s3':
      return S3Materialization.create({ spec, blobs: deps.blobs, secret: deps.secret });
    case 'materialize-webhook':
      return WebhookMaterialization.create({
        spec,
        secret: deps.secret,
        deadlineMs: deps.deadlineMs,
        checkpoints: deps.checkpoints?.(spec.name),
      });
    default:
      throw new ConnectorConfigError(spec.endpoint.connector, `${spec.name}/endpoint/connector`, [
        {
          pointer: '/image',
          message: 'not built here; allowed: materialize-postgres, materialize-s3, materialize-webhook',
        },
      ]);
  }
}

export async function createPollingSource(
  spec: CaptureSpec,
  deps: { blobs: BlobStoreFactory; secret?: SecretResolver },
): Promise<PollingSource> {
  switch (spec.endpoint.connector) {
    case 'source-postgres-batch':
      return PostgresBatchSource.create({ spec, secret: deps.secret });
    case 'source-s3':
      return S3Source.create({ spec, blobs: deps.blobs, secret: deps.secret });
    default:
      throw new ConnectorConfigError(spec.endpoint.connector, `${spec.name}/endpoint/connector`, [
        { pointer: '/image', message: 'not a polling source; allowed: source-postgres-batch, source-s3' },
      ]);
  }
}
