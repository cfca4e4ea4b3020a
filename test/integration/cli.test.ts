/**
 * The commands for people against a real `tapwatch up` (with a token and a
 * rules file that raises one alert per call): `tapwatch sql`, `alerts`
 * (stored and --follow) and `status`, run as real processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TAPWATCH_BIN, freePort, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const ESC = String.fromCharCode(27);
const TOKEN = `tok-${randomUUID()}`;
const run = randomUUID().slice(0, 8);
let tw: RunningTapwatch;
let n = 0;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tapwatch <args>` against the test server; env on top (TAPWATCH_URL/TOKEN set unless overridden). */
function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const fullEnv: NodeJS.ProcessEnv = { ...process.env, TAPWATCH_URL: tw.url, TAPWATCH_TOKEN: TOKEN, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
    for (const k of Object.keys(fullEnv)) if (fullEnv[k] === undefined) delete fullEnv[k];
    execFile(process.execPath, [TAPWATCH_BIN, ...args], { env: fullEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function call(tool: string, server = `${run}-srv`) {
  n++;
  return toolCallEvent({ session: `cli-${run}`, agent: `agent-${run}-${n}`, server, tool, requestId: String(n), durationMs: 2, responseBytes: 20 });
}

async function ingest(events: unknown[]): Promise<void> {
  const r = await fetch(`${tw.url}/v1/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(events),
  });
  assert.equal(r.status, 202);
}

before(async () => {
  const dir = tempDir('cli-rules');
  const rules = join(dir, 'rules.yaml');
  writeFileSync(rules, 'version: 1\nrules:\n  - id: cli-alarm\n    description: the alarm tool ran\n    severity: high\n    when: { tool: alarm }\n');
  tw = await startUp({ token: TOKEN, env: { TAPWATCH_RULES: rules } });
  await ingest([call('read'), call('read'), call('write'), call('alarm')]);
  await waitFor('calls and the alert stored', async () => {
    const r = await rows(
      tw.url,
      `SELECT (SELECT count() FROM tool_calls WHERE session = {s:String}) AS calls, (SELECT count() FROM alerts WHERE detector = 'rule:cli-alarm') AS alerts`,
      TOKEN,
      {
        s: `cli-${run}`,
      },
    );
    return r[0].calls === 4 && r[0].alerts === 1;
  });
});
after(async () => {
  await tw?.stop();
});

test('tapwatch sql prints an aligned table; --json, --csv and --param work', async () => {
  const table = await cli(['sql', `SELECT tool, count() AS calls FROM tool_calls WHERE session = 'cli-${run}' GROUP BY tool ORDER BY tool`]);
  assert.equal(table.code, 0, table.stderr);
  assert.equal(table.stdout, ['tool   calls', '-----  -----', 'alarm      1', 'read       2', 'write      1', '(3 rows)', ''].join('\n'));

  const json = await cli([
    'sql',
    '--json',
    '--param',
    `s=cli-${run}`,
    '--param',
    'min=2',
    'SELECT tool, count() AS calls FROM tool_calls WHERE session = {s:String} GROUP BY tool HAVING calls >= {min:UInt32}',
  ]);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), [{ tool: 'read', calls: 2 }]);

  const csv = await cli(['sql', '--csv', `SELECT tool, 'a,b' AS q FROM tool_calls WHERE session = 'cli-${run}' AND tool = 'write'`]);
  assert.equal(csv.stdout, 'tool,q\r\nwrite,"a,b"\r\n');
});

test('tapwatch sql errors: refused SQL, missing token, unreachable API, usage', async () => {
  const refused = await cli(['sql', 'SELECT * FROM system.users']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^tapwatch sql: system\.users is outside tapwatch's database.*TAPWATCH_SQL_FORBIDDEN/);
  const noToken = await cli(['sql', 'SELECT 1'], { TAPWATCH_TOKEN: undefined });
  assert.equal(noToken.code, 1);
  assert.match(noToken.stderr, /TAPWATCH_UNAUTHORIZED.*--token or set TAPWATCH_TOKEN/);
  const port = await freePort();
  const down = await cli(['sql', '--url', `http://127.0.0.1:${port}`, 'SELECT 1']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach tapwatch at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  const usage = await cli(['sql']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected one query/);
  for (const cmd of ['sql', 'alerts', 'status']) {
    const help = await cli([cmd, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: tapwatch ${cmd}`));
    assert.match(help.stdout, /--url URL/);
  }
});

test('tapwatch alerts prints one line per alert, filtered; colour only when asked for or on a terminal', async () => {
  const plain = await cli(['alerts', '--detector', 'rule:cli-*']);
  assert.equal(plain.code, 0, plain.stderr);
  const lines = plain.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, new RegExp(`^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}  HIGH      rule:cli-alarm  ${run}-srv/alarm  agent-${run}-4  `));
  assert.ok(!plain.stdout.includes(ESC), 'no colour when stdout is not a terminal');

  const coloured = await cli(['alerts', '--detector', 'rule:cli-*'], { FORCE_COLOR: '1' });
  assert.ok(coloured.stdout.includes(`${ESC}[1;31mHIGH`), coloured.stdout);
  const noColour = await cli(['alerts', '--detector', 'rule:cli-*'], { FORCE_COLOR: '1', NO_COLOR: '1' });
  assert.ok(!noColour.stdout.includes(ESC), 'NO_COLOR wins');

  const none = await cli(['alerts', '--detector', 'rule:cli-*', '--severity', 'critical']);
  assert.equal(none.stdout, '');
  const json = await cli(['alerts', '--json', '--server', `${run}-srv`, '--tool', 'alarm']);
  const alert = JSON.parse(json.stdout.trim());
  assert.equal(alert.detector, 'rule:cli-alarm');
  assert.equal(alert.tool, 'alarm');
  const bad = await cli(['alerts', '--severity', 'urgent']);
  assert.equal(bad.code, 2);
});

test('tapwatch alerts --follow prints new alerts as they come, after the stored ones, and stops on SIGTERM', async () => {
  const proc = spawn(process.execPath, [TAPWATCH_BIN, 'alerts', '--follow', '--detector', 'rule:cli-alarm'], {
    env: { ...process.env, TAPWATCH_URL: tw.url, TAPWATCH_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  try {
    await waitFor('the stored alert', () => out.includes(`agent-${run}-4`), 30_000);
    // Raised while the follower may still be connecting: it resumes after the last alert it printed, so none is lost.
    const live = call('alarm');
    await ingest([live]);
    await waitFor('the live alert', () => out.includes(live.agent), 30_000);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 2, out);
    assert.match(lines[1]!, /HIGH\s+rule:cli-alarm/);
  } finally {
    proc.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
});

test('tapwatch status shows health, rate, storage and alerts; exit 1 when unreachable', async () => {
  const s = await cli(['status']);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^tapwatch at http:\/\/127\.0\.0\.1:\d+: ok \(mode up, store ok\)$/m);
  assert.match(s.stdout, /^ingest\s+\d+ events accepted, 0 refused$/m);
  assert.match(s.stdout, /^analyzer\s+\d+ in, \d+ stored, \d+ alerts/m);
  assert.match(
    s.stdout,
    /^detectors\s+baselines per \(server, tool\) after 20 calls: result size \d+ learned\/[1-9]\d* learning, arguments \d+ learned\/\d+ learning, latency \d+ learned\/\d+ learning; \d+ tool definitions pinned, [1-9]\d* servers known/m,
  );
  assert.match(s.stdout, /^lag\s+\d+ events waiting/m);
  assert.match(s.stdout, /^rate\s+\d+ calls in the last minute/m);
  // Disk use per table, for retention decisions.
  assert.match(s.stdout, /^storage\s+\d+ rows, [\d.]+ (B|KiB|MiB) on disk \(.*tool_calls \d+ \([\d.]+ (B|KiB|MiB)\)/m);
  assert.match(s.stdout, /^stream\s+\d+ subscribers?, \d+ alerts sent, 0 dropped/m);
  assert.match(s.stdout, /^alerts\s+last hour: critical \d+, high [1-9]\d*, medium \d+, low \d+$/m);
  const json = JSON.parse((await cli(['status', '--json'])).stdout);
  assert.equal(json.health.status, 'ok');
  assert.ok(json.health.storage.tables.tool_calls.rows >= 4);
  // The tools called so far have too few calls for a baseline of their own: still learning.
  assert.equal(json.health.learning.resultSize.minSamples, 20);
  assert.equal(json.health.learning.resultSize.learned, 0);
  assert.ok(json.health.learning.resultSize.learning >= 1);
  assert.ok(json.activity.calls_1h >= 4);
  const port = await freePort();
  const down = await cli(['status', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach tapwatch/);
});
