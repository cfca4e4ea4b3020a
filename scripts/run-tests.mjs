#!/usr/bin/env node
/**
 * Runs the test suites with Node's test runner (TypeScript through tsx):
 *   node scripts/run-tests.mjs           all: unit, integration, e2e
 *   node scripts/run-tests.mjs unit      unit tests only (nothing running needed)
 * Files run one at a time: the e2e suites start brokers and engines of their own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const which = process.argv[2] ?? 'all';

function find(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const unit = ['schema', 'bus', 'collector', 'store', 'analyzer', 'dashboard-api', 'cli'].flatMap((w) => find(join(root, w, 'test', 'unit')));
const integration = find(join(root, 'test', 'integration'));
const e2e = find(join(root, 'test', 'e2e'));
const files = which === 'unit' ? unit : which === 'integration' ? integration : which === 'e2e' ? e2e : [...unit, ...integration, ...e2e];
if (files.length === 0) {
  console.error(`no test files found for '${which}'`);
  process.exit(1);
}
console.log(`running ${files.length} test files: ${files.map((f) => relative(root, f)).join(', ')}`);
// Taps spool what their sink cannot take and a later tap delivers it: tests get a spool of
// their own, so events of one test (or of the user's own taps) never reach another's sink.
const spoolDir = mkdtempSync(join(tmpdir(), 'tapwatch-test-spool-'));
// Local tokens (`tapwatch up` without TAPWATCH_TOKEN) of the run: every service, tap and CLI the tests start
// find the same ones, and the user's own are never read or replaced.
const credentialsDir = mkdtempSync(join(tmpdir(), 'tapwatch-test-credentials-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TAPWATCH_SPOOL_DIR: spoolDir, TAPWATCH_CREDENTIALS_DIR: join(credentialsDir, 'credentials') },
});
rmSync(spoolDir, { recursive: true, force: true });
rmSync(credentialsDir, { recursive: true, force: true });
process.exit(r.status ?? 1);
