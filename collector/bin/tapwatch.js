#!/usr/bin/env node
// Thin launcher so the `tapwatch` bin exists before the TypeScript build has run.
import('../dist/cli.js').catch((err) => {
  process.stderr.write(`tapwatch: cannot start (${err.message}). Run \`npm run build\` in the tapwatch checkout.\n`);
  process.exit(1);
});
