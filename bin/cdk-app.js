#!/usr/bin/env node
// The CDK app as `cdk.json` and `sluice dev` run it: infra/app.ts, compiled (dist/infra/app.js) when
// dist/ is current, else through tsx. Loading the app's TypeScript through tsx cost ≈ 2.5 s of every
// synth; `npx tsx` another ≈ 0.8 s.
import { importSluice } from './compiled.js';

await importSluice('infra/app');
