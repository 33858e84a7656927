/**
 * A TCP proxy in front of a test PostgreSQL that can break a connection at a transaction's COMMIT, for
 * faults a real network and server produce but a test cannot time from outside:
 * - `drop-before`: the client's `COMMIT` is never forwarded and both sockets are closed; the server
 *   rolls the transaction back (the backend died mid-transaction);
 * - `drop-after`: the `COMMIT` reaches the server, which commits and answers; the answer is never
 *   forwarded and both sockets are closed (the acknowledgement was lost: the client cannot tell).
 * It reads the frontend protocol just enough to find a simple-protocol `Query` ('Q') message whose text is
 * `COMMIT` (what node-postgres sends for `client.query('COMMIT')`). Plaintext only (sslmode disable).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export type CommitFault = 'drop-before' | 'drop-after';

export interface PgFaultProxy {
  /** `127.0.0.1:<port>`: the connector's `address`. */
  address: string;
  /** Break the next `n` COMMITs (of any connection) this way. */
  arm(fault: CommitFault, n?: number): void;
  /** COMMITs broken so far. */
  readonly broken: number;
  /** COMMITs seen (forwarded or broken). */
  readonly commits: number;
  /**
   * Test hook: told of each COMMIT (its 1-based count) before it is forwarded or broken, e.g. to kill the
   * client's process while its COMMIT is in flight.
   */
  onCommit?: (n: number) => void;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export async function startPgFaultProxy(upstreamHost: string, upstreamPort: number): Promise<PgFaultProxy> {
  let fault: CommitFault | undefined;
  let remaining = 0;
  let broken = 0;
  let commits = 0;
  const sockets = new Set<Socket>();
  const api: PgFaultProxy = {
    address: '',
    arm(f, n = 1) {
      fault = f;
      remaining = n;
    },
    get broken() {
      return broken;
    },
    get commits() {
      return commits;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const server: Server = createServer((client) => {
    const upstream = tcpConnect(upstreamPort, upstreamHost);
    sockets.add(client);
    sockets.add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on('error', kill);
    upstream.on('error', kill);

    // Server → client: forwarded, unless a forwarded COMMIT's answer is to be lost.
    let loseAnswer = false;
    upstream.on('data', (chunk: Buffer) => {
      if (loseAnswer) {
        kill();
        return;
      }
      client.write(chunk);
    });

    // Client → server: split into messages; the first one(s) carry no type byte.
    let buf = Buffer.alloc(0);
    let untyped = true;
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (untyped) {
          if (buf.length < 8) return;
          const len = buf.readInt32BE(0);
          if (buf.length < len) return;
          const code = buf.readInt32BE(4);
          upstream.write(buf.subarray(0, len));
          buf = buf.subarray(len);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) untyped = false;
          continue;
        }
        if (buf.length < 5) return;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) return;
        const msg = buf.subarray(0, 1 + len);
        buf = buf.subarray(1 + len);
        const isCommit =
          msg[0] === 0x51 /* 'Q' */ &&
          msg
            .subarray(5, msg.length - 1)
            .toString('utf8')
            .trim()
            .toUpperCase() === 'COMMIT';
        if (isCommit) {
          commits++;
          api.onCommit?.(commits);
          if (fault && remaining > 0) {
            remaining--;
            broken++;
            if (fault === 'drop-before') {
              kill();
              return;
            }
            loseAnswer = true;
          }
        }
        upstream.write(msg);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  api.address = `127.0.0.1:${port}`;
  return api;
}
