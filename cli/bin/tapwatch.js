#!/usr/bin/env node
// Thin launcher so the `tapwatch` bin exists before the TypeScript build has run.
// For `tap`, the lean heap settings come first: loading the tap's modules would
// otherwise already grow V8's young generation to 8 MB (see collector/src/tap/lean-heap.ts).
const lean = process.argv[2] === 'tap' ? import('@tapwatch/collector/lean-heap').then((m) => m.applyLeanHeap()) : Promise.resolve();
lean
  .then(() => import('../dist/main.js'))
  .catch((err) => {
    process.stderr.write(`tapwatch: cannot start (${err.message}). Run \`npm run build\` in the tapwatch checkout.\n`);
    process.exit(1);
  });
