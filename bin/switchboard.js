#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build` (run on install from git by `prepare`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err?.message ?? err); process.exitCode = 1; },
);
