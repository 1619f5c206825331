#!/usr/bin/env node
// The `flywheel` command: runs the compiled CLI (`npm run build`, done by `npm install` through `prepare`).
import('../dist/cli/main.js').catch((e) => {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/cli/main.js')) {
    console.error('flywheel: the CLI is not built yet. Run `npm run build` in the package directory.');
    process.exit(1);
  }
  throw e;
});
