#!/usr/bin/env node
/**
 * Captures a real MCP server's definitions by running it: starts the server
 * (stdio), connects the official TypeScript SDK client, and writes what the
 * server itself answered to `initialize`, `tools/list`, `prompts/list`,
 * `resources/list` and `resources/templates/list` (each page followed) into
 * a fixture under test/fixtures/real-servers/, with where the server came
 * from and how it was captured. Nothing is edited by hand: a fixture is the
 * server's own words on the day it was captured.
 *
 *   node scripts/capture-server.mjs --slug playwright --registry npm \
 *     --package @playwright/mcp --version 0.0.41 -- npx -y @playwright/mcp@0.0.41 --headless
 *
 * Options: --slug (file name), --registry npm|pypi|go, --package, --version,
 * --licence (the package's licence, for the fixture's provenance),
 * --env NAME=VALUE (repeatable; placeholder credentials some servers need to
 * start, never real ones), --timeout-ms (default 60000).
 */
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test', 'fixtures', 'real-servers');

const dash = process.argv.indexOf('--');
if (dash < 0 || dash === process.argv.length - 1) {
  console.error('usage: node scripts/capture-server.mjs --slug S --registry npm|pypi|go --package P --version V [--licence L] [--env K=V] -- COMMAND ARGS…');
  process.exit(2);
}
const { values } = parseArgs({
  args: process.argv.slice(2, dash),
  options: {
    slug: { type: 'string' },
    registry: { type: 'string' },
    package: { type: 'string' },
    version: { type: 'string' },
    licence: { type: 'string' },
    env: { type: 'string', multiple: true },
    'timeout-ms': { type: 'string' },
  },
});
const [command, ...args] = process.argv.slice(dash + 1);
for (const k of ['slug', 'registry', 'package', 'version']) {
  if (!values[k]) {
    console.error(`--${k} is required`);
    process.exit(2);
  }
}
if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(values.slug)) {
  console.error('--slug: lower-case letters, digits and dashes');
  process.exit(2);
}
const extraEnv = Object.fromEntries((values.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const timeoutMs = Number(values['timeout-ms'] ?? 60_000);
const sdkVersion = JSON.parse(readFileSync(join(ROOT, 'node_modules', '@modelcontextprotocol', 'sdk', 'package.json'), 'utf8')).version;

const transport = new StdioClientTransport({ command, args, env: { ...process.env, ...extraEnv }, stderr: 'pipe' });
let stderr = '';
transport.stderr?.on('data', (d) => (stderr += d.toString()));
const client = new Client({ name: 'tapwatch-capture', version: '1.0.0' });
const timer = setTimeout(() => {
  console.error(`no answer within ${timeoutMs} ms; server stderr:\n${stderr.slice(-3000)}`);
  process.exit(1);
}, timeoutMs);

/** Every page of a list, or `{ error }` when the server fails it. */
async function all(list, key) {
  const items = [];
  let cursor;
  try {
    do {
      const page = await list(cursor ? { cursor } : undefined);
      items.push(...(page[key] ?? []));
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) {
    return { error: String(err.message ?? err).slice(0, 300) };
  }
  return items;
}

try {
  await client.connect(transport);
  const caps = client.getServerCapabilities() ?? {};
  const fixture = {
    server: {
      registry: values.registry,
      package: values.package,
      version: values.version,
      licence: values.licence ?? 'see the package',
      command: [command, ...args],
    },
    captured: {
      at: new Date().toISOString(),
      how: 'scripts/capture-server.mjs: the server was started over stdio and asked by the MCP TypeScript SDK client; answers stored as received',
      client: `@modelcontextprotocol/sdk ${sdkVersion}`,
      env: Object.keys(extraEnv),
    },
    initialize: { serverInfo: client.getServerVersion(), capabilities: caps, instructions: client.getInstructions?.() },
    tools: caps.tools ? await all((p) => client.listTools(p), 'tools') : [],
    prompts: caps.prompts ? await all((p) => client.listPrompts(p), 'prompts') : [],
    resources: caps.resources ? await all((p) => client.listResources(p), 'resources') : [],
    resourceTemplates: caps.resources ? await all((p) => client.listResourceTemplates(p), 'resourceTemplates') : [],
  };
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${values.slug}.json`);
  writeFileSync(file, JSON.stringify(fixture, null, 2) + '\n');
  const n = (x) => (Array.isArray(x) ? x.length : 'error');
  console.log(
    `${file}: ${n(fixture.tools)} tools, ${n(fixture.prompts)} prompts, ${n(fixture.resources)} resources, ${n(fixture.resourceTemplates)} templates`,
  );
} catch (err) {
  console.error(`capture failed: ${err.message}\nserver stderr:\n${stderr.slice(-3000)}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await client.close().catch(() => undefined);
}
