// Hosts s3rver in its own process: s3rver needs Node's --openssl-legacy-provider (list paging and
// buckets over 1,000 keys fail with 500 otherwise), which must not leak into the runner's process.
// argv: <directory> <port>. Prints {"port": N} on stdout once listening, then one {"event": …} line per
// S3 event notification record (object created / removed), which the local stack turns into EventBridge
// "Object Created" events; exits when stdin closes.
const S3rver = require('s3rver');
const [directory, port] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: Number(port), directory, silent: true });
server.on('event', (e) => {
  for (const record of e.Records ?? []) process.stdout.write(`${JSON.stringify({ event: record })}\n`);
});
server.run().then(
  (addr) => process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`),
  (err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
process.stdin.on('end', () => server.close().finally(() => process.exit(0)));
process.stdin.resume();
// Signals to the process group are the runner's to act on (see emulator-child.cjs).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
