#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
// `flywheel server` keeps running after its action returns; everything else ends here.
if (code !== 0) process.exit(code);
