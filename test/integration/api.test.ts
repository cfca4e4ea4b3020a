/**
 * The API of a real `tapwatch up` on a real port with the embedded engine:
 * bad ingest input is refused clearly and counted without losing what was
 * accepted; /v1/sql is read-only by the database's own guard.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAPWATCH_BIN, authHeader, rows, sql, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

const MAX_BODY = 64 * 1024;
let tw: RunningTapwatch;

before(async () => {
  tw = await startUp({ env: { TAPWATCH_MAX_BODY_BYTES: String(MAX_BODY), TAPWATCH_TOKEN: '' } });
});
after(async () => {
  await tw?.stop();
});

function callEvent(session: string, over: Record<string, unknown> = {}) {
  const now = new Date().toISOString();
  return {
    v: 1,
    id: randomUUID(),
    time: now,
    session,
    agent: 'agent-api',
    server: 'api-test',
    transport: 'stdio',
    type: 'tool_call',
    tool: 'read',
    requestId: '1',
    startedAt: now,
    durationMs: 3,
    requestBytes: 12,
    responseBytes: 5_000_000_000, // above 2^32: 64-bit columns must come back as numbers
    status: 'ok',
    isError: false,
    errorCode: null,
    errorMessage: null,
    argumentKeys: ['path'],
    argumentsHash: 'abc',
    ...over,
  };
}

async function ingest(body: string, contentType = 'application/json') {
  const r = await fetch(`${tw.url}/v1/ingest`, { method: 'POST', headers: { ...authHeader(), 'content-type': contentType }, body });
  return { status: r.status, body: (await r.json()) as any };
}

async function health() {
  return (await (await fetch(`${tw.url}/healthz`, { headers: authHeader() })).json()) as any;
}

test('bad ingest input gets a clear 4xx, is counted, and loses nothing already accepted', async () => {
  const session = `api-${randomUUID()}`;
  const good = Array.from({ length: 20 }, () => callEvent(session));
  const ok = await ingest(JSON.stringify(good));
  assert.equal(ok.status, 202);
  assert.equal(ok.body.accepted, 20);

  const notJson = await ingest('{"v":1,');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.error.code, 'TAPWATCH_INGEST_NOT_JSON');

  const wrongShape = await ingest(JSON.stringify([callEvent(session), callEvent(session, { tool: 42 }), { hello: 'world' }]));
  assert.equal(wrongShape.status, 422);
  assert.equal(wrongShape.body.error.code, 'TAPWATCH_INGEST_BAD_EVENT');
  assert.match(wrongShape.body.error.message, /\[1\] tool/, 'names the index and field that is wrong');
  assert.equal(wrongShape.body.error.invalid, 2);

  const empty = await ingest('[]');
  assert.equal(empty.status, 422);

  // Nested past what any tap sends: refused as bad input (it was a 503 the tap retried forever).
  const deepArgs = '{"a":'.repeat(200) + '1' + '}'.repeat(200);
  const deep = await ingest(JSON.stringify(callEvent(session)).replace(/}$/, `,"arguments":${deepArgs}}`));
  assert.equal(deep.status, 422);
  assert.equal(deep.body.error.code, 'TAPWATCH_INGEST_BAD_EVENT');
  assert.match(deep.body.error.message, /nested deeper than 72 levels/);

  const oversized = await ingest(JSON.stringify(Array.from({ length: 400 }, () => callEvent(session))));
  assert.ok(JSON.stringify(Array.from({ length: 400 }, () => callEvent(session))).length > MAX_BODY);
  assert.equal(oversized.status, 413);
  assert.equal(oversized.body.error.code, 'TAPWATCH_BODY_TOO_LARGE');

  const h = await health();
  assert.deepEqual(h.ingest.rejected, { notJson: 1, badShape: 3, tooLarge: 1, unauthorized: 0, unavailable: 0, busy: 0 });
  assert.equal(h.ingest.accepted, 20);

  const more = await ingest(JSON.stringify(callEvent(session)));
  assert.equal(more.status, 202, 'a single event (not in an array) is accepted too');

  // The whole 3-event batch with bad members was refused: only the 21 good events are stored.
  const stored = await waitFor('the 21 accepted events stored', async () => {
    const r = await rows(tw.url, `SELECT count() AS n, max(response_bytes) AS big FROM tool_calls WHERE session = {s:String}`, undefined, { s: session });
    return r[0].n >= 21 ? r : undefined;
  });
  assert.equal(stored[0].n, 21);
  assert.equal(stored[0].big, 5_000_000_000);
  assert.equal(typeof stored[0].big, 'number');
});

test('SQL that writes, changes schema or settings, or reaches outside is refused by the database, and nothing changes', async () => {
  const before = await rows(tw.url, 'SELECT count() AS n FROM tool_calls');
  const attempts = [
    `INSERT INTO tool_calls (id, server, tool) VALUES ('${randomUUID()}', 'x', 'y')`,
    'DROP TABLE tool_calls',
    'TRUNCATE TABLE tool_calls',
    'ALTER TABLE tool_calls DELETE WHERE 1',
    'CREATE TABLE evil (a Int8) ENGINE = Memory',
    'SET readonly = 0',
    'SELECT 1 SETTINGS readonly = 0',
    'SELECT 1 SETTINGS max_execution_time = 100000',
    `SELECT * FROM file('/etc/passwd', 'LineAsString')`,
    `SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')`,
    `INSERT INTO FUNCTION file('/tmp/tapwatch-evil.csv', 'CSV', 'a String') VALUES ('x')`,
  ];
  for (const q of attempts) {
    const r = await sql(tw.url, q);
    assert.ok(r.status === 403 || r.status === 400, `${q} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.ok(r.body.error?.message, `${q} gets an error message`);
    if (r.status === 403) assert.match(r.body.error.code, /^TAPWATCH_SQL_(NOT_READ_ONLY|FORBIDDEN)$/);
  }
  const readonlyRefusals = await Promise.all(attempts.slice(0, 5).map((q) => sql(tw.url, q)));
  for (const r of readonlyRefusals) assert.equal(r.status, 403, 'writes and DDL are refused by the read-only guard');
  assert.equal(existsSync('/tmp/tapwatch-evil.csv'), false, 'no file was written');
  const afterCount = await rows(tw.url, 'SELECT count() AS n FROM tool_calls');
  assert.deepEqual(afterCount, before);
  const evil = await sql(tw.url, 'SELECT * FROM evil');
  assert.equal(evil.status, 400, 'no table evil was created');
});

test('SQL errors say what was wrong; parameters and limits work', async () => {
  const syntax = await sql(tw.url, 'SELEC 1');
  assert.equal(syntax.status, 400);
  assert.equal(syntax.body.error.code, 'TAPWATCH_SQL_BAD_QUERY');
  assert.match(syntax.body.error.message, /syntax/i);
  const unknown = await sql(tw.url, 'SELECT * FROM no_such_table');
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error.message, /no_such_table/);
  const missing = await fetch(`${tw.url}/v1/sql`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: '{"query":"SELECT 1"}',
  });
  assert.equal(missing.status, 400);
  assert.equal(((await missing.json()) as any).error.code, 'TAPWATCH_SQL_BAD_REQUEST');
  const p = await rows(tw.url, 'SELECT {a:UInt32} + 1 AS x, {s:String} AS s', undefined, { a: 41, s: "it's" });
  assert.deepEqual(p, [{ x: 42, s: "it's" }]);
  const tooMany = await sql(tw.url, 'SELECT arrayJoin(range(20000)) AS n');
  assert.equal(tooMany.status, 422, 'more rows than TAPWATCH_SQL_MAX_ROWS is refused');
  assert.equal(tooMany.body.error.code, 'TAPWATCH_SQL_LIMIT');
});

test('tapwatch refuses to listen off loopback without a token', () => {
  const r = spawnSync(process.execPath, [TAPWATCH_BIN, 'up', '--host', '0.0.0.0', '--port', '0'], {
    env: { ...process.env, TAPWATCH_TOKEN: '' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /without a token: set TAPWATCH_TOKEN/);
});

test('unknown commands and bad flags get usage and exit 2', () => {
  const r = spawnSync(process.execPath, [TAPWATCH_BIN, 'up', '--bogus'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Unknown option '--bogus'/);
  const t = spawnSync(process.execPath, [TAPWATCH_BIN, 'tap'], { encoding: 'utf8' });
  assert.equal(t.status, 2);
  assert.match(t.stderr, /no server command given/);
});

test('a second process on the same embedded data directory is refused with a clear message', () => {
  const r = spawnSync(process.execPath, [TAPWATCH_BIN, 'up', '--port', '0', '--data', tw.dataDir], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /another tapwatch process/);
});

test('an invalid rules file stops start-up with a message naming the file and rule', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapwatch-rules-'));
  const file = join(dir, 'mine.yaml');
  writeFileSync(file, 'version: 1\nrules:\n  - id: no-when\n    severity: high\n');
  const r = spawnSync(process.execPath, [TAPWATCH_BIN, 'up', '--port', '0', '--data', join(dir, 'd')], {
    env: { ...process.env, TAPWATCH_RULES: file },
    encoding: 'utf8',
    timeout: 30_000,
  });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /mine\.yaml.*no-when/s);
});
