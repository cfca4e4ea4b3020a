/**
 * The REST API through a real `tapwatch up` (embedded engine) on a real port,
 * with real traffic: server-everything behind real taps, a result-size
 * outlier and a real tool-definition change for alerts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVERYTHING,
  EVERYTHING_2025,
  connectThroughTap,
  startUp,
  subscribeAlerts,
  waitFor,
  type AlertCollector,
  type RunningTapwatch,
} from '../support/helpers.js';

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const auth = { authorization: `Bearer ${TOKEN}` };
let tw: RunningTapwatch;
let stream: AlertCollector;
let session = '';
const NORMAL = 24;

async function get(path: string, token = true): Promise<{ status: number; body: any }> {
  const r = await fetch(`${tw.url}${path}`, { headers: token ? auth : {} });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

async function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${tw.url}${path}`, {
    method,
    headers: { ...auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

/** A real definition change: the 2025 and the current server-everything under one name. */
async function rugPull(name: string): Promise<string> {
  const first = await connectThroughTap({ sink: tw.url, name, server: [process.execPath, EVERYTHING_2025, 'stdio'], env: { TAPWATCH_TOKEN: TOKEN } });
  await first.client.listTools();
  await first.close();
  const second = await connectThroughTap({
    sink: tw.url,
    name,
    agent: `agent-${name}`,
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  await second.client.listTools();
  await second.close();
  return second.session;
}

before(async () => {
  tw = await startUp({ token: TOKEN, env: { TAPWATCH_OUTLIER_MIN_SAMPLES: '15' } });
  stream = await subscribeAlerts(tw.url, TOKEN);
  const tapped = await connectThroughTap({
    sink: tw.url,
    name: 'everything',
    agent: 'agent-rest',
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  session = tapped.session;
  await tapped.client.listTools();
  for (let i = 0; i < NORMAL; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
  await tapped.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
  await tapped.client.callTool({ name: 'no-such-tool', arguments: {} }).catch(() => undefined);
  await tapped.client.callTool({ name: 'echo', arguments: { message: 'x'.repeat(300_000) } });
  await tapped.close();
  await stream.waitForAlert((a) => a.detector === 'result_size_outlier' && a.session === session, 'outlier in the REST session', 30_000);
  await waitFor('session end stored', async () => (await get(`/v1/sessions/${session}`)).body?.timeline?.some((e: any) => e.kind === 'session_end'), 30_000);
});

after(async () => {
  stream?.close();
  await tw?.stop();
});

test('GET /v1/calls pages newest first with a cursor, filters, and refuses bad parameters with codes', async () => {
  const total = NORMAL + 3;
  const seen: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r = await get(`/v1/calls?session=${session}&limit=10${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200);
    assert.ok(r.body.items.length <= 10);
    seen.push(...r.body.items);
    cursor = r.body.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  assert.equal(seen.length, total, 'every call once across pages');
  assert.equal(new Set(seen.map((c) => c.id)).size, total, 'no duplicates across pages');
  assert.equal(pages, Math.ceil(total / 10));
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1].time >= seen[i].time, 'sorted by time, newest first');
  assert.ok(seen.every((c) => c.session === session && c.agent === 'agent-rest' && c.server === 'everything'));
  assert.equal(seen[0].tool, 'echo', 'the newest is the big echo');
  assert.ok(seen[0].responseBytes > 300_000);

  const sums = await get(`/v1/calls?session=${session}&tool=get-sum`);
  assert.deepEqual(
    sums.body.items.map((c: any) => [c.tool, c.status]),
    [['get-sum', 'ok']],
  );
  const failed = await get(`/v1/calls?session=${session}&status=rpc_error`);
  assert.ok(failed.body.items.length + (await get(`/v1/calls?session=${session}&status=tool_error`)).body.items.length >= 1, 'the unknown tool is an error');
  const future = await get(`/v1/calls?session=${session}&from=${new Date(Date.now() + 3600_000).toISOString()}`);
  assert.deepEqual(future.body, { items: [], nextCursor: null });
  const window = await get(`/v1/calls?session=${session}&from=${seen[total - 1].time}&to=${seen[0].time}`);
  assert.equal(window.body.items.length, total - 1, 'from is inclusive, to exclusive');

  for (const [query, code] of [
    ['limit=0', 'TAPWATCH_BAD_PARAMETER'],
    ['limit=5000', 'TAPWATCH_BAD_PARAMETER'],
    ['from=yesterday', 'TAPWATCH_BAD_PARAMETER'],
    ['status=maybe', 'TAPWATCH_BAD_PARAMETER'],
    ['colour=red', 'TAPWATCH_BAD_PARAMETER'],
    ['tool=a&tool=b', 'TAPWATCH_BAD_PARAMETER'],
    ['cursor=not-a-cursor', 'TAPWATCH_BAD_CURSOR'],
  ] as const) {
    const r = await get(`/v1/calls?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(r.body.error.code, code, query);
  }
  assert.equal((await get('/v1/calls', false)).status, 401, 'the token is required');
});

test('alerts: list and filter, acknowledge, resolve; unknown ids are 404', async () => {
  const list = await get(`/v1/alerts?session=${session}&detector=result_size_outlier`);
  assert.equal(list.status, 200);
  const alert = list.body.items[0];
  assert.ok(alert, 'the outlier is listed');
  assert.equal(alert.status, 'open');
  assert.equal(alert.silenced, false);
  assert.equal(alert.tool, 'echo');
  assert.ok(alert.evidence.observedBytes > 300_000, 'evidence is an object');
  assert.ok(alert.eventIds.length >= 1);

  const severity = (await get(`/v1/alerts?session=${session}&severity=${alert.severity}`)).body.items;
  assert.ok(severity.some((a: any) => a.id === alert.id));
  const other = ['low', 'medium', 'high', 'critical'].filter((s) => s !== alert.severity).join(',');
  assert.ok(!(await get(`/v1/alerts?session=${session}&severity=${other}`)).body.items.some((a: any) => a.id === alert.id));

  const acked = await send('POST', `/v1/alerts/${encodeURIComponent(alert.id)}/ack`, { note: 'looking' });
  assert.equal(acked.status, 200);
  assert.equal(acked.body.status, 'acknowledged');
  assert.equal(acked.body.note, 'looking');
  assert.ok(acked.body.updatedAt);
  assert.ok((await get(`/v1/alerts?status=acknowledged&session=${session}`)).body.items.some((a: any) => a.id === alert.id));
  assert.ok(!(await get(`/v1/alerts?status=open&session=${session}`)).body.items.some((a: any) => a.id === alert.id));
  const resolved = await send('POST', `/v1/alerts/${encodeURIComponent(alert.id)}/resolve`);
  assert.equal(resolved.status, 200);
  assert.equal(resolved.body.status, 'resolved');
  assert.equal(resolved.body.note, 'looking', 'the note stays');
  assert.equal((await get(`/v1/alerts/${encodeURIComponent(alert.id)}`)).body.status, 'resolved');

  const missing = await send('POST', '/v1/alerts/no-such-alert/ack', {});
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TAPWATCH_ALERT_NOT_FOUND');
  const badNote = await send('POST', `/v1/alerts/${encodeURIComponent(alert.id)}/ack`, { note: 5 });
  assert.equal(badNote.status, 422);
  assert.equal(badNote.body.error.code, 'TAPWATCH_BAD_BODY');
  assert.equal((await get('/v1/alerts?severity=urgent')).status, 400);
});

test('a silence keeps matching alerts off the stream but stores them flagged; deleting it ends it', async () => {
  for (const bad of [
    { reason: 'x', durationMinutes: 5 },
    { server: 's', reason: 'x' },
    { server: 's', durationMinutes: 5 },
    { server: 's', reason: 'x', until: '2001-01-01T00:00:00Z' },
  ]) {
    const r = await send('POST', '/v1/silences', bad);
    assert.equal(r.status, 422, JSON.stringify(bad));
    assert.equal(r.body.error.code, 'TAPWATCH_BAD_BODY');
  }
  const created = await send('POST', '/v1/silences', { server: 'quiet-srv', durationMinutes: 30, reason: 'planned upgrade' });
  assert.equal(created.status, 201);
  assert.equal(created.body.server, 'quiet-srv');
  assert.ok(Date.parse(created.body.until) - Date.now() > 29 * 60_000);
  assert.ok((await get('/v1/silences')).body.items.some((s: any) => s.id === created.body.id && s.active));

  const quietSession = await rugPull('quiet-srv');
  const loudSession = await rugPull('loud-srv');
  // Alerts go out in the order they are raised: once loud-srv's is on the stream, quiet-srv's would have been too.
  await stream.waitForAlert((a) => a.session === loudSession && a.detector === 'tool_definition_changed', 'loud-srv definition change', 30_000);
  assert.ok(!stream.alerts.some((a) => a.server === 'quiet-srv'), 'the silenced alert was not pushed');
  const stored = await waitFor('silenced alert flagged', async () => {
    const r = await get(`/v1/alerts?session=${quietSession}&silenced=true`);
    return r.body.items.length > 0 ? r.body.items : undefined;
  });
  assert.ok(stored.every((a: any) => a.silenced && a.silenceId === created.body.id));
  assert.ok(
    stored.some((a: any) => a.detector === 'tool_definition_changed'),
    'the definition change is stored',
  );
  assert.equal((await get(`/v1/alerts?session=${loudSession}&silenced=true`)).body.items.length, 0);

  assert.equal((await send('DELETE', `/v1/silences/${created.body.id}`)).status, 204);
  assert.ok(!(await get('/v1/silences')).body.items.some((s: any) => s.id === created.body.id));
  const again = await send('DELETE', `/v1/silences/${created.body.id}`);
  assert.equal(again.status, 404);
  assert.equal(again.body.error.code, 'TAPWATCH_SILENCE_NOT_FOUND');
});

test('tools: current hash and change count; history shows each version with a line diff', async () => {
  await rugPull('docs-helper');
  const tools = await waitFor('docs-helper echo changed', async () => {
    const r = await get('/v1/tools?server=docs-helper');
    return r.body.items.find((t: any) => t.tool === 'echo' && t.changes === 1);
  });
  assert.equal(tools.versions, 2);
  assert.match(tools.currentHash, /\S/);
  const h = await get('/v1/tools/docs-helper/echo/history');
  assert.equal(h.status, 200);
  assert.equal(h.body.versions.length, 2);
  assert.equal(h.body.versions[0].diff, null);
  assert.equal(h.body.versions[1].hash, tools.currentHash);
  const diff = h.body.versions[1].diff as { op: string; text: string }[];
  const del = diff.filter((d) => d.op === 'del');
  const add = diff.filter((d) => d.op === 'add');
  assert.ok(del.some((d) => d.text.includes('"description"')) && add.some((d) => d.text.includes('"description"')), 'the description line changed');
  assert.ok(
    diff.some((d) => d.op === 'same' && d.text.includes('"inputSchema": {')),
    'unchanged lines stay',
  );
  const before = JSON.parse(h.body.versions[0].definition);
  const afterDef = JSON.parse(h.body.versions[1].definition);
  assert.notEqual(before.description, afterDef.description);
  // Rebuilding the new version from the diff proves it is complete.
  assert.equal(
    diff
      .filter((d) => d.op !== 'del')
      .map((d) => d.text)
      .join('\n'),
    h.body.versions[1].definition,
  );
  assert.equal(
    diff
      .filter((d) => d.op !== 'add')
      .map((d) => d.text)
      .join('\n'),
    h.body.versions[0].definition,
  );
  const missing = await get('/v1/tools/docs-helper/nope/history');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TAPWATCH_TOOL_NOT_FOUND');
});

test('GET /v1/sessions/:id is the session timeline in time order; GET /v1/stats counts per server and tool', async () => {
  const s = await get(`/v1/sessions/${session}`);
  assert.equal(s.status, 200);
  const kinds = s.body.timeline.map((e: any) => e.kind);
  assert.equal(kinds[0], 'session_start');
  assert.equal(kinds[kinds.length - 1], 'session_end');
  assert.equal(s.body.counts.calls, NORMAL + 3);
  assert.ok(s.body.counts.alerts >= 1);
  assert.equal(s.body.agent, 'agent-rest');
  const events = s.body.timeline.filter((e: any) => e.kind !== 'alert');
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].time <= events[i].time, 'events in time order');
  const bigCall = s.body.timeline.findIndex((e: any) => e.kind === 'tool_call' && e.detail.responseBytes > 300_000);
  const outlier = s.body.timeline.findIndex((e: any) => e.kind === 'alert' && e.summary.includes('result_size_outlier'));
  assert.ok(bigCall > 0 && outlier > bigCall, 'the alert follows the call that caused it');
  const missing = await get('/v1/sessions/no-such-session');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TAPWATCH_SESSION_NOT_FOUND');

  const st = await get('/v1/stats');
  assert.equal(st.status, 200);
  const everything = st.body.servers.find((x: any) => x.server === 'everything');
  assert.ok(everything.calls >= NORMAL + 3);
  assert.ok(everything.errors >= 1);
  assert.ok(everything.alerts >= 1);
  assert.ok(everything.p95Ms >= 0 && everything.avgMs >= 0);
  const echo = st.body.tools.find((t: any) => t.server === 'everything' && t.tool === 'echo');
  assert.ok(echo.calls >= NORMAL + 1 && echo.responseBytes > 300_000);
  assert.ok(st.body.hourly.some((h: any) => h.server === 'everything' && h.calls > 0 && /T\d\d:00:00\.000Z$/.test(h.hour)));
  const none = await get(`/v1/stats?from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z`);
  assert.deepEqual([none.body.hourly, none.body.servers, none.body.tools], [[], [], []]);
  assert.equal((await get('/v1/stats?from=2001-01-02T00:00:00Z&to=2001-01-01T00:00:00Z')).status, 400);
});
