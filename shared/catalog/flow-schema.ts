/**
 * Structural validation of one catalog file against schemas/flow.schema.json (the one JSON Schema
 * of the catalog format), with ajv's errors turned into diagnostics: unknown properties with
 * "did you mean", Estuary features Sluice does not support named as such, and locations.
 */
import type { ValidateFunction } from 'ajv';
import flowSchema from '../../schemas/flow.schema.json' with { type: 'json' };
import { escapeToken } from '../json/pointer.ts';
import { isObject, type Json } from '../json/types.ts';
import { typeOfValue } from '../schema/shape.ts';
import {
  Ajv2020,
  addFormats,
  cachedValidator,
  saveValidator,
  standaloneCodeOptions,
  validatorKey,
} from '../schema/standalone.ts';
import { type Diagnostic, type DiagnosticCode, didYouMean, didYouMeanHint } from './diagnostics.ts';
import type { SourceDoc } from './source.ts';

/** The catalog format's JSON Schema (draft 2020-12). */
export const FLOW_SCHEMA: Json = flowSchema as Json;

/**
 * Estuary properties that Sluice does not support, by the `$defs` entry of flow.schema.json
 * they belong to (`(root)` for the top level), with what to do instead.
 */
export const UNSUPPORTED: Record<string, Record<string, string>> = {
  Collection: {
    derivation:
      'the legacy `derivation` stanza is not supported; write `derive: {using: {typescript: {module}} or {sqlite: {migrations}}, transforms: [...]}`',
    delete: 'deleting through the catalog is not supported; remove the collection from the catalog instead',
  },
  Derivation: {
    shuffleKeyTypes: 'Sluice takes shuffle key types from the source schemas; remove it',
  },
  DeriveUsing: {
    connector: 'connector derivations are not supported; use `typescript` or `sqlite`',
    python: 'Python derivations are not supported; use `typescript` or `sqlite`',
    local: 'local-command derivations are not supported; use `typescript` or `sqlite`',
  },
  Shuffle: {
    lambda: 'shuffle lambdas are not supported; use `any` or `{key: [/ptr, ...]}`',
  },
  Capture: {
    redactSalt: 'per-capture salts are not supported; one salt per catalog is SluiceCatalogProps.redactSalt',
    delete: 'deleting through the catalog is not supported; remove the capture from the catalog instead',
  },
  CaptureEndpoint: {
    local: 'local-command connectors are not supported; use a built-in connector image',
  },
  Materialization: {
    delete:
      'deleting through the catalog is not supported; remove the materialization from the catalog instead',
  },
  MaterializationEndpoint: {
    local: 'local-command connectors are not supported; use a built-in connector image',
    dekaf: 'Dekaf (Kafka-protocol) materializations are not supported',
  },
  MaterializationFields: {
    groupBy: 'grouping by fields other than the collection key is not supported',
  },
  Test: {
    delete: 'deleting through the catalog is not supported; remove the test from the catalog instead',
  },
  StorageMapping: {
    dataPlanes: 'data planes do not apply: Sluice runs in your own AWS account; remove it',
  },
};

const PUB_ID =
  "publication ids are Estuary's control plane's check against concurrent edits; a deploy applies this catalog as it is";
const NO_EVOLUTION =
  "Estuary's policy for incompatible schema changes (backfill, disable, abort) is not applied: a deploy applies this catalog as it is";
const LISTED_BINDINGS =
  'the bindings listed here are what is materialized: a collection added to that capture later needs a binding added here';

/**
 * Estuary properties of its control plane (how it publishes, discovers and evolves a catalog), which
 * change nothing that a task does with documents. A catalog pulled from Estuary (`flowctl catalog
 * pull-specs`) carries them, so they load, with a `ControlPlaneIgnored` warning saying what Sluice does
 * instead, rather than stopping a catalog that would run unchanged.
 */
export const CONTROL_PLANE: Record<string, Record<string, string>> = {
  Collection: { expectPubId: PUB_ID },
  Capture: {
    autoDiscover:
      'Sluice does not discover: the bindings listed here are what is captured, and a new table or stream of the source needs a binding added',
    expectPubId: PUB_ID,
  },
  Materialization: {
    source: LISTED_BINDINGS,
    sourceCapture: LISTED_BINDINGS,
    onIncompatibleSchemaChange: NO_EVOLUTION,
    expectPubId: PUB_ID,
  },
  MaterializationBinding: {
    priority:
      'bindings are read concurrently, each from its own stream by its own event-source mapping: none waits for another',
    onIncompatibleSchemaChange: NO_EVOLUTION,
  },
  Test: { expectPubId: PUB_ID },
};

/**
 * What a required property may be, where the property's name alone does not say (Estuary's
 * `ShuffleUnset` is the one Estuary's own older examples hit).
 */
const REQUIRED_ALLOWED: Record<string, string> = {
  shuffle: ': `any` (documents go to any shard) or `{key: [/pointer, ...]}` (by those locations)',
};

/**
 * Properties Estuary's docs write in a place its current model does not have them, by `$defs` entry,
 * with where they belong: the hint of their UnknownProperty error.
 */
const MISPLACED: Record<string, Record<string, string>> = {
  TestVerify: {
    // Estuary's tests page shows `partitions` beside `collection`; its model (crates/models tests.rs
    // TestStepVerify, deny_unknown_fields) takes the selector in the collection's Source.
    partitions:
      'a partition selector goes in the collection: `collection: {name: acmeCo/x, partitions: {include: {…}}}`',
  },
  // Estuary's catalogs before 2022 (its hello-world and ais examples) name the connector `airbyteSource`.
  CaptureEndpoint: {
    airbyteSource:
      "`airbyteSource` is Estuary's former name of `connector`: rename it, keeping `image` and `config`",
  },
};

/** What a `$defs` entry is called in messages. */
const WHAT: Record<string, string> = {
  '(root)': 'a catalog',
  Collection: 'a collection',
  Derivation: '`derive`',
  DeriveUsing: '`derive.using`',
  DeriveUsingTypescript: '`using.typescript`',
  DeriveUsingSqlite: '`using.sqlite`',
  Transform: 'a transform',
  Source: 'a source',
  PartitionSelector: 'a partition selector',
  Shuffle: '`shuffle`',
  Capture: 'a capture',
  CaptureEndpoint: 'a capture endpoint',
  CaptureBinding: 'a capture binding',
  Materialization: 'a materialization',
  MaterializationEndpoint: 'a materialization endpoint',
  MaterializationBinding: 'a materialization binding',
  MaterializationFields: '`fields`',
  ConnectorConfig: '`connector`',
  Test: 'a test',
  TestStep: 'a test step',
  TestIngest: 'an ingest step',
  TestVerify: 'a verify step',
  StorageMapping: 'a storage mapping',
  Store: 'a store',
  JournalTemplate: '`journals`',
  FragmentTemplate: '`fragments`',
  ShardTemplate: '`shards`',
  Projection: 'a projection',
  Import: 'an import',
};

let compiled: ValidateFunction | undefined;
let defNames: Map<string, string> | undefined;

/**
 * The validator of the catalog format: from the standalone-code cache (shared/schema/standalone.ts)
 * when this flow.schema.json was compiled before, else compiled by ajv (≈ 80 ms) and cached.
 */
function compile(): ValidateFunction {
  if (compiled) return compiled;
  const key = validatorKey(
    'flow-schema-1:allErrors,verbose,strict,allowUnionTypes,formats',
    () => JSON.stringify(flowSchema),
    '',
  );
  compiled = cachedValidator(key)?.fn;
  if (compiled === undefined) {
    const ajv = new Ajv2020({
      allErrors: true,
      verbose: true,
      strict: true,
      allowUnionTypes: true,
      code: standaloneCodeOptions(),
    });
    addFormats(ajv);
    compiled = ajv.compile(flowSchema);
    saveValidator(key, ajv, compiled);
  }
  return compiled;
}

/**
 * The `$defs` entry an error's parent schema is, by its JSON text: cached standalone code carries
 * copies of the schema objects, so they cannot be found by identity.
 */
function defName(parentSchema: unknown): string {
  if (defNames === undefined) {
    defNames = new Map([[JSON.stringify(flowSchema), '(root)']]);
    for (const [name, def] of Object.entries(flowSchema.$defs)) defNames.set(JSON.stringify(def), name);
  }
  return defNames.get(JSON.stringify(parentSchema)) ?? '';
}

/** The `$defs` entry whose `then` branch is `schema` (ajv names only the branch, `#/then/const`). */
function thenOwner(schema: unknown): { description?: string } | undefined {
  const text = JSON.stringify(schema);
  return Object.values(flowSchema.$defs as Record<string, { then?: unknown; description?: string }>).find(
    (def) => def.then !== undefined && JSON.stringify(def.then) === text,
  );
}

/** Diagnostics for everything in `source` that does not match the catalog format. */
export function validateCatalogShape(source: SourceDoc): Diagnostic[] {
  const validate = compile();
  if (validate(source.value)) return [];
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if' && e.propertyName === undefined);

  const out: Diagnostic[] = [];
  const add = (
    code: DiagnosticCode,
    pointer: string,
    message: string,
    opts: { key?: boolean; hint?: string; severity?: 'error' | 'warning' } = {},
  ) => {
    const { line, col } = source.position(pointer, { key: opts.key });
    const severity = opts.severity ?? 'error';
    out.push({ code, severity, message, file: source.file, line, col, pointer, hint: opts.hint });
  };

  // Paths whose whole object is an unsupported variant, and properties that a typo explains:
  // their "missing required property" errors would only repeat the real problem.
  const unsupportedAt = new Set<string>();
  const typoFor = new Set<string>();
  const unknownAt = new Set<string>();

  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const def = defName(e.parentSchema);
    const prop = (e.params as { additionalProperty: string }).additionalProperty;
    const pointer = `${e.instancePath}/${escapeToken(prop)}`;
    const ignored = CONTROL_PLANE[def]?.[prop];
    if (ignored) {
      add('ControlPlaneIgnored', pointer, `\`${prop}\` is ignored: ${ignored}`, {
        key: true,
        severity: 'warning',
      });
      continue;
    }
    const unsupported = UNSUPPORTED[def]?.[prop];
    unknownAt.add(e.instancePath);
    if (unsupported) {
      unsupportedAt.add(e.instancePath);
      add('Unsupported', pointer, `\`${prop}\`: ${unsupported}`, { key: true });
      continue;
    }
    const allowed = Object.keys(propertiesOf(e.parentSchema));
    const match = didYouMean(prop, allowed);
    if (match) typoFor.add(`${e.instancePath}\u0000${match}`);
    add(
      'UnknownProperty',
      pointer,
      `${WHAT[def] ?? 'this object'} has no property \`${prop}\`; allowed: ${allowed.map((a) => `\`${a}\``).join(', ')}`,
      { key: true, hint: (match && `did you mean \`${match}\`?`) || MISPLACED[def]?.[prop] },
    );
  }

  for (const e of errors) {
    const def = defName(e.parentSchema);
    const what = WHAT[def] ?? 'this value';
    const at = e.instancePath;
    switch (e.keyword) {
      case 'additionalProperties':
        break;
      case 'required': {
        const prop = (e.params as { missingProperty: string }).missingProperty;
        if (unsupportedAt.has(at) || typoFor.has(`${at}\u0000${prop}`)) break;
        add('MissingProperty', at, `${what} must have \`${prop}\`${REQUIRED_ALLOWED[prop] ?? ''}`, {
          key: true,
        });
        break;
      }
      case 'propertyNames': {
        const name = (e.params as { propertyName: string }).propertyName;
        const prefix = at === '/storageMappings';
        add(
          'InvalidName',
          `${at}/${escapeToken(name)}`,
          prefix
            ? `\`${name}\` is not a storage prefix: name components of letters, numbers, \`-\`, \`_\`, \`.\`, each ending in \`/\` (\`acmeCo/\`)`
            : `\`${name}\` is not a valid name: components of letters, numbers, \`-\`, \`_\`, \`.\`, separated by \`/\` (\`acmeCo/orders\`)`,
          { key: true },
        );
        break;
      }
      case 'type': {
        const expected = ([] as string[]).concat((e.params as { type: string | string[] }).type);
        add(
          'WrongType',
          at,
          `expected ${expected.map(article).join(' or ')}, found ${article(typeOfValue(e.data as Json))}`,
        );
        break;
      }
      case 'enum': {
        const allowed = (e.params as { allowedValues: Json[] }).allowedValues;
        add('InvalidValue', at, `found ${show(e.data)}; allowed: ${allowed.map((a) => show(a)).join(', ')}`, {
          hint: typeof e.data === 'string' ? didYouMeanHint(e.data, allowed.map(String)) : undefined,
        });
        break;
      }
      case 'const': {
        const allowed = (e.params as { allowedValue: Json }).allowedValue;
        // A constant that applies to one type of a value that may also be of another (`shuffle: any`
        // or `{key: [...]}`): its definition's description says both.
        const described = thenOwner(e.parentSchema)?.description;
        const choices = described ? described.replace(/\.$/, '') : show(allowed);
        add('InvalidValue', at, `found ${show(e.data)}; allowed: ${choices}`, {
          hint: typeof e.data === 'string' ? didYouMeanHint(e.data, [String(allowed)]) : undefined,
        });
        break;
      }
      case 'pattern': {
        if (/\/transforms\/\d+\/name$/.test(at)) {
          // Estuary's crates/models `Transform` name: one TOKEN_RE component.
          add(
            'InvalidName',
            at,
            `${show(e.data)} is not a valid transform name: letters, numbers, \`-\`, \`_\` and \`.\` only (no \`/\` or spaces)`,
          );
        } else if (def === 'Name' || def === 'Source' || at.endsWith('/name')) {
          add(
            'InvalidName',
            at,
            `${show(e.data)} is not a valid name: components of letters, numbers, \`-\`, \`_\`, \`.\`, separated by \`/\``,
          );
        } else if (def === 'JsonPointer' || def === 'Projection') {
          add(
            'InvalidPointer',
            at,
            `${show(e.data)} is not a JSON pointer: write \`/field/sub\` (no empty components), with \`~1\` for \`/\` and \`~0\` for \`~\``,
          );
        } else {
          add('InvalidValue', at, `${show(e.data)} does not match the pattern ${e.params.pattern}`);
        }
        break;
      }
      case 'format':
        add('InvalidValue', at, `${show(e.data)} is not ${article((e.params as { format: string }).format)}`);
        break;
      case 'minProperties':
      case 'maxProperties':
        if (def === 'TestStep') {
          if (!unknownAt.has(at))
            add('InvalidValue', at, 'a test step has exactly one of `ingest` or `verify`');
        } else if (def === 'DeriveUsing') {
          if (!unknownAt.has(at))
            add('InvalidValue', at, '`derive.using` has exactly one of `typescript` or `sqlite`');
        } else if (def === 'DeriveUsingTypescript') {
          add(
            'MissingProperty',
            at,
            '`using.typescript` needs `module` (a file or inline TypeScript) or `files`',
          );
        } else {
          add('InvalidValue', at, `${what} ${e.message}`);
        }
        break;
      default:
        add('InvalidValue', at, `${show(e.data)}: ${e.message ?? 'is not allowed'}`);
    }
  }
  return out;
}

function propertiesOf(schema: unknown): Record<string, unknown> {
  return isObject(schema) && isObject(schema.properties) ? schema.properties : {};
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A short rendering of a value for messages. */
export function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return `\`${s.length > 60 ? `${s.slice(0, 57)}...` : s}\``;
}
