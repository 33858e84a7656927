#!/usr/bin/env node
// The `sluice` command. TypeScript sources (ours and the user's derivation modules) load through tsx.
import { register } from 'tsx/esm/api';

register();
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
