/**
 * End to end on the embedded default: a real `tapwatch up` process (in-process
 * bus, embedded ClickHouse engine), real MCP servers from npm behind real
 * `tapwatch tap` processes, driven by the real SDK client; results read back
 * through /v1/sql and the WebSocket alert stream.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EVERYTHING,
  EVERYTHING_2025,
  FILESYSTEM,
  connectDirect,
  connectThroughTap,
  rows,
  sql,
  startUp,
  subscribeAlerts,
  tempDir,
  waitFor,
  wsUpgradeStatus,
  type AlertCollector,
  type RunningTapwatch,
} from '../support/helpers.js';

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
let tw: RunningTapwatch;
let stream: AlertCollector;

before(async () => {
  tw = await startUp({ token: TOKEN });
  stream = await subscribeAlerts(tw.url, TOKEN);
});

after(async () => {
  stream?.close();
  await tw?.stop();
});

test('every tools/call through the tap is a row in tool_calls; an outsized result raises an alert on the stream', async () => {
  const agent = `agent-${Math.random().toString(36).slice(2, 10)}`;
  const tapped = await connectThroughTap({
    sink: tw.url,
    name: 'everything',
    agent,
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  const { tools } = await tapped.client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'));
  const normal = 30;
  for (let i = 0; i < normal; i++) {
    const r = await tapped.client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
    assert.deepEqual(r.content, [{ type: 'text', text: `Echo: hello ${i}` }], 'the tap relays results unchanged');
  }
  const sum = await tapped.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
  assert.match(JSON.stringify(sum.content), /5/);
  const huge = 'x'.repeat(300_000);
  const big = await tapped.client.callTool({ name: 'echo', arguments: { message: huge } });
  assert.equal((big.content as { text: string }[])[0]!.text.length, huge.length + 'Echo: '.length);
  await tapped.close();

  const expected = normal + 2;
  const found = await waitFor(
    'all calls stored',
    async () => {
      const r = await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', TOKEN, { s: tapped.session });
      return r[0].n === expected ? r : undefined;
    },
    20_000,
  );
  assert.equal(found[0].n, expected);
  const detail = await rows(
    tw.url,
    `SELECT tool, count() AS n, max(response_bytes) AS max_resp, min(request_bytes) AS min_req, any(agent) AS agent, any(server) AS server,
            countIf(is_error) AS errors, min(duration_ms) >= 0 AS durations_ok
     FROM tool_calls WHERE session = {s:String} GROUP BY tool ORDER BY tool`,
    TOKEN,
    { s: tapped.session },
  );
  const echo = detail.find((r) => r.tool === 'echo');
  assert.equal(echo.n, normal + 1);
  assert.ok(echo.max_resp > 300_000, 'result bytes measured');
  assert.equal(echo.agent, agent);
  assert.equal(echo.server, 'everything');
  assert.equal(echo.errors, 0);
  assert.equal(detail.find((r) => r.tool === 'get-sum').n, 1);

  const alert = await stream.waitForAlert((a) => a.detector === 'result_size_outlier' && a.session === tapped.session, 'result size outlier');
  for (const field of ['id', 'time', 'severity', 'detector', 'title', 'server', 'tool', 'agent', 'session', 'evidence']) {
    assert.ok(field in alert, `alert has ${field}`);
  }
  assert.ok(!Number.isNaN(Date.parse(alert.time)) && alert.time.endsWith('Z'), 'ISO 8601 time');
  assert.ok(['low', 'medium', 'high', 'critical'].includes(alert.severity));
  assert.equal(alert.tool, 'echo');
  assert.equal(alert.agent, agent);
  assert.ok(alert.evidence.observedBytes > 300_000);
  const stored = await rows(tw.url, 'SELECT id FROM alerts WHERE id = {id:String}', TOKEN, { id: alert.id });
  assert.equal(stored.length, 1, 'the streamed alert is stored');

  const sessions = await rows(tw.url, `SELECT event, client_name, server_name, calls FROM sessions WHERE session = {s:String} ORDER BY time`, TOKEN, {
    s: tapped.session,
  });
  assert.deepEqual(
    sessions.map((s) => s.event),
    ['start', 'end'],
  );
  assert.equal(sessions[0].client_name, 'tapwatch-e2e');
  assert.match(sessions[0].server_name, /everything/);
  assert.equal(sessions[1].calls, expected);
});

test('a changed tool definition of an already-seen tool raises an alert (server upgraded under the same name)', async () => {
  // A real rug pull between two published versions of the same server: `echo`'s description changed.
  const before = await connectThroughTap({
    sink: tw.url,
    name: 'docs-helper',
    server: [process.execPath, EVERYTHING_2025, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  const oldTools = await before.client.listTools();
  await before.close();
  const after = await connectThroughTap({
    sink: tw.url,
    name: 'docs-helper',
    agent: 'agent-rug',
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  const newTools = await after.client.listTools();
  await after.close();
  const oldEcho = oldTools.tools.find((t) => t.name === 'echo');
  const newEcho = newTools.tools.find((t) => t.name === 'echo');
  assert.notEqual(oldEcho?.description, newEcho?.description, 'precondition: the two versions differ');

  const alert = await stream.waitForAlert(
    (a) => a.detector === 'tool_definition_changed' && a.session === after.session && a.tool === 'echo',
    'definition change of echo',
  );
  assert.equal(alert.server, 'docs-helper');
  assert.equal(alert.agent, 'agent-rug');
  assert.ok(alert.evidence.changedFields.includes('description'));
  assert.equal(alert.evidence.before.description, oldEcho?.description);
  assert.equal(alert.evidence.after.description, newEcho?.description);
  // tools that did not change raise nothing
  const tools = new Set(stream.alerts.filter((a) => a.session === after.session && a.detector === 'tool_definition_changed').map((a) => a.tool));
  for (const t of newTools.tools) {
    const o = oldTools.tools.find((x) => x.name === t.name);
    if (o && JSON.stringify(o) === JSON.stringify(t)) assert.ok(!tools.has(t.name), `${t.name} did not change`);
  }
  const history = await rows(tw.url, `SELECT count() AS n FROM tool_definitions WHERE server = 'docs-helper' AND tool = 'echo'`, TOKEN);
  assert.equal(history[0].n, 2, 'definition history keeps both versions');
});

test('the tap relays a real filesystem server unchanged and its calls are stored', async () => {
  const root = tempDir('fs');
  mkdirSync(join(root, 'src'));
  writeFileSync(join(root, 'src', 'a.txt'), 'alpha\u2028beta\n');
  writeFileSync(join(root, 'notes.md'), '# notes\n');
  const server = [process.execPath, FILESYSTEM, root];
  const direct = await connectDirect(server);
  const tapped = await connectThroughTap({ sink: tw.url, server, env: { TAPWATCH_TOKEN: TOKEN } });
  try {
    assert.deepEqual(await tapped.client.listTools(), await direct.listTools(), 'tools/list through the tap equals direct');
    for (const [name, args] of [
      ['list_directory', { path: root }],
      ['read_text_file', { path: join(root, 'src', 'a.txt') }],
      ['directory_tree', { path: root }],
      ['read_text_file', { path: join(root, 'missing.txt') }],
    ] as const) {
      assert.deepEqual(
        await tapped.client.callTool({ name, arguments: args }),
        await direct.callTool({ name, arguments: args }),
        `${name} through the tap equals direct`,
      );
    }
  } finally {
    await tapped.close();
    await direct.close();
  }
  const got = await waitFor('filesystem calls stored', async () => {
    const r = await rows(tw.url, 'SELECT tool, is_error, server FROM tool_calls WHERE session = {s:String} ORDER BY time', TOKEN, { s: tapped.session });
    return r.length === 4 ? r : undefined;
  });
  assert.deepEqual(
    got.map((r) => r.tool),
    ['list_directory', 'read_text_file', 'directory_tree', 'read_text_file'],
  );
  assert.equal(got[3].is_error, true, 'the failed read is marked as an error');
  assert.match(got[0].server, /filesystem/, 'server name from serverInfo when no --name');
});

test('with TAPWATCH_TOKEN set, /v1 and the WebSocket refuse requests without it', async () => {
  const noToken = await fetch(`${tw.url}/v1/sql`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT 1' }) });
  assert.equal(noToken.status, 401);
  const wrong = await sql(tw.url, 'SELECT 1', 'wrong');
  assert.equal(wrong.status, 401);
  assert.equal((await fetch(`${tw.url}/v1/ingest`, { method: 'POST', body: '[]' })).status, 401);
  const ws = `${tw.url.replace('http', 'ws')}/v1/alerts/stream`;
  assert.equal(await wsUpgradeStatus(ws), 401);
  assert.equal(await wsUpgradeStatus(ws, { authorization: 'Bearer wrong' }), 401);
  assert.equal(await wsUpgradeStatus(`${ws}?token=${TOKEN}`), 101);
  assert.equal(await wsUpgradeStatus(ws, { authorization: `Bearer ${TOKEN}` }), 101);
  assert.equal((await fetch(`${tw.url}/healthz`)).status, 200, '/healthz stays open for probes');
});

test('SIGTERM flushes and exits cleanly; data survives a restart on the same data dir', async () => {
  const own = await startUp();
  const t = await connectThroughTap({ sink: own.url, name: 'persist', server: [process.execPath, EVERYTHING, 'stdio'] });
  for (let i = 0; i < 5; i++) await t.client.callTool({ name: 'echo', arguments: { message: String(i) } });
  await t.close();
  await waitFor('calls stored', async () => (await rows(own.url, `SELECT count() AS n FROM tool_calls WHERE server = 'persist'`))[0].n === 5);
  own.proc.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => own.proc.once('exit', (c) => r(c)));
  assert.equal(code, 0);
  const again = await startUp({ args: ['--data', own.dataDir] });
  try {
    const n = await rows(again.url, `SELECT count() AS n FROM tool_calls WHERE server = 'persist'`);
    assert.equal(n[0].n, 5);
  } finally {
    assert.equal(await again.stop(), 0);
  }
});
