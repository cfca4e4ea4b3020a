#!/usr/bin/env node
// Summarizes a V8 .cpuprofile (node --cpu-prof): where the main thread's time
// went, by package (self time) and by function (self and inclusive time).
//
//   node benchmarks/profile-summary.mjs FILE.cpuprofile [--top 25]

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { table } from './lib.mjs';

/** Groups a script URL: a package under node_modules, a tapwatch workspace, node internals. */
function packageOf(url, functionName) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const ws = /\/(schema|collector|analyzer|dashboard-api)\/dist\//.exec(url);
  if (ws) return `@tapwatch/${ws[1]}`;
  if (url.startsWith('node:')) return 'node: core modules';
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(file, { top = 25 } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    const short = f.url ? f.url.replace(/^.*\/(node_modules\/)?/, '') : '';
    const name = f.functionName || '(anonymous)';
    const k = `${name.length > 60 ? `${name.slice(0, 57)}…` : name} ${short ? `${short}:${f.lineNumber + 1}` : ''}`.trim();
    return k;
  };

  const self = new Map();
  const inclusive = new Map();
  const pkgSelf = new Map();
  let total = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the next delta to sample i.
    const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000; // ms
    const node = byId.get(samples[i]);
    if (!node) continue;
    total += dt;
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const pkg = packageOf(node.callFrame.url, node.callFrame.functionName);
    pkgSelf.set(pkg, (pkgSelf.get(pkg) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const kk = key(byId.get(id));
      if (seen.has(kk)) continue;
      seen.add(kk);
      inclusive.set(kk, (inclusive.get(kk) ?? 0) + dt);
    }
  }
  const idle = (self.get('(idle)') ?? 0) + 0;
  const busy = total - idle;
  const pct = (ms, of) => `${((100 * ms) / of).toFixed(1)} %`;
  const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);

  const out = [];
  out.push(`profile: ${(total / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s busy (not idle) on the main thread; percentages are of busy time\n`);
  out.push('Self time by package\n');
  out.push(
    table(
      ['package', 'self ms', 'share'],
      sorted(pkgSelf)
        .filter(([k]) => k !== '(idle)')
        .slice(0, top)
        .map(([k, v]) => [k, v.toFixed(0), pct(v, busy)]),
    ),
  );
  out.push('\nTop functions by self time\n');
  out.push(
    table(
      ['function', 'self ms', 'share'],
      sorted(self)
        .filter(([k]) => k !== '(idle)')
        .slice(0, top)
        .map(([k, v]) => [k, v.toFixed(0), pct(v, busy)]),
    ),
  );
  out.push('\nTop functions by inclusive time (self + callees)\n');
  out.push(
    table(
      ['function', 'inclusive ms', 'share'],
      sorted(inclusive)
        .filter(([k]) => !['(root)', '(idle)', '(program)'].includes(k))
        .slice(0, top)
        .map(([k, v]) => [k, v.toFixed(0), pct(v, busy)]),
    ),
  );
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, flag, value] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node benchmarks/profile-summary.mjs FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  console.log(summarizeProfile(file, { top: flag === '--top' ? Number(value) : 25 }));
}
