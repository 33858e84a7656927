/**
 * The runtime a handler runs in: the built catalog, its schema registry, SDK clients, and the adapters
 * (journal, state, blobs) wired from the typed environment. Made once per process (Lambda cold start;
 * once per `sluice dev`) and shared by every task of that process.
 *
 * The built catalog comes from `SLUICE_CATALOG`: a path to the BuiltCatalog JSON (the CDK stack ships
 * `catalog.json` next to the bundle with `SLUICE_CATALOG=./catalog.json`) or the JSON itself.
 */

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type AwsClients, EMULATOR_CREDENTIALS, makeClients } from '../adapters/clients.ts';
import { DynamoStateStore } from '../adapters/dynamodb.ts';
import { KinesisJournal } from '../adapters/kinesis.ts';
import { S3BlobStore } from '../adapters/s3.ts';
import { awsSecretResolver } from '../adapters/secrets.ts';
import type { BuiltCatalog } from '../catalog/model.ts';
import { resolveSecret, type SecretResolver } from '../connectors/config.ts';
import { fragmentsLocation, viewSpillFolder } from '../persist/place.ts';
import type { BlobStore } from '../ports/blob.ts';
import type { DerivationStateStore } from '../ports/derivation-state.ts';
import { streamOfArn } from '../ports/events.ts';
import type { Journal } from '../ports/journal.ts';
import type { StateStore } from '../ports/state.ts';
import { UsageMeter } from '../ports/usage.ts';
import { RedactingJournal } from '../schema/redacting-journal.ts';
import { SchemaRegistry } from '../schema/registry.ts';
import { EnvError, type SluiceEnv, streamName } from './env.ts';

export interface Runtime {
  env: SluiceEnv;
  catalog: BuiltCatalog;
  registry: SchemaRegistry;
  clients: AwsClients;
  meter: UsageMeter;
  journal: Journal;
  state: StateStore & DerivationStateStore;
  /** Blob store of a bucket (one adapter per bucket, cached). */
  blobs(bucket: string): BlobStore;
  /** The collection whose stream an event-source ARN names. */
  collectionOfArn(arn: string): string;
  streamArn(collection: string): string;
  /** Connector secret references (`${ENV}`, `env:`, `secretsmanager:`, `ssm:`); clients made on first use. */
  secret: SecretResolver;
}

export function readBuiltCatalog(env: SluiceEnv): BuiltCatalog {
  const v = env.catalog.trim();
  try {
    if (v.startsWith('{')) return JSON.parse(v) as BuiltCatalog;
    return JSON.parse(readFileSync(resolve(v), 'utf8')) as BuiltCatalog;
  } catch (e) {
    throw new EnvError(
      'SLUICE_CATALOG',
      env.catalog,
      `cannot read the built catalog: ${(e as Error).message}`,
    );
  }
}

export interface RuntimeOverrides {
  catalog?: BuiltCatalog;
  registry?: SchemaRegistry;
  clients?: AwsClients;
  meter?: UsageMeter;
  /** Kinesis journal tuning (tests: small records, fast backoff). */
  journal?: { maxRecordBytes?: number; baseBackoffMs?: number };
}

export function createRuntime(env: SluiceEnv, o: RuntimeOverrides = {}): Runtime {
  const catalog = o.catalog ?? readBuiltCatalog(env);
  const registry = o.registry ?? new SchemaRegistry(catalog.schemas);
  const local = Boolean(env.endpoints.kinesis);
  const clients =
    o.clients ??
    makeClients({
      region: env.region,
      endpoints: env.endpoints,
      ...(local ? { credentials: EMULATOR_CREDENTIALS } : {}),
    });
  const meter = o.meter ?? new UsageMeter();
  const nameOf = (c: string) => streamName(env, c);
  const byStream = new Map(Object.keys(catalog.collections).map((c) => [nameOf(c), c]));
  const blobs = new Map<string, BlobStore>();
  const blobsOf = (bucket: string): BlobStore => {
    let b = blobs.get(bucket);
    if (!b) {
      b = new S3BlobStore({ client: clients.s3, bucket, meter });
      blobs.set(bucket, b);
    }
    return b;
  };
  let secrets: SecretsManagerClient | undefined;
  let ssm: SSMClient | undefined;
  const secret = awsSecretResolver({
    secrets: () => (secrets ??= new SecretsManagerClient({ region: env.region })),
    ssm: () => (ssm ??= new SSMClient({ region: env.region })),
  });
  return {
    secret,
    env,
    catalog,
    registry,
    clients,
    meter,
    // Documents entering a collection (captures, derivations) get its `redact` annotations applied.
    journal: new RedactingJournal(
      new KinesisJournal({ client: clients.kinesis, streamName: nameOf, meter, ...o.journal }),
      catalog,
      registry,
      () =>
        env.redactSalt ? resolveSecret(env.redactSalt, 'SLUICE_REDACT_SALT', secret) : Promise.resolve(''),
    ),
    state: new DynamoStateStore({
      client: clients.dynamodb,
      table: env.stateTable,
      meter,
      tombstoneTtlSeconds: env.tombstoneTtlSeconds,
      appliedHorizonSeconds: env.appliedHorizonSeconds,
      // A reduced document too large for an item spills to its collection's fragments bucket, beside
      // the fragment folder the persister writes (the prefix infra grants it).
      spillTo: (c) => {
        const f = fragmentsLocation(catalog, env, c);
        return { bucket: f.bucket, prefix: viewSpillFolder(f.folder, c) };
      },
      blobs: blobsOf,
    }),
    blobs: blobsOf,
    collectionOfArn(arn) {
      const c = byStream.get(streamOfArn(arn));
      if (!c)
        throw new EnvError(
          'SLUICE_STREAMS',
          JSON.stringify(env.streams),
          `no collection has the stream of ${arn}`,
        );
      return c;
    },
    streamArn(collection) {
      return `arn:aws:kinesis:${env.region}:000000000000:stream/${nameOf(collection)}`;
    },
  };
}
