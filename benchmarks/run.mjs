#!/usr/bin/env node
// Runs every benchmark in sequence (`npm run bench` builds first).
//
//   node benchmarks/run.mjs [--quick] [--out DIR]
//
// --quick   small sizes (a smoke run of the benchmarks themselves; the figures mean little)
// --out DIR also write each benchmark's JSON summary and text output to DIR

import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outIdx = args.indexOf('--out');
const out = outIdx >= 0 ? args[outIdx + 1] : undefined;
if (outIdx >= 0 && !out) {
  console.error('--out needs a directory');
  process.exit(2);
}
if (out) mkdirSync(out, { recursive: true });

const benches = [
  ['tap-rtt', quick ? ['--calls', '300', '--warmup', '50', '--startups', '3'] : []],
  ['proxy-rtt', quick ? ['--calls', '300', '--warmup', '50', '--load-s', '3', '--concurrency', '8'] : []],
  ['analyzer-throughput', quick ? ['--events', '20k'] : []],
];

let current;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // The benchmark cleans up after itself on SIGTERM; wait for it to exit.
    current?.kill('SIGTERM');
  });
}

let failed = 0;
for (const [name, extra] of benches) {
  const file = path.join(here, `${name}.mjs`);
  const argv = [file, ...extra, ...(out ? ['--json', path.join(out, `${name}.json`)] : [])];
  console.log(`\n=== ${name} ===\n`);
  const code = await new Promise((resolve) => {
    current = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    const log = out ? createWriteStream(path.join(out, `${name}.txt`)) : undefined;
    current.stdout.on('data', (d) => {
      process.stdout.write(d);
      log?.write(d);
    });
    current.once('exit', (c, s) => {
      log?.end();
      resolve(c ?? (s ? 128 : 1));
    });
  });
  current = undefined;
  if (code !== 0) {
    console.error(`${name} failed (exit ${code})`);
    failed++;
  }
}
process.exitCode = failed ? 1 : 0;
