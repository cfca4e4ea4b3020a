/**
 * Retention and erasure on a real `tapwatch up` (embedded ClickHouse):
 * every data table gets a TTL from the settings, content columns a shorter
 * one; changing a setting and restarting applies it to what is stored; and
 * `tapwatch purge` erases one subject's rows from every table, recording
 * that it did without keeping the subject.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { toolCallEvent, sessionEndEvent } from '../support/events.js';
import { TAPWATCH_BIN, authHeader, localToken, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';

const running: RunningTapwatch[] = [];
after(async () => {
  await Promise.all(running.map((r) => r.stop()));
});

async function up(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<RunningTapwatch> {
  const tw = await startUp({ args: ['--data', dataDir], env });
  running.push(tw);
  return tw;
}

async function ingest(tw: RunningTapwatch, events: unknown[]): Promise<void> {
  const r = await fetch(`${tw.url}/v1/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(localToken('ingest')) },
    body: JSON.stringify(events),
  });
  assert.equal(r.status, 202, await r.text());
}

function cli(tw: RunningTapwatch, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TAPWATCH_BIN, ...args, '--url', tw.url], (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();

test('retention from settings: content columns expire first, then the calls; a changed setting applies to what is stored', async () => {
  const dataDir = tempDir('retention');
  let tw = await up(dataDir);
  const session = `ret-${randomUUID()}`;
  const call = (age: number) =>
    toolCallEvent({
      session,
      time: daysAgo(age),
      startedAt: daysAgo(age),
      requestId: String(age),
      capture: 'redacted',
      arguments: { note: `${age} days old` },
    });
  await ingest(tw, [call(0), call(2), call(5)]);
  const stored = () =>
    rows(tw.url, 'SELECT request_id, arguments FROM tool_calls WHERE session = {s:String} ORDER BY toUInt32(request_id)', localToken(), { s: session });
  await waitFor('three calls stored', async () => (await stored()).length === 3);
  // The defaults (30 / 180 days) keep all three, with their arguments.
  assert.deepEqual(
    (await stored()).map((r) => [r.request_id, r.arguments.length > 0]),
    [
      ['0', true],
      ['2', true],
      ['5', true],
    ],
  );
  // Stopped without stop(), which would remove the data directory: the next start reuses it.
  const exited = new Promise((r) => tw.proc.once('exit', r));
  tw.proc.kill('SIGTERM');
  await exited;
  running.splice(running.indexOf(tw), 1);
  tw = await up(dataDir, { TAPWATCH_RETENTION_CONTENT_DAYS: '1', TAPWATCH_RETENTION_CALLS_DAYS: '3' });
  const after = await waitFor('the new retention applied to stored rows', async () => {
    const r = await stored();
    return r.length === 2 && r[1]?.arguments === '' ? r : undefined;
  });
  assert.deepEqual(
    after.map((r) => [r.request_id, r.arguments.length > 0]),
    [
      ['0', true],
      ['2', false],
    ],
    'the 5-day-old call is gone, the 2-day-old one kept without its arguments',
  );
});

test('tapwatch purge --agent erases the agent everywhere, keeps the others, and records the purge without the name', async () => {
  const tw = await up(tempDir('purge'));
  const [gone, kept] = [`agent-gone-${randomUUID().slice(0, 8)}`, `agent-kept-${randomUUID().slice(0, 8)}`];
  const secret = { kind: 'secret' as const, where: 'arguments' as const, rule: 'aws_access_key_id', excerpt: 'AKIA[REDACTED]' };
  const events = [gone, kept].flatMap((agent) => [
    toolCallEvent({ agent, session: `${agent}-s`, findings: [secret] }),
    toolCallEvent({ agent, session: `${agent}-s`, requestId: '2' }),
    sessionEndEvent({ agent, session: `${agent}-s` }),
  ]);
  await ingest(tw, events);
  const count = async (agent: string) => {
    const [calls = 0, sessions = 0, alerts = 0] = await Promise.all(
      ['tool_calls', 'sessions', 'alerts'].map(async (t) =>
        Number((await rows(tw.url, `SELECT count() AS n FROM ${t} WHERE agent = {a:String}`, localToken(), { a: agent }))[0]?.n),
      ),
    );
    return { calls, sessions, alerts };
  };
  await waitFor('both agents stored, with their alerts', async () => (await count(gone)).alerts > 0 && (await count(kept)).alerts > 0);
  const before = await count(kept);

  // A silence naming the agent is data about it too.
  const silence = await fetch(`${tw.url}/v1/silences`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader() },
    body: JSON.stringify({ agent: gone, durationMinutes: 60, reason: 'noisy laptop' }),
  });
  assert.equal(silence.status, 201);
  const silencedAgents = async () =>
    ((await (await fetch(`${tw.url}/v1/silences`, { headers: authHeader() })).json()) as { items: { agent: string }[] }).items.map((x) => x.agent);
  assert.ok((await silencedAgents()).includes(gone));

  const dry = await cli(tw, ['purge', '--agent', gone]);
  assert.equal(dry.code, 1);
  assert.match(dry.stdout, /run again with --yes/);
  assert.equal((await count(gone)).calls, 2, 'a dry run erases nothing');

  const done = await cli(tw, ['purge', '--agent', gone, '--yes']);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /^erased agent agent-gone-\w+: .*tool_calls 2.*alerts \d+/);
  assert.deepEqual(await count(gone), { calls: 0, sessions: 0, alerts: 0 });
  assert.ok(!(await silencedAgents()).includes(gone), 'its silence is erased too');
  assert.deepEqual(await count(kept), before);

  const list = await cli(tw, ['purge', '--list', '--json']);
  const records = JSON.parse(list.stdout) as { subject: string; subjectHash: string; by: string; rows: Record<string, number> }[];
  assert.equal(records.length, 1);
  assert.equal(records[0]!.subject, 'agent');
  assert.equal(records[0]!.rows.tool_calls, 2);
  assert.equal(records[0]!.by, 'local-admin');
  assert.ok(!list.stdout.includes(gone), 'the record keeps a hash, not the agent');

  // Exactly one subject; only admins.
  const both = await fetch(`${tw.url}/v1/purges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader() },
    body: JSON.stringify({ agent: kept, server: 'fs' }),
  });
  assert.equal(both.status, 422);
  const ingestRole = await fetch(`${tw.url}/v1/purges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(localToken('ingest')) },
    body: JSON.stringify({ agent: kept }),
  });
  assert.equal(ingestRole.status, 403);
});
