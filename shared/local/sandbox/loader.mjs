// ESM resolve hook of the Lambda sandbox (registered by bootstrap.mjs): code inside the function's
// asset folder may import only Node built-ins, files of its own folder, and the AWS SDK v3, which
// Lambda's Node.js runtime provides. Anything else fails as it would on AWS (ERR_MODULE_NOT_FOUND), so
// a bundle that leans on the project's node_modules is caught here, not after deploy.
import { isBuiltin } from 'node:module';
import { fileURLToPath } from 'node:url';

let taskRoot = '';
let sdkParent = '';
let sdkRoot = '';

export async function initialize(data) {
  taskRoot = data.taskRootUrl;
  sdkParent = data.sdkParentUrl;
  sdkRoot = data.sdkRootUrl;
}

const isBare = (s) => !s.startsWith('.') && !s.startsWith('/') && !/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(s);

function notFound(specifier, parentURL) {
  const e = new Error(
    `Cannot find package '${specifier}' imported from ${fileURLToPath(parentURL)} (Lambda's Node.js runtime provides only the AWS SDK v3 besides the function's own files)`,
  );
  e.code = 'ERR_MODULE_NOT_FOUND';
  return e;
}

export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (!parent?.startsWith(taskRoot)) return next(specifier, context);
  if (isBare(specifier) && !isBuiltin(specifier)) {
    if (specifier.startsWith('@aws-sdk/')) return next(specifier, { ...context, parentURL: sdkParent });
    throw notFound(specifier, parent);
  }
  const r = await next(specifier, context);
  if (r.url.startsWith('file:') && !r.url.startsWith(taskRoot) && !r.url.startsWith(sdkRoot))
    throw notFound(specifier, parent);
  return r;
}
