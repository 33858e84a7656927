/** PostgreSQL connection settings shared by materialize-postgres and source-postgres-batch (Estuary's field names). */
import pg from 'pg';
import { EndpointError } from './errors.ts';

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

/**
 * A connected client. `onBroken` runs when the connection breaks later (server restart, terminated
 * backend), so its owner drops it and reconnects on next use. Failing to connect is an EndpointError.
 */
export async function connectPg(
  config: PgConnectionConfig,
  onBroken: (c: pg.Client) => void,
): Promise<pg.Client> {
  const c = new pg.Client(pgClientConfig(config));
  c.on('error', () => onBroken(c));
  try {
    await c.connect();
  } catch (err) {
    throw new EndpointError('PostgresConnect', config.address, (err as Error).message);
  }
  return c;
}
