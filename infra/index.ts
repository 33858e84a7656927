/**
 * The package root (`import { SluiceCatalog } from 'sluice'`): the construct that turns a catalog into
 * streams, tables, buckets and functions in any CDK stack, and its props. The engine API for tests is
 * the `sluice/testing` subpath (shared/testing/index.ts).
 */
export type { BuiltCatalog } from '../shared/catalog/model.ts';
export { CatalogInvalidError, DeployUnsupportedError } from './errors.ts';
export {
  DEFAULT_EVENT_SOURCE,
  type EventSourceSettings,
  type FailurePolicy,
  type OnFailure,
  SluiceCatalog,
  type SluiceCatalogProps,
  type StreamOverride,
} from './sluice-catalog.ts';
export { SluiceStack, type SluiceStackProps } from './stack.ts';
