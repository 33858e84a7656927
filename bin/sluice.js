#!/usr/bin/env node
// The `sluice` command. It runs Sluice's compiled JavaScript (dist/): no TypeScript is compiled at
// start. It falls back to the TypeScript sources through tsx when dist/ is missing or older than a
// source file (an edit not rebuilt yet), and always for `dev`, which may re-synthesize after an edit
// of Sluice's own sources and must then run them too. Users' derivation modules are TypeScript either
// way: they load through esbuild.
import { compiledIsCurrent, importSluice } from './compiled.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await importSluice('cli/main', process.argv[2] !== 'dev' && compiledIsCurrent());
process.exitCode = await main(process.argv);
