// The process a Lambda function runs in locally (one per warm instance), started by sandbox/function.ts
// with cwd = the asset folder and the function's environment only. It restricts module resolution to
// what Lambda's Node.js runtime offers (loader.mjs for ESM, Module._resolveFilename for require), runs
// the init phase (importing the handler module), then serves invocations over IPC one at a time.
import Module, { createRequire, isBuiltin, register } from 'node:module';
import { dirname, join, resolve as resolvePath, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

// A terminal's Ctrl-C (or a closed terminal, or `timeout`) signals the whole process group: the runner
// then finishes the in-flight invocations and stops each instance itself; an instance killed by the signal
// would fail its batch under that clean stop. Lambda never sends these either. The instance still ends
// when the runner does: its IPC channel closes (below).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
// The runner gone (killed, crashed, its test worker ended): no one will read this instance's answers, so it
// ends now, even in the middle of an invocation whose timers or sockets would keep it alive for good
// (Lambda, likewise, discards a sandbox whose runtime is gone).
process.on('disconnect', () => process.exit(0));

const [handlerSpec, sdkParentFile] = process.argv.slice(2);
const taskRoot = process.env.LAMBDA_TASK_ROOT;
const taskRootUrl = pathToFileURL(taskRoot + sep).href;
const sdkParentUrl = pathToFileURL(sdkParentFile).href;
const sdkRoot = join(dirname(sdkParentFile), 'node_modules', '@aws-sdk') + sep;
register('./loader.mjs', import.meta.url, {
  data: { taskRootUrl, sdkParentUrl, sdkRootUrl: pathToFileURL(sdkRoot).href },
});

// require() from inside the bundle (esbuild's createRequire banner) follows the same rule.
const sdkRequire = createRequire(sdkParentFile);
const originalResolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const from = parent?.filename ?? '';
  if (
    from.startsWith(taskRoot + sep) &&
    !isBuiltin(request) &&
    !request.startsWith('.') &&
    !request.startsWith('/')
  ) {
    if (request.startsWith('@aws-sdk/')) return sdkRequire.resolve(request);
    const e = new Error(
      `Cannot find module '${request}' required from ${from} (Lambda's Node.js runtime provides only the AWS SDK v3 besides the function's own files)`,
    );
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  return originalResolve.call(this, request, parent, ...rest);
};

const errorOf = (e) => ({
  errorType: e?.name ?? 'Error',
  errorMessage: e?.message ?? String(e),
  stack: typeof e?.stack === 'string' ? e.stack.split('\n').slice(0, 12) : [],
});

const dot = handlerSpec.lastIndexOf('.');
const file = handlerSpec.slice(0, dot);
const exportName = handlerSpec.slice(dot + 1);
let handler;
try {
  const base = resolvePath(taskRoot, file);
  const { existsSync } = await import('node:fs');
  const path = ['.mjs', '.js', '.cjs'].map((x) => base + x).find((p) => existsSync(p));
  if (!path)
    throw Object.assign(new Error(`Cannot find module '${file}' in ${taskRoot}`), {
      name: 'Runtime.ImportModuleError',
    });
  const mod = await import(pathToFileURL(path).href);
  handler = mod[exportName];
  if (typeof handler !== 'function')
    throw Object.assign(new Error(`${file}.${exportName} is undefined or not exported`), {
      name: 'Runtime.HandlerNotFound',
    });
} catch (e) {
  process.send({ type: 'init-error', error: errorOf(e) }, () => process.exit(1));
  await new Promise(() => {});
}
process.send({ type: 'ready' });

process.on('message', async (m) => {
  if (m.type !== 'invoke') return;
  const context = {
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: m.functionArn,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: m.requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, m.deadline - Date.now()),
  };
  try {
    const result = await (handler.length >= 3
      ? new Promise((ok, fail) => {
          const r = handler(m.event, context, (err, res) => (err ? fail(err) : ok(res)));
          if (r && typeof r.then === 'function') r.then(ok, fail);
        })
      : handler(m.event, context));
    process.send({ type: 'result', id: m.id, result: result === undefined ? null : result });
  } catch (e) {
    process.send({ type: 'error', id: m.id, error: errorOf(e) });
  }
});
