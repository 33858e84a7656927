/**
 * The `sluice` command line. Each subcommand lives in its own module, loaded only when used,
 * and returns the process exit code.
 */
import { Command, CommanderError } from 'commander';
import { SluiceError } from '../shared/errors.ts';

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('sluice')
    .description('Estuary-Flow-style data flows on serverless AWS')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('check')
    .description('load and validate a catalog; exit 0 when valid, 2 when invalid')
    .argument('[catalog]', 'catalog file', 'flow.yaml')
    .action(async (catalog: string) => {
      const { runCheck } = await import('./check.ts');
      code = await runCheck(catalog);
    });

  program
    .command('test')
    .description('run the catalog tests offline; exit 0 all passed, 1 a test failed, 2 catalog invalid')
    .argument('[catalog]', 'catalog file', 'flow.yaml')
    .option('--filter <substring>', 'run only tests whose name contains this')
    .action(async (catalog: string, opts: { filter?: string }) => {
      const { runTestCommand } = await import('./test.ts');
      code = await runTestCommand(catalog, opts);
    });

  program
    .command('generate')
    .description('write TypeScript types for derivations, and a stub module where none exists')
    .argument('[catalog]', 'catalog file', 'flow.yaml')
    .action(async (catalog: string) => {
      const { runGenerate } = await import('./generate.ts');
      code = await runGenerate(catalog);
    });

  program
    .command('combine')
    .description('JSON lines on stdin -> fully reduced documents in key order on stdout')
    .argument('[catalog]', 'catalog file', 'flow.yaml')
    .requiredOption('--collection <name>', 'collection whose schema and key reduce the input')
    .option('--memory <MiB>', 'memory budget before spilling sorted runs to disk', '256')
    .action(async (catalog: string, opts: { collection: string; memory: string }) => {
      // Shard workers start first, so that their start-up overlaps the loading of the rest.
      const { startWorkers, threadCount } = await import('./combine-threads.ts');
      const threads = threadCount();
      const early = threads > 1 ? startWorkers(threads) : undefined;
      const { runCombine } = await import('./combine.ts');
      code = await runCombine(catalog, opts, undefined, early);
    });

  program
    .command('dev')
    .description(
      'synthesize the catalog as cdk deploy would and run that cloud assembly on the local stack (Kinesis, DynamoDB and S3 emulators on loopback)',
    )
    .argument('[catalog]', 'catalog file', 'flow.yaml')
    .option('--port <n>', 'HTTP ingest port', '8080')
    .option('--data <dir>', 'where emulator data lives', '.sluice')
    .option('--generate <rate>', 'built-in load generator, e.g. 500/s')
    .option('--no-ui', 'plain log lines instead of the live terminal view')
    .option(
      '--assembly <dir>',
      'run this cloud assembly (npx cdk synth -c catalog=… -o DIR) instead of synthesizing the catalog',
    )
    .option('--stack <name>', 'the stack of the assembly to run (when it has several)')
    .option('--no-iam', "do not check AWS calls against the functions' roles")
    .option(
      '--on-failure <policy>',
      "stream tasks' failure policy, as `cdk deploy -c onFailure=…`: halt (default) or park, or JSON per task label",
    )
    .option(
      '--views <which>',
      'collections that keep a reduced view, as `cdk deploy -c views=…`: all (default), none, or a JSON list',
    )
    .option('--no-watch', "do not re-synthesize and restart on edits of the catalog's files")
    .option('--schedule-every <duration>', "run schedules this often instead of the template's rate, e.g. 5s")
    .option(
      '--console-port <n>',
      'web console port on 127.0.0.1 (default: the ingest port + 1, else any free port)',
    )
    .option('--no-console', 'do not serve the web console')
    .action(async (catalog: string, opts: Record<string, unknown>) => {
      const { runDev } = await import('./dev.ts');
      code = await runDev(catalog, opts);
    });

  program
    .command('read')
    .description("a collection's fully reduced documents as JSON lines in key order, from the local stack")
    .argument('<collection>', 'collection name')
    .option('--catalog <file>', 'catalog file', 'flow.yaml')
    .option('--data <dir>', 'where emulator data lives', '.sluice')
    .action(async (collection: string, opts: { catalog: string; data: string }) => {
      const { runRead } = await import('./read.ts');
      code = await runRead(collection, opts);
    });

  const where = (c: Command) =>
    c
      .option('--data <dir>', 'the local stack of this data folder', '.sluice')
      .option(
        '--assembly <dir>',
        'run this cloud assembly on the data folder instead of the one that ran there',
      )
      .option('--stack <name>', 'the deployed AWS stack (AWS credentials and region from the environment)')
      .option('--region <region>', 'region of --stack');

  where(
    program
      .command('parked')
      .description('the documents a task with the park failure policy set aside, and why')
      .argument('<task>', 'task label (derivation:acme/x) or name')
      .option('--json', 'JSON lines of the parked records, documents included'),
  ).action(async (task: string, opts: Record<string, unknown>) => {
    const { runParked } = await import('./parked.ts');
    code = await runParked(task, opts);
  });

  where(
    program
      .command('redrive')
      .description("apply a task's parked documents again, exactly once; exit 1 when some fail again")
      .argument('<task>', 'task label (derivation:acme/x) or name'),
  ).action(async (task: string, opts: Record<string, unknown>) => {
    const { runRedrive } = await import('./parked.ts');
    code = await runRedrive(task, opts);
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Sluice's own errors say where and what in their message: a user gets that, not a stack trace
    // (any other error is a bug, and its stack is what a report of it needs).
    if (err instanceof SluiceError) {
      const command = program.args[0] ?? '';
      process.stderr.write(`sluice${command ? ` ${command}` : ''}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  return code;
}
