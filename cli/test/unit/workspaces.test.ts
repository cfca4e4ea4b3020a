/**
 * The package shape: workspaces depend on each other in one direction (the
 * data flow: schema → bus → collector; store → analyzer → dashboard-api → cli),
 * each source file imports only packages its package.json declares, and the
 * collector installs without the server side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}
const manifests = new Map<string, Manifest & { dir: string }>();
for (const dir of root.workspaces) {
  const m = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
  manifests.set(m.name, { ...m, dir });
}
const own = (m: Manifest): string[] => Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies }).filter((d) => manifests.has(d));

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (e.endsWith('.ts')) out.push(p);
  }
  return out;
}

test('workspace packages depend on each other without a cycle', () => {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    assert.notEqual(state.get(name), 'visiting', `package cycle: ${[...path, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const d of own(manifests.get(name)!)) visit(d, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of manifests.keys()) visit(name, []);
  assert.equal(state.size, manifests.size);
});

test('the collector installs without the server side: none of its dependencies is a server package', () => {
  const closure = new Set<string>();
  const walk = (name: string): void => {
    for (const d of own(manifests.get(name)!)) {
      if (closure.has(d)) continue;
      closure.add(d);
      walk(d);
    }
  };
  walk('@tapwatch/collector');
  assert.deepEqual([...closure].sort(), ['@tapwatch/bus', '@tapwatch/schema']);
  const external = Object.keys({ ...manifests.get('@tapwatch/collector')!.dependencies, ...manifests.get('@tapwatch/bus')!.dependencies }).filter(
    (d) => !manifests.has(d),
  );
  assert.deepEqual(external.sort(), ['kafkajs'], 'a tap pulls kafkajs (and zod through the schema) only');
});

test("every package a source file imports is declared in its workspace's package.json", () => {
  const problems: string[] = [];
  for (const m of manifests.values()) {
    const declared = new Set(Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies }));
    for (const file of sources(join(ROOT, m.dir, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*)'([^'.][^']*)'/g)) {
        const spec = match[1]!;
        if (spec.startsWith('node:')) continue;
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!declared.has(pkg) && pkg !== m.name) problems.push(`${file.slice(ROOT.length)} imports ${pkg}, which ${m.dir}/package.json does not declare`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('the README map names every workspace', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const map = readme.slice(readme.indexOf('## Where things are'));
  assert.ok(map.length > 0 && readme.includes('## Where things are'), 'README has a "Where things are" section');
  for (const dir of root.workspaces) assert.ok(map.includes(`\`${dir}/\``), `README's map names ${dir}/`);
});
