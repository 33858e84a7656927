/**
 * PostgreSQL connection settings shared by materialize-postgres and source-postgres-batch (Estuary's field
 * names), with TLS as libpq means its `sslmode`s, except the default:
 * - `verify-full` (the default): TLS, the server certificate must chain to a trusted CA and name the host;
 * - `verify-ca`: TLS, trusted chain, any host name;
 * - `require`: TLS without verification (libpq: verifies the chain when a root certificate is given,
 *   and so does this);
 * - `prefer`: attempts TLS (unverified), falls back to plaintext only when the server has no TLS;
 * - `allow`, `disable`: plaintext (only when asked; synth warns, infra/sluice-catalog.ts).
 * `advanced.sslrootcert`: the CA bundle (PEM) to trust instead of Node's default CAs, as a file path or
 * as the PEM text itself (a `secretsmanager:`/`ssm:` reference resolves to it). For Amazon RDS use the
 * RDS bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem), see docs/security.md.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { EndpointError } from './errors.ts';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** Used when a config gives no `advanced.sslmode`. */
export const DEFAULT_SSLMODE: SslMode = 'verify-full';

export interface PgConnectionConfig {
  /** `host:port` or `host` (port 5432). */
  address: string;
  user: string;
  /** Already resolved (see config.ts resolveConfigSecrets). */
  password: string;
  database: string;
  advanced?: { sslmode?: SslMode; sslrootcert?: string };
}

/** The CA bundle of `sslrootcert`: PEM text as is, otherwise the file it names. */
function rootCert(c: PgConnectionConfig): string | undefined {
  const v = c.advanced?.sslrootcert;
  if (v === undefined || v === '') return undefined;
  if (v.includes('-----BEGIN')) return v;
  try {
    return readFileSync(v, 'utf8');
  } catch (e) {
    throw new EndpointError(
      'PostgresTlsConfig',
      c.address,
      `advanced.sslrootcert: cannot read ${v} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a PEM file path or a secret reference holding the PEM`,
    );
  }
}

/** The `ssl` option of node-postgres for a config's sslmode; false: plaintext. */
export function pgSsl(c: PgConnectionConfig): ConnectionOptions | false {
  const mode = c.advanced?.sslmode ?? DEFAULT_SSLMODE;
  if (mode === 'disable' || mode === 'allow') return false;
  const ca = rootCert(c);
  const verifyChain =
    mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && ca !== undefined);
  if (!verifyChain) return { rejectUnauthorized: false };
  return {
    rejectUnauthorized: true,
    ...(ca !== undefined ? { ca } : {}),
    // verify-ca trusts the chain whatever host name the certificate gives.
    ...(mode === 'verify-full' ? {} : { checkServerIdentity: () => undefined }),
  };
}

export function pgClientConfig(c: PgConnectionConfig): pg.ClientConfig {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(c.address);
  const host = m?.[1]?.replace(/^\[|\]$/g, '') ?? c.address;
  const port = m?.[2] ? Number(m[2]) : 5432;
  return {
    host,
    port,
    user: c.user,
    password: c.password,
    database: c.database,
    ssl: pgSsl(c),
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
  const settings = pgClientConfig(config);
  const attempt = async (cfg: pg.ClientConfig): Promise<pg.Client> => {
    const c = new pg.Client(cfg);
    c.on('error', () => onBroken(c));
    await c.connect();
    return c;
  };
  try {
    return await attempt(settings);
  } catch (err) {
    // prefer: plaintext only when the server has no TLS at all (not on a failed handshake or login).
    const noTls = /does not support SSL/i.test((err as Error).message);
    if ((config.advanced?.sslmode ?? DEFAULT_SSLMODE) === 'prefer' && noTls) {
      try {
        return await attempt({ ...settings, ssl: false });
      } catch (e) {
        throw new EndpointError('PostgresConnect', config.address, (e as Error).message);
      }
    }
    const mode = config.advanced?.sslmode ?? DEFAULT_SSLMODE;
    throw new EndpointError('PostgresConnect', config.address, `${(err as Error).message} (sslmode ${mode})`);
  }
}
