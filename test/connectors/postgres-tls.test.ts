/**
 * TLS to PostgreSQL (issue 10, item 3), against real servers: one with TLS (a certificate signed by a test
 * CA, for 127.0.0.1) and one without. What the server saw is read back from pg_stat_ssl.
 */
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointError } from '../../shared/connectors/errors.ts';
import { connectPg, type PgConnectionConfig, pgSsl } from '../../shared/connectors/postgres-common.ts';
import { fixtureCatalog } from '../infra/fixture.ts';
import { synth } from '../infra/support.ts';
import { type PgServer, startPostgres } from '../support/postgres.ts';

let tls: PgServer;
let plain: PgServer;
beforeAll(async () => {
  [tls, plain] = await Promise.all([startPostgres({ tls: true }), startPostgres()]);
}, 120_000);
afterAll(async () => {
  await tls?.stop();
  await plain?.stop();
});

const cfg = (s: PgServer, advanced?: PgConnectionConfig['advanced']): PgConnectionConfig => ({
  address: s.address,
  user: s.user,
  password: s.password,
  database: s.database,
  ...(advanced ? { advanced } : {}),
});

/** Whether the server sees this connection as TLS. */
async function encrypted(c: pg.Client): Promise<boolean> {
  try {
    const r = await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return r.rows[0].ssl;
  } finally {
    await c.end();
  }
}

const noop = () => {};

describe('sslmode', () => {
  it('the default is verify-full: a server whose CA is not trusted is refused, naming the mode', async () => {
    const err = (await connectPg(cfg(tls), noop).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.message).toMatch(/self-signed|unable to get local issuer|certificate/i);
    expect(err.message).toContain('(sslmode verify-full)');
  });

  it('verify-full with sslrootcert (a file path, or the PEM text a secret reference resolves to) connects over TLS', async () => {
    expect(await encrypted(await connectPg(cfg(tls, { sslrootcert: tls.advanced.sslrootcert }), noop))).toBe(
      true,
    );
    expect(
      await encrypted(await connectPg(cfg(tls, { sslmode: 'verify-full', sslrootcert: tls.ca }), noop)),
    ).toBe(true);
  });

  it('verify-full checks the host name; verify-ca only the chain', () => {
    const full = pgSsl(cfg(tls, { sslmode: 'verify-full', sslrootcert: tls.ca }));
    const ca = pgSsl(cfg(tls, { sslmode: 'verify-ca', sslrootcert: tls.ca }));
    expect(full).toMatchObject({ rejectUnauthorized: true, ca: tls.ca });
    expect(full && 'checkServerIdentity' in full).toBe(false);
    expect(ca).toMatchObject({ rejectUnauthorized: true, ca: tls.ca });
    if (ca === false || !ca.checkServerIdentity) throw new Error('verify-ca must skip the host name check');
    expect(ca.checkServerIdentity('wrong.example', {} as never)).toBeUndefined();
  });

  it('require encrypts without verifying (verifies the chain once a root certificate is given)', async () => {
    expect(await encrypted(await connectPg(cfg(tls, { sslmode: 'require' }), noop))).toBe(true);
    expect(pgSsl(cfg(tls, { sslmode: 'require' }))).toEqual({ rejectUnauthorized: false });
    expect(pgSsl(cfg(tls, { sslmode: 'require', sslrootcert: tls.ca }))).toMatchObject({
      rejectUnauthorized: true,
    });
  });

  it('prefer attempts TLS, and falls back to plaintext only against a server without TLS', async () => {
    expect(await encrypted(await connectPg(cfg(tls, { sslmode: 'prefer' }), noop))).toBe(true);
    expect(await encrypted(await connectPg(cfg(plain, { sslmode: 'prefer' }), noop))).toBe(false);
  });

  it('disable is plaintext, only when asked', async () => {
    expect(await encrypted(await connectPg(cfg(tls, { sslmode: 'disable' }), noop))).toBe(false);
    const err = (await connectPg(cfg(plain), noop).catch((e: unknown) => e)) as EndpointError;
    expect(err).toBeInstanceOf(EndpointError);
    expect(err.message).toMatch(/does not support SSL/);
  });

  it('an unreadable sslrootcert names the field and what is allowed', () => {
    expect(() => pgSsl(cfg(tls, { sslrootcert: '/nonexistent/ca.pem' }))).toThrow(
      /advanced\.sslrootcert: cannot read \/nonexistent\/ca\.pem \(ENOENT\); give a PEM file path or a secret reference/,
    );
  });
});

describe('synth', () => {
  it('warns about a plaintext PostgreSQL endpoint (sslmode disable), not about the default', () => {
    const cat = fixtureCatalog();
    const quiet = synth(cat);
    Annotations.fromStack(quiet.stack).hasNoWarning('*', Match.stringLikeRegexp('sslmode'));
    const pg = cat.captures['acme/pg'].endpoint;
    pg.config = { ...(pg.config as object), advanced: { sslmode: 'disable' } };
    const { stack } = synth(cat);
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp(
        'capture acme/pg .*/advanced/sslmode: disable sends credentials and rows in plaintext',
      ),
    );
  });
});
