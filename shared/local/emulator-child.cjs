// Hosts kinesalite or dynalite in its own process, so the emulators' request handling runs on another
// core than the runner's (function proxies, mappings, Function URLs): on the 2-core machine one
// process serving all three was what the local stack waited for.
// argv: <kinesalite|dynalite> <port> <options JSON>. Prints {"port": N} on stdout once listening;
// exits when stdin closes (after closing the server, so a LevelDB data directory is flushed).
const [name, port, options] = process.argv.slice(2);
if (name !== 'kinesalite' && name !== 'dynalite') {
  process.stderr.write(`emulator-child: unknown emulator ${name}\n`);
  process.exit(2);
}
const server = require(name)(JSON.parse(options));
server.once('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
// The runner stops this process (stdin closes) after the last in-flight batch is checkpointed. A terminal's
// Ctrl-C, a closed terminal or `timeout` signal the whole process group, this process too: dying on the
// signal would fail those batches under the runner's clean stop, so the signal is left to the runner.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
