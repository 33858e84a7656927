/**
 * Connector configs and binding resources: one JSON Schema per connector (field names follow Estuary's
 * connectors of the same name, so existing catalogs carry over), validated with ajv (compiled once per
 * schema), defaults filled in, and secrets resolved.
 *
 * Secrets: any string field named in a connector's `secretFields` may be written as
 * - `${NAME}`: the value of environment variable NAME (error if unset);
 * - `env:NAME`, `secretsmanager:<id or ARN>[#jsonKey]`, `ssm:<parameter name>`: resolved by the
 *   context's `secret` resolver (the default resolver handles `env:` only; the AWS handlers pass one
 *   that reads Secrets Manager / SSM).
 * Anything else is taken literally. Resolved values are never logged nor put in error messages.
 */
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { Json } from '../json/types.ts';
import {
  Ajv2020,
  cachedValidator,
  registerFormats,
  saveValidator,
  standaloneCodeOptions,
  validatorKey,
} from '../schema/standalone.ts';
import { type ConfigIssue, ConnectorConfigError, SecretError } from './errors.ts';

const str = { type: 'string' } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;

const pgConnection = {
  address: { ...nonEmpty, description: 'host:port (port defaults to 5432)' },
  user: nonEmpty,
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the ${ENV_NAME} secret syntax, not a template
  password: { ...str, description: 'literal, ${ENV_NAME}, env:NAME, secretsmanager:ID[#key] or ssm:NAME' },
  database: { ...nonEmpty, default: 'postgres' },
  advanced: {
    type: 'object',
    additionalProperties: false,
    properties: {
      sslmode: {
        enum: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'],
        description: 'default verify-full (postgres-common.ts)',
      },
      sslrootcert: {
        ...str,
        description: 'CA bundle: a PEM file path, the PEM text, or a secret reference to it',
      },
    },
  },
} as const;

const awsCredentials = {
  awsAccessKeyId: str,
  awsSecretAccessKey: str,
  /** Not in Estuary: an S3-compatible endpoint (the local emulator). Also read from AWS_ENDPOINT_URL_S3. */
  endpoint: str,
} as const;

export const CONNECTOR_SCHEMAS = {
  // Estuary's source-http-ingest fields. Unknown config fields are tolerated (Estuary adds some over
  // time; none changes what is deployed here); a binding's resource is checked strictly.
  'source-http-ingest': {
    config: {
      type: 'object',
      properties: {
        paths: { type: 'array', items: str },
        // Estuary's spelling (serde camelCase), and Sluice's earlier snake_case one.
        requireAuthToken: { type: ['string', 'null'] },
        require_auth_token: { type: ['string', 'null'] },
        allowedCorsOrigins: { type: 'array', items: str },
        allowed_cors_origins: { type: 'array', items: str },
      },
    },
    resource: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { type: ['string', 'null'] },
        stream: { type: ['string', 'null'] },
        idFromHeader: { type: ['string', 'null'] },
      },
    },
    secretFields: ['/requireAuthToken', '/require_auth_token'],
  },
  // Estuary's materialize-dynamodb fields; deployed, the function's role is used (credentials ignored).
  'materialize-dynamodb': {
    config: {
      type: 'object',
      properties: {
        region: str,
        awsAccessKeyId: str,
        awsSecretAccessKey: str,
        advanced: { type: 'object', properties: { endpoint: str } },
      },
    },
    resource: {
      type: 'object',
      required: ['table'],
      additionalProperties: false,
      properties: {
        table: { ...nonEmpty, maxLength: 255 },
        delta_updates: { type: 'boolean', default: false },
      },
    },
    secretFields: ['/awsSecretAccessKey'],
  },
  'materialize-postgres': {
    config: {
      type: 'object',
      required: ['address', 'user', 'password'],
      additionalProperties: false,
      properties: {
        ...pgConnection,
        schema: { ...nonEmpty, default: 'public' },
        hardDelete: { type: 'boolean', default: false },
      },
    },
    resource: {
      type: 'object',
      required: ['table'],
      additionalProperties: false,
      properties: {
        table: { ...nonEmpty, maxLength: 63 },
        schema: { ...nonEmpty, maxLength: 63 },
        delta_updates: { type: 'boolean', default: false },
      },
    },
    secretFields: ['/password', '/advanced/sslrootcert'],
  },
  'source-postgres-batch': {
    config: {
      type: 'object',
      required: ['address', 'user', 'password'],
      additionalProperties: false,
      properties: pgConnection,
    },
    resource: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: {
        name: nonEmpty,
        schema: { ...nonEmpty, default: 'public' },
        table: nonEmpty,
        cursor: { type: 'array', items: nonEmpty, default: [] },
        template: nonEmpty,
        /** Rows per poll query (not in Estuary). */
        limit: { type: 'integer', minimum: 1, default: 10000 },
      },
    },
    secretFields: ['/password', '/advanced/sslrootcert'],
  },
  'source-s3': {
    config: {
      type: 'object',
      required: ['bucket'],
      additionalProperties: false,
      properties: {
        bucket: nonEmpty,
        prefix: { ...str, default: '' },
        region: { ...nonEmpty, default: 'us-east-1' },
        matchKeys: { ...str, format: 'regex' },
        ...awsCredentials,
        parser: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            format: {
              type: 'object',
              required: ['type'],
              additionalProperties: false,
              properties: {
                type: { enum: ['json', 'jsonl', 'csv', 'auto'] },
                config: {
                  type: 'object',
                  additionalProperties: false,
                  // Estuary's AdvancedCsvConfig (crates/parser config/character_separated.rs); null: detect.
                  properties: {
                    headers: { type: 'array', items: str },
                    delimiter: {
                      type: ['string', 'null'],
                      description: 'one character, or its 0xNN code as Estuary’s docs write a tab (0x09)',
                      pattern: '^(.|0x[0-9a-fA-F]{2})$',
                    },
                    quote: { enum: ['"', "'", '', null] },
                    escape: { enum: ['\\', '', null] },
                    lineEnding: { enum: ['\n', '\r\n', '\r', '\x1E', null] },
                    encoding: { enum: ['UTF-8', 'utf-8', 'utf8', null] },
                    skipLines: { type: 'integer', minimum: 0 },
                    // Accepted, not applied: a record that does not parse halts the capture or is parked.
                    errorThreshold: { type: 'integer', minimum: 0, maximum: 100 },
                  },
                },
              },
            },
            compression: { enum: ['gzip', 'none', 'auto'], default: 'auto' },
          },
        },
        advanced: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ascendingKeys: { type: 'boolean' },
            endpoint: str,
            // Not in Estuary: how much of one object is parsed (connectors/parsers.ts DEFAULT_PARSE_LIMITS).
            maxObjectBytes: { type: 'integer', minimum: 1 },
            maxDecompressedBytes: { type: 'integer', minimum: 1 },
            maxLineBytes: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    resource: {
      type: 'object',
      required: ['stream'],
      additionalProperties: false,
      properties: { stream: str, syncMode: { enum: ['incremental'] } },
    },
    secretFields: ['/awsSecretAccessKey'],
  },
  'materialize-s3': {
    config: {
      type: 'object',
      required: ['bucket'],
      additionalProperties: false,
      properties: {
        bucket: nonEmpty,
        prefix: { ...str, default: '' },
        region: { ...nonEmpty, default: 'us-east-1' },
        ...awsCredentials,
      },
    },
    resource: {
      type: 'object',
      required: ['path'],
      additionalProperties: false,
      properties: { path: nonEmpty, delta_updates: { const: true } },
    },
    secretFields: ['/awsSecretAccessKey'],
  },
  'materialize-webhook': {
    config: {
      type: 'object',
      required: ['address'],
      additionalProperties: false,
      properties: {
        address: { type: 'string', pattern: '^https?://' },
        headers: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            customHeaders: {
              type: 'array',
              items: {
                type: 'object',
                required: ['name', 'value'],
                additionalProperties: false,
                properties: {
                  name: { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
                  value: str,
                },
              },
            },
          },
        },
        /** Not in Estuary: HMAC-SHA256 key; the signature goes in `X-Sluice-Signature: sha256=<hex>`. */
        signingSecret: str,
        maxRetries: { type: 'integer', minimum: 0, maximum: 20, default: 5 },
        batchSize: { type: 'integer', minimum: 1, default: 500 },
        timeoutMs: { type: 'integer', minimum: 100, default: 10000 },
      },
    },
    resource: {
      type: 'object',
      required: ['relativePath'],
      additionalProperties: false,
      properties: { relativePath: str },
    },
    secretFields: ['/signingSecret', '/headers/customHeaders/*/value'],
  },
} as const;

export type BuiltInConnector = keyof typeof CONNECTOR_SCHEMAS;

/** The `regex` format of connector schemas (JavaScript's RegExp syntax, no flags). */
const CONNECTOR_FORMATS = {
  regex: {
    validate: (s: string) => {
      try {
        new RegExp(s);
        return true;
      } catch {
        return false;
      }
    },
  },
};
const FORMATS_MODULE = 'sluice:connector-formats';
registerFormats(FORMATS_MODULE, CONNECTOR_FORMATS);
const CONNECTOR_OPTIONS_TAG = 'connector-1:allErrors,strict,allowUnionTypes,useDefaults,verbose,regex';
let ajvInstance: Ajv2020 | undefined;

/** ajv for the connector schemas, made only when a validator is not in the cache (shared/schema/standalone.ts). */
function ajv(): Ajv2020 {
  if (ajvInstance !== undefined) return ajvInstance;
  ajvInstance = new Ajv2020({
    allErrors: true,
    strict: true,
    allowUnionTypes: true,
    useDefaults: true,
    verbose: true,
    code: standaloneCodeOptions(FORMATS_MODULE),
  });
  ajvInstance.addFormat('regex', CONNECTOR_FORMATS.regex);
  return ajvInstance;
}
const compiled = new Map<string, ValidateFunction>();

function issueOf(e: ErrorObject): ConfigIssue {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const parent = e.parentSchema as { properties?: Record<string, unknown> } | undefined;
      const allowed = Object.keys(parent?.properties ?? {});
      return {
        pointer: `${e.instancePath}/${String(p.additionalProperty)}`,
        message: `unknown property "${String(p.additionalProperty)}"; allowed: ${allowed.join(', ')}`,
      };
    }
    case 'required':
      return {
        pointer: `${e.instancePath}/${String(p.missingProperty)}`,
        message: `missing required property "${String(p.missingProperty)}"`,
      };
    case 'enum':
      return {
        pointer: e.instancePath,
        message: `${JSON.stringify(e.data)} is not allowed; allowed: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    default:
      return { pointer: e.instancePath, message: `${JSON.stringify(e.data)}: ${e.message ?? e.keyword}` };
  }
}

/**
 * Validate (a deep copy of) a connector config or binding resource against the connector's schema,
 * filling defaults. Throws ConnectorConfigError listing every issue with its JSON pointer.
 */
export function validateConnectorJson<T>(
  connector: BuiltInConnector,
  kind: 'config' | 'resource',
  value: Json,
  where: string,
): T {
  const id = `${connector}#${kind}`;
  let validate = compiled.get(id);
  if (!validate) {
    const schema = CONNECTOR_SCHEMAS[connector][kind];
    const key = validatorKey(CONNECTOR_OPTIONS_TAG, () => JSON.stringify(schema), id);
    validate = cachedValidator(key)?.fn;
    if (validate === undefined) {
      const a = ajv();
      validate = a.compile(schema);
      saveValidator(key, a, validate);
    }
    compiled.set(id, validate);
  }
  const copy = structuredClone(value);
  if (!validate(copy)) {
    throw new ConnectorConfigError(connector, where, (validate.errors ?? []).map(issueOf));
  }
  return copy as T;
}

export type SecretResolver = (ref: string) => Promise<string>;

/** The default resolver: `env:NAME` only. */
export const envSecretResolver: SecretResolver = async (ref) => {
  const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(ref);
  if (!m) throw new Error('only env:NAME is resolvable here (Secrets Manager / SSM need the AWS resolver)');
  const v = process.env[m[1] as string];
  if (v === undefined) throw new Error(`environment variable ${m[1]} is not set`);
  return v;
};

const REF = /^(env|secretsmanager|ssm):.+|^arn:aws:secretsmanager:.+/;

/** Resolve one secret-capable string value. */
export async function resolveSecret(
  value: string,
  pointer: string,
  resolver: SecretResolver = envSecretResolver,
): Promise<string> {
  const env = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(value);
  if (env) {
    const v = process.env[env[1] as string];
    if (v === undefined) throw new SecretError(pointer, value, `environment variable ${env[1]} is not set`);
    return v;
  }
  if (!REF.test(value)) return value;
  try {
    return await resolver(value);
  } catch (err) {
    throw new SecretError(pointer, value, (err as Error).message);
  }
}

/** Resolve every secret field of a validated config in place (pointers may use `*` for array items). */
export async function resolveConfigSecrets<T extends object>(
  connector: BuiltInConnector,
  config: T,
  resolver?: SecretResolver,
): Promise<T> {
  const walk = async (node: unknown, parts: string[], at: string): Promise<void> => {
    if (node === null || typeof node !== 'object') return;
    const [head, ...rest] = parts;
    if (head === undefined) return;
    const obj = node as Record<string, unknown>;
    const keys = head === '*' ? Object.keys(obj) : [head];
    for (const k of keys) {
      const child = obj[k];
      if (rest.length === 0) {
        if (typeof child === 'string') obj[k] = await resolveSecret(child, `${at}/${k}`, resolver);
      } else {
        await walk(child, rest, `${at}/${k}`);
      }
    }
  };
  for (const ptr of CONNECTOR_SCHEMAS[connector].secretFields) {
    await walk(config, ptr.split('/').slice(1), '');
  }
  return config;
}

/**
 * A task's spec with the secret references of its endpoint config resolved (a copy; the shipped catalog
 * keeps the references). For tasks whose code takes the config as plain values at construction, such as
 * source-http-ingest's `require_auth_token`; a connector that is not built in is returned unchanged.
 */
export async function resolveEndpointSecrets<T extends { endpoint: { connector: string; config: Json } }>(
  spec: T,
  resolver?: SecretResolver,
): Promise<T> {
  if (!(spec.endpoint.connector in CONNECTOR_SCHEMAS)) return spec;
  const config = structuredClone(spec.endpoint.config);
  if (config === null || typeof config !== 'object') return spec;
  await resolveConfigSecrets(spec.endpoint.connector as BuiltInConnector, config, resolver);
  return { ...spec, endpoint: { ...spec.endpoint, config } };
}
