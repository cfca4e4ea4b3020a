/**
 * The SQL guard of a real `tapwatch up` (embedded engine) on a real port:
 * writes, DDL, other databases, table functions, file-reading functions,
 * setting overrides and resource exhaustion are each refused or cut with a
 * clear error, and nothing changes; parameters, CSV and the ready-made views
 * answer with real data. One statement per body, CTE names as the engine parsed
 * them, and turns per token so one token's slow queries do not hold up another's.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { authHeader, rows, sql, startUp, tempDir, waitFor, type RunningTapwatch, ingestEvents } from '../support/helpers.js';
import { TokenFile } from '../../dashboard-api/src/tokens.js';

let tw: RunningTapwatch;
const session = `guard-${randomUUID()}`;
const evilDir = tempDir('sql-guard');

function call(tool: string, over: Record<string, unknown> = {}) {
  const now = new Date().toISOString();
  return {
    v: 1,
    id: randomUUID(),
    time: now,
    session,
    agent: 'agent-guard',
    server: 'guard-server',
    transport: 'stdio',
    type: 'tool_call',
    tool,
    requestId: randomUUID(),
    startedAt: now,
    durationMs: 4,
    requestBytes: 100,
    responseBytes: 1000,
    status: 'ok',
    isError: false,
    errorCode: null,
    errorMessage: null,
    argumentKeys: ['path'],
    argumentsHash: 'h',
    ...over,
  };
}

const ingest = (events: unknown[]) => ingestEvents(tw.url, events);

async function counts(): Promise<unknown[]> {
  return rows(
    tw.url,
    `SELECT (SELECT count() FROM tool_calls) AS calls, (SELECT count() FROM alerts) AS alerts, (SELECT count() FROM sessions) AS sessions, (SELECT count() FROM tool_definitions) AS defs`,
  );
}

before(async () => {
  tw = await startUp({ env: { TAPWATCH_TOKEN: '', TAPWATCH_SQL_MAX_ROWS: '1000', TAPWATCH_SQL_TIMEOUT_S: '2' } });
  const now = new Date().toISOString();
  await ingest([
    ...Array.from({ length: 6 }, () => call('read')),
    call('read', { status: 'rpc_error', errorCode: -32603, errorMessage: 'boom', responseBytes: 50 }),
    call('write', { isError: true, errorMessage: 'denied', requestBytes: 5000 }),
    {
      v: 1,
      id: randomUUID(),
      time: now,
      session,
      agent: 'agent-guard',
      server: 'guard-server',
      transport: 'stdio',
      type: 'tools_list',
      tools: [
        { name: 'read', description: 'Reads a file', inputSchema: { type: 'object' } },
        { name: 'write', description: 'Writes a file', inputSchema: { type: 'object' } },
      ],
    },
  ]);
  await waitFor(
    'the calls stored',
    async () => (await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', undefined, { s: session }))[0].n === 8,
  );
  await waitFor(
    'the tool definitions stored',
    async () => (await rows(tw.url, 'SELECT count() AS n FROM tool_definitions WHERE session = {s:String}', undefined, { s: session }))[0].n === 2,
  );
});

after(async () => {
  await tw?.stop();
});

test('writes, DDL, other databases, table functions and file readers are refused, and nothing changes', async () => {
  const before = await counts();
  const evilFile = join(evilDir, 'evil.csv');
  const refused: [string, number, RegExp][] = [
    [`INSERT INTO tool_calls (id, server, tool) VALUES ('${randomUUID()}', 'x', 'y')`, 403, /read-only/],
    ['DROP TABLE tool_calls', 403, /read-only/],
    ['TRUNCATE TABLE alerts', 403, /read-only/],
    ['ALTER TABLE tool_calls DELETE WHERE 1', 403, /read-only/],
    ['CREATE TABLE evil (a Int8) ENGINE = Memory', 403, /read-only/],
    ['CREATE VIEW evil AS SELECT 1', 403, /read-only/],
    ['SET readonly = 0', 403, /read-only/],
    ['SYSTEM SHUTDOWN', 403, /read-only|syntax/i],
    ['SHOW TABLES', 403, /read-only/],
    ['SELECT 1 SETTINGS readonly = 0', 403, /readonly|SETTINGS/],
    ['SELECT count() FROM tool_calls SETTINGS max_execution_time = 100000', 403, /max_execution_time|SETTINGS/],
    ['SELECT count() FROM tool_calls SETTINGS max_result_rows = 0', 403, /max_result_rows|SETTINGS/],
    ['SELECT * FROM system.tables', 403, /system\.tables is outside/],
    ['SELECT * FROM system.numbers LIMIT 10', 403, /system\.numbers is outside/],
    ['SELECT name FROM `system`.`users`', 403, /outside/],
    ['SELECT count() FROM tool_calls WHERE server IN system.one', 403, /outside/],
    ['SELECT * FROM information_schema.tables', 403, /outside/],
    ['SELECT * FROM INFORMATION_SCHEMA.COLUMNS', 403, /outside/],
    ['SELECT * FROM default.anything', 403, /outside/],
    ['SELECT * FROM schema_migrations', 400, /unknown table schema_migrations.*tool_calls/],
    [`SELECT * FROM file('/etc/passwd', 'LineAsString')`, 403, /table function file\(\)/],
    [`SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')`, 403, /table function url\(\)/],
    [`SELECT * FROM s3('http://127.0.0.1:1/b/k.csv', 'CSV', 'a String')`, 403, /table function s3\(\)/],
    [`SELECT * FROM remote('127.0.0.1:9000', system.one)`, 403, /table function remote\(\)/],
    [`SELECT * FROM remoteSecure('127.0.0.1:9440', system.one)`, 403, /table function remoteSecure\(\)/],
    [`SELECT * FROM mysql('127.0.0.1:3306', 'db', 't', 'u', 'p')`, 403, /table function mysql\(\)/],
    [`SELECT * FROM postgresql('127.0.0.1:5432', 'db', 't', 'u', 'p')`, 403, /table function postgresql\(\)/],
    [`SELECT * FROM hdfs('hdfs://127.0.0.1:9000/x', 'CSV', 'a String')`, 403, /table function hdfs\(\)/],
    [`SELECT * FROM executable('x.sh', 'CSV', 'a String')`, 403, /table function executable\(\)/],
    [`SELECT * FROM cluster('default', system.one)`, 403, /table function cluster\(\)/],
    [`SELECT * FROM dictionary('d')`, 403, /table function dictionary\(\)/],
    [`SELECT * FROM input('a String')`, 403, /table function input\(\)/],
    ['SELECT * FROM numbers(10)', 403, /table function numbers\(\)/],
    ["SELECT * FROM generateRandom('a String') LIMIT 1", 403, /table function generateRandom\(\)/],
    ["SELECT count() FROM (SELECT * FROM tool_calls UNION ALL SELECT * FROM merge('system', '.*'))", 403, /table function merge\(\)/],
    [`SELECT file('/etc/hostname')`, 403, /function file\(\)/],
    [`SELECT dictGet('d', 'a', toUInt64(1))`, 403, /function dictGet\(\)/],
    [`SELECT joinGet('j', 'v', 1)`, 403, /function joinGet\(\)/],
    [`SELECT * FROM tool_calls INTO OUTFILE '${evilFile}'`, 403, /INTO OUTFILE/],
    ['SELECT 1 FORMAT CSV', 403, /FORMAT/],
    [`INSERT INTO FUNCTION file('${evilFile}', 'CSV', 'a String') VALUES ('x')`, 403, /read-only/],
  ];
  for (const [q, status, message] of refused) {
    const r = await sql(tw.url, q);
    assert.equal(r.status, status, `${q} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, q);
    assert.equal(
      r.body.error.code,
      status === 403 ? (/read-only/.test(r.body.error.message) ? 'TAPWATCH_SQL_NOT_READ_ONLY' : r.body.error.code) : 'TAPWATCH_SQL_BAD_QUERY',
    );
    assert.match(r.body.error.code, /^TAPWATCH_SQL_(NOT_READ_ONLY|FORBIDDEN|BAD_QUERY)$/);
  }
  assert.equal(existsSync(evilFile), false, 'no file was written');
  assert.deepEqual(await counts(), before, 'nothing changed');
  assert.equal((await sql(tw.url, 'SELECT * FROM evil')).status, 400, 'no table evil exists');
});

test('resource exhaustion is cut by the limits with an error naming the limit', async () => {
  const before = await counts();
  const tooManyRows = await sql(tw.url, 'SELECT arrayJoin(range(100000)) AS n');
  assert.equal(tooManyRows.status, 422);
  assert.equal(tooManyRows.body.error.code, 'TAPWATCH_SQL_LIMIT');
  assert.match(tooManyRows.body.error.message, /max_result_rows|max rows/i);
  const sorted = await sql(tw.url, 'SELECT n FROM (SELECT arrayJoin(range(100000)) AS n) ORDER BY n');
  assert.equal(sorted.status, 422);
  assert.match(sorted.body.error.message, /Limit for result exceeded, max rows/);

  const tooManyBytes = await sql(tw.url, `SELECT repeat('x', 1000000) AS big FROM (SELECT arrayJoin(range(100)) AS n)`);
  assert.equal(tooManyBytes.status, 422, JSON.stringify(tooManyBytes.body));
  assert.equal(tooManyBytes.body.error.code, 'TAPWATCH_SQL_LIMIT');
  assert.match(tooManyBytes.body.error.message, /max_result_bytes/);

  // A cross join of 10^14 pairs: stopped by max_execution_time (2 s here) or the memory limit, whichever comes first.
  const started = Date.now();
  const huge = await sql(tw.url, 'SELECT count() FROM (SELECT arrayJoin(range(10000000)) AS a) AS x CROSS JOIN (SELECT arrayJoin(range(10000000)) AS b) AS y');
  assert.equal(huge.status, 422, JSON.stringify(huge.body));
  assert.equal(huge.body.error.code, 'TAPWATCH_SQL_LIMIT');
  assert.match(huge.body.error.message, /timeout|time limit|elapsed|memory/i);
  assert.ok(Date.now() - started < 60_000);

  const alive = await rows(tw.url, 'SELECT count() AS n FROM tool_calls');
  assert.ok(alive[0].n >= 8, 'the server still answers');
  assert.deepEqual(await counts(), before);
});

test('errors say what was wrong: syntax with position, unknown table with the list, missing parameter', async () => {
  const syntax = await sql(tw.url, 'SELECT count( FROM tool_calls');
  assert.equal(syntax.status, 400);
  assert.equal(syntax.body.error.code, 'TAPWATCH_SQL_BAD_QUERY');
  assert.match(syntax.body.error.message, /Syntax error.*position \d+/);
  const misspelt = await sql(tw.url, 'SELEC 1');
  assert.match(misspelt.body.error.message, /position 1\b/, "the position counts from the start of the user's query");
  const unknown = await sql(tw.url, 'SELECT * FROM tool_cals');
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error.message, /unknown table tool_cals.*tool_calls.*calls_per_hour/);
  const missing = await sql(tw.url, 'SELECT {n:UInt32} AS n');
  assert.equal(missing.status, 400);
  assert.match(missing.body.error.message, /n/);
  const badFormat = await fetch(`${tw.url}/v1/sql`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify({ sql: 'SELECT 1', format: 'xml' }),
  });
  assert.equal(badFormat.status, 400);
  assert.match(((await badFormat.json()) as any).error.message, /format/);
});

test('named parameters, CTEs, qualified names and a trailing semicolon work', async () => {
  const p = await rows(
    tw.url,
    'SELECT count() AS n, {label:String} AS label FROM tool_calls WHERE session = {s:String} AND response_bytes >= {min:UInt64}',
    undefined,
    {
      s: session,
      min: 1000,
      label: "it's",
    },
  );
  assert.deepEqual(p, [{ n: 7, label: "it's" }]);
  const cte = await rows(
    tw.url,
    'WITH mine AS (SELECT * FROM tapwatch.tool_calls WHERE session = {s:String}) SELECT tool, count() AS n FROM mine GROUP BY tool ORDER BY tool;',
    undefined,
    { s: session },
  );
  assert.deepEqual(cte, [
    { tool: 'read', n: 7 },
    { tool: 'write', n: 1 },
  ]);
});

test('format csv answers text/csv with a header row and RFC 4180 quoting', async () => {
  const r = await fetch(`${tw.url}/v1/sql`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify({
      sql: `SELECT tool, count() AS n, 'a,"b"' AS q FROM tool_calls WHERE session = {s:String} GROUP BY tool ORDER BY tool`,
      params: { s: session },
      format: 'csv',
    }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
  assert.equal(await r.text(), 'tool,n,q\r\nread,7,"a,""b"""\r\nwrite,1,"a,""b"""\r\n');
  const viaQuery = await fetch(`${tw.url}/v1/sql?format=csv`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify({ sql: 'SELECT 1 AS one' }),
  });
  assert.equal(await viaQuery.text(), 'one\r\n1\r\n');
});

test('the ready-made views answer with real data', async () => {
  const hourly = await rows(tw.url, `SELECT tool, calls, errors, request_bytes FROM calls_per_hour WHERE server = 'guard-server' ORDER BY tool`);
  assert.deepEqual(hourly, [
    { tool: 'read', calls: 7, errors: 1, request_bytes: 700 },
    { tool: 'write', calls: 1, errors: 1, request_bytes: 5000 },
  ]);
  const talkers = await rows(tw.url, `SELECT agent, server, calls, request_bytes, response_bytes, total_bytes FROM top_talkers WHERE agent = 'agent-guard'`);
  assert.deepEqual(talkers, [{ agent: 'agent-guard', server: 'guard-server', calls: 8, request_bytes: 5700, response_bytes: 7050, total_bytes: 12750 }]);
  const timeline = await rows(tw.url, 'SELECT calls, errors, timeline FROM session_timelines WHERE session = {s:String}', undefined, { s: session });
  assert.equal(timeline[0].calls, 8);
  assert.equal(timeline[0].errors, 2);
  assert.equal(timeline[0].timeline.length, 8);
  assert.deepEqual(timeline[0].timeline.map((c: unknown[]) => c[1]).sort(), ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'write']);
  const errors = await rows(
    tw.url,
    `SELECT tool, calls, errors, error_rate, rpc_errors, tool_errors, last_error FROM error_rates WHERE server = 'guard-server' ORDER BY tool`,
  );
  assert.deepEqual(errors, [
    { tool: 'read', calls: 7, errors: 1, error_rate: 0.1429, rpc_errors: 1, tool_errors: 0, last_error: 'boom' },
    { tool: 'write', calls: 1, errors: 1, error_rate: 1, rpc_errors: 0, tool_errors: 1, last_error: 'denied' },
  ]);
  const defs = await rows(tw.url, `SELECT tool, description, changed FROM tool_definition_history WHERE server = 'guard-server' ORDER BY tool`);
  assert.deepEqual(defs, [
    { tool: 'read', description: 'Reads a file', changed: false },
    { tool: 'write', description: 'Writes a file', changed: false },
  ]);
});

test('a body of more than one statement is refused before anything runs; ";" in strings and comments is fine', async () => {
  for (const q of [
    'SELECT 1; SELECT name FROM system.tables',
    'SELECT 1;SELECT throwIf(1, (SELECT toString(groupArray(name)) FROM system.tables))',
    "SELECT count() FROM tool_calls; SELECT * FROM file('/etc/passwd', 'LineAsString')",
    'SELECT 1; -- one more\nSELECT 2;',
  ]) {
    const r = await sql(tw.url, q);
    assert.equal(r.status, 400, `${q} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'TAPWATCH_SQL_MULTI_STATEMENT', q);
    assert.match(r.body.error.message, /one statement per request/);
    assert.doesNotMatch(r.body.error.message, /system|passwd|tool_definitions/, 'the second statement did not run');
  }
  assert.deepEqual(await rows(tw.url, "SELECT ';' AS s"), [{ s: ';' }]);
  assert.deepEqual(await rows(tw.url, 'SELECT 1 /* ; SELECT 2 */ AS n -- ;\n;'), [{ n: 1 }]);
  assert.deepEqual(await rows(tw.url, 'SELECT `a;b` FROM (SELECT 2 AS `a;b`);'), [{ 'a;b': 2 }]);
  const syntax = await sql(tw.url, 'SELECT count( FROM tool_calls; SELECT 1');
  assert.equal(syntax.status, 400);
  assert.match(syntax.body.error.code, /^TAPWATCH_SQL_(BAD_QUERY|MULTI_STATEMENT)$/);
});

test("a CTE name in a comment, a string or another scope does not open one of tapwatch's hidden tables", async () => {
  const refused = [
    '/* , webhook_deadletters AS ( */ SELECT count() AS n FROM webhook_deadletters',
    "WITH mine AS (SELECT ', webhook_deadletters AS (' AS s) SELECT count() AS n FROM mine, webhook_deadletters",
    'SELECT * FROM (WITH webhook_deadletters AS (SELECT 1 AS x) SELECT * FROM webhook_deadletters) AS a, (SELECT count() AS n FROM webhook_deadletters) AS b',
    'WITH webhook_deadletters AS (SELECT count() AS n FROM webhook_deadletters) SELECT * FROM webhook_deadletters',
    '-- , schema_migrations AS (\nSELECT count() AS n FROM schema_migrations',
  ];
  for (const q of refused) {
    const r = await sql(tw.url, q);
    assert.equal(r.status, 400, `${q} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'TAPWATCH_SQL_BAD_QUERY', q);
    assert.match(r.body.error.message, /unknown table (webhook_deadletters|schema_migrations): query one of tapwatch's tables/, q);
  }
  // Real CTEs, in the scopes they are visible in, still answer.
  assert.deepEqual(
    await rows(tw.url, 'SELECT y FROM (WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM b UNION ALL SELECT x FROM a) ORDER BY y'),
    [{ y: 1 }, { y: 2 }],
  );
  assert.deepEqual(
    await rows(tw.url, 'WITH t AS (SELECT tool FROM tool_calls WHERE session = {s:String}) SELECT count() AS n FROM (SELECT * FROM t)', undefined, {
      s: session,
    }),
    [{ n: 8 }],
  );
});

test("one token's slow queries do not hold up another token's query, and past its queue a token gets 429", async () => {
  const other = new TokenFile(join(tw.dataDir, 'tokens.json')).create(`sql-${randomUUID().slice(0, 8)}`, 'sql').token;
  await waitFor('the new token accepted', async () => (await sql(tw.url, 'SELECT 1 AS one', other)).status === 200);
  // Runs until TAPWATCH_SQL_TIMEOUT_S (2 s here) cuts it.
  const slow = 'SELECT count() FROM (SELECT arrayJoin(range(100000)) AS a) AS x CROSS JOIN (SELECT arrayJoin(range(100000)) AS b) AS y';
  const order: string[] = [];
  const first = sql(tw.url, slow).then((r) => (order.push('slow 1'), r));
  await new Promise((r) => setTimeout(r, 300));
  const more = [2, 3, 4, 5, 6].map((n) => sql(tw.url, slow).then((r) => (order.push(`slow ${n}`), r)));
  await new Promise((r) => setTimeout(r, 300));
  const quick = await sql(tw.url, 'SELECT 1 AS one', other);
  order.push('other token');
  assert.equal(quick.status, 200, JSON.stringify(quick.body));
  const answers = await Promise.all([first, ...more]);
  const busy = answers.filter((r) => r.status === 429);
  assert.equal(busy.length, 1, `one past 1 running + 4 waiting is refused: ${answers.map((r) => r.status).join(' ')}`);
  assert.equal(busy[0]!.body.error.code, 'TAPWATCH_SQL_BUSY');
  assert.equal(answers.filter((r) => r.status === 422).length, 5, 'the others ran into the time limit');
  const slowAnswered = order.filter((o) => o.startsWith('slow') && answers[Number(o.split(' ')[1]) - 1]!.status === 422);
  const before = order.indexOf('other token');
  assert.ok(
    order.slice(0, before).filter((o) => slowAnswered.includes(o)).length <= 2,
    `the other token waited for at most the slow query running and the one started before its turn came: ${order.join(', ')}`,
  );
});
