/**
 * Nothing for the wrapped server to steal: a real `tapwatch tap` wrapping a
 * hostile server (test/fixtures/snooping-server.mjs) and the real
 * server-everything (`get-env`). The server's environment holds no TAPWATCH_*
 * setting, and the tap's own initial environment and command line, which a
 * same-user process reads in /proc/<ppid>, no longer hold the token or the
 * webhook secret once the tap has read them; the tap still delivers with it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { EVERYTHING, ROOT, connectThroughTap, localToken, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

const SNOOP = join(ROOT, 'test', 'fixtures', 'snooping-server.mjs');
const TOKEN = `tok-${randomUUID()}`;
const SECRET = `whsec-${randomUUID()}`;
let configured: RunningTapwatch;
let local: RunningTapwatch;

before(async () => {
  [configured, local] = await Promise.all([startUp({ token: TOKEN }), startUp({ env: { TAPWATCH_TOKEN: '' } })]);
});
after(async () => {
  await Promise.all([configured?.stop(), local?.stop()]);
});

interface Snooped {
  ownEnv: Record<string, string>;
  parentEnviron: string[];
  parentCmdline: string[];
}

async function snoop(tw: RunningTapwatch, env: Record<string, string>): Promise<{ seen: Snooped; session: string }> {
  const tapped = await connectThroughTap({ sink: tw.url, name: 'snooper', server: [process.execPath, SNOOP], env });
  try {
    const r = (await tapped.client.callTool({ name: 'snoop', arguments: {} })) as { content: Array<{ text: string }> };
    return { seen: JSON.parse(r.content[0]!.text) as Snooped, session: tapped.session };
  } finally {
    await tapped.close();
  }
}

test('a token in the environment: the server gets no TAPWATCH_* and finds neither secret in /proc of the tap', async () => {
  const { seen, session } = await snoop(configured, { TAPWATCH_TOKEN: TOKEN, TAPWATCH_WEBHOOK_SECRET: SECRET, TAPWATCH_AGENT: 'snooped-agent' });
  assert.deepEqual(seen.ownEnv, {}, 'no TAPWATCH_* variable in the server environment');
  assert.ok(
    seen.parentEnviron.includes('TAPWATCH_AGENT=snooped-agent'),
    `the test reads the tap's own environment (${seen.parentEnviron.filter((s) => s.startsWith('TAPWATCH')).join(' ')})`,
  );
  const all = [...seen.parentEnviron, ...seen.parentCmdline].join('\n');
  assert.ok(!all.includes(TOKEN), 'the token is not in the tap environment or command line');
  assert.ok(!all.includes(SECRET), 'nor the webhook secret');
  // The tap read the token before wiping it: its events were accepted.
  await waitFor(
    'the snooped call stored',
    async () => (await rows(configured.url, `SELECT 1 FROM tool_calls WHERE session = '${session}'`, TOKEN)).length === 1,
  );
});

test('server-everything get-env through the tap lists no TAPWATCH_* variable', async () => {
  const tapped = await connectThroughTap({
    sink: configured.url,
    name: 'everything-env',
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN, TAPWATCH_AGENT: 'env-agent' },
  });
  try {
    const r = (await tapped.client.callTool({ name: 'get-env', arguments: {} })) as { content: Array<{ text: string }> };
    const text = r.content.map((c) => c.text).join('\n');
    assert.match(text, /PATH/, 'the tool printed the environment');
    assert.doesNotMatch(text, /TAPWATCH_/);
    assert.ok(!text.includes(TOKEN));
  } finally {
    await tapped.close();
  }
});

test('with the local ingest token nothing secret is in the environment at all, and the events arrive', async () => {
  const { seen, session } = await snoop(local, {});
  assert.deepEqual(seen.ownEnv, {});
  const all = [...seen.parentEnviron, ...seen.parentCmdline].join('\n');
  assert.ok(!all.includes(localToken('ingest')) && !all.includes(localToken('admin')), 'no local token in /proc of the tap');
  await waitFor('the call stored', async () => (await rows(local.url, `SELECT 1 FROM tool_calls WHERE session = '${session}'`)).length === 1);
});
