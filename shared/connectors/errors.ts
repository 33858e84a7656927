/** Errors raised by the built-in connectors: each has a stable code, a location and the values involved. */
import { valuesInErrors } from '../config/debug-values.ts';
import { SluiceError } from '../errors.ts';

export interface ConfigIssue {
  /** JSON pointer inside the connector config (or binding resource) that is wrong. */
  pointer: string;
  /** What is wrong, and what is allowed. */
  message: string;
}

/** A connector config or binding resource failed validation. `where` is e.g. `acme/pg/endpoint/config`. */
export class ConnectorConfigError extends SluiceError {
  readonly code = 'InvalidConnectorConfig';
  constructor(
    readonly connector: string,
    readonly where: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      `${connector}: invalid ${where}:\n${issues.map((i) => `  at ${i.pointer || '/'}: ${i.message}`).join('\n')}`,
    );
    this.name = 'ConnectorConfigError';
  }
}

/** A secret reference (`${NAME}`, `env:NAME`, …) could not be resolved. The secret's value is never included. */
export class SecretError extends SluiceError {
  readonly code = 'SecretUnresolved';
  constructor(
    readonly pointer: string,
    readonly ref: string,
    detail: string,
  ) {
    super(`secret at ${pointer} (${ref}): ${detail}`);
    this.name = 'SecretError';
  }
}

/** A source document could not be parsed: names the file (object key), 1-based line and the offending text. */
export class SourceParseError extends SluiceError {
  readonly code = 'SourceParse';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
    readonly text: string,
  ) {
    // The record's text only when asked for (config/debug-values.ts): it is document data.
    super(
      valuesInErrors()
        ? `${file}:${line}: ${detail}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`
        : `${file}:${line}: ${detail}`,
    );
    this.name = 'SourceParseError';
  }
}

/**
 * An object source-s3 will not parse whole: over the per-object size, the decompressed-size cap, or a
 * line over the line-length cap. Names the bucket, the key and the reason (which limit, and how to raise
 * it); the capture fails on it like on any bad object (its failure policy applies), never the process.
 */
export class ObjectLimitError extends SluiceError {
  readonly code = 'ObjectTooLarge';
  constructor(
    readonly bucket: string | undefined,
    readonly key: string,
    readonly reason: string,
  ) {
    super(`s3://${bucket ?? '?'}/${key}: ${reason}`);
    this.name = 'ObjectLimitError';
  }
}

/** A destination rejected a request in a way that retrying will not fix (e.g. HTTP 4xx from a webhook). */
export class EndpointError extends SluiceError {
  readonly code: string;
  constructor(
    code: string,
    readonly endpoint: string,
    detail: string,
    readonly status?: number,
  ) {
    super(`${endpoint}: ${detail}`);
    this.code = code;
    this.name = 'EndpointError';
  }
}

/** A field of the collection could not be mapped to the destination. */
export class FieldMappingError extends SluiceError {
  readonly code = 'FieldMapping';
  constructor(
    readonly collection: string,
    readonly field: string,
    detail: string,
  ) {
    super(`collection ${collection}, field ${field}: ${detail}`);
    this.name = 'FieldMappingError';
  }
}
