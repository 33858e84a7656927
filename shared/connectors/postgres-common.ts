/** PostgreSQL connection settings shared by materialize-postgres and source-postgres-batch (Estuary's field names). */
import type pg from 'pg';

export interface PgConnectionConfig {
  /** `host:port` or `host` (port 5432). */
  address: string;
  user: string;
  /** Already resolved (see config.ts resolveConfigSecrets). */
  password: string;
  database: string;
  advanced?: { sslmode?: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full' };
}

export function pgClientConfig(c: PgConnectionConfig): pg.ClientConfig {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(c.address);
  const host = m?.[1]?.replace(/^\[|\]$/g, '') ?? c.address;
  const port = m?.[2] ? Number(m[2]) : 5432;
  const mode = c.advanced?.sslmode;
  const ssl =
    mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer'
      ? undefined
      : { rejectUnauthorized: mode === 'verify-ca' || mode === 'verify-full' };
  return {
    host,
    port,
    user: c.user,
    password: c.password,
    database: c.database,
    ssl,
    application_name: 'sluice',
  };
}

/** Quote an SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `"schema"."table"`. */
export function qualified(schema: string, table: string): string {
  return `${ident(schema)}.${ident(table)}`;
}
