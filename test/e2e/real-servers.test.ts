/**
 * No false alarms on real servers. Every captured real server
 * (test/fixtures/real-servers/, each the server's own answers, see the README
 * there) is replayed behind the real `tapwatch tap` into one real
 * `tapwatch up`, all under one agent as a developer who wraps every server of
 * a client would: it lists its tools (prompts and resources where offered),
 * and a few of its tools are called with plain results. Name collisions
 * between servers happen here as they do in real setups (`search`, `fetch`,
 * `create_issue`). Nothing of medium severity or more may be raised.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ROOT, authHeader, connectThroughTap, localToken, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

const DIR = join(ROOT, 'test', 'fixtures', 'real-servers');
const REPLAY = join(ROOT, 'test', 'fixtures', 'replay-definitions.mjs');
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
let tw: RunningTapwatch;
const agent = `developer-${randomUUID().slice(0, 8)}`;

before(async () => {
  tw = await startUp();
});
after(async () => {
  await tw?.stop();
});

test(`at least 25 real servers are captured, each with its provenance`, () => {
  assert.ok(fixtures.length >= 25, `${fixtures.length} fixtures`);
  for (const f of fixtures) {
    const x = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { server: Record<string, unknown>; captured: Record<string, unknown>; tools: unknown };
    for (const k of ['registry', 'package', 'version', 'licence']) assert.ok(x.server[k], `${f}: server.${k}`);
    assert.ok(x.captured.at && x.captured.how, `${f}: how it was captured`);
    assert.ok(Array.isArray(x.tools), `${f}: tools`);
  }
});

test('every captured server behind the real tap: no alert of medium or more', async () => {
  const sessions: string[] = [];
  for (const f of fixtures) {
    const fixture = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { tools: { name: string; outputSchema?: unknown }[] };
    const tapped = await connectThroughTap({ sink: tw.url, agent, server: [process.execPath, REPLAY, join(DIR, f)] });
    sessions.push(tapped.session);
    try {
      await tapped.client.listTools();
      const caps = tapped.client.getServerCapabilities() ?? {};
      if (caps.prompts) await tapped.client.listPrompts();
      if (caps.resources) await tapped.client.listResources();
      // A few ordinary calls, the first tools listed (those without an outputSchema: the client would
      // want structured content the replay cannot make up).
      for (const t of fixture.tools.filter((x) => !x.outputSchema).slice(0, 3)) await tapped.client.callTool({ name: t.name, arguments: {} });
    } finally {
      await tapped.close();
    }
  }
  await waitFor('every session ended and stored', async () => {
    const r = await rows(tw.url, "SELECT count() AS n FROM sessions WHERE session IN {s:Array(String)} AND event = 'end'", localToken(), { s: sessions });
    return Number(r[0]?.n) === sessions.length;
  });
  // A batch leaves the bus only once the analyzer has stored it and emitted its alerts.
  await waitFor('the analyzer done with every batch', async () => {
    const h = (await (await fetch(`${tw.url}/healthz`, { headers: authHeader() })).json()) as { queued?: number };
    return h.queued === 0;
  });
  const alerts = await rows(tw.url, 'SELECT severity, detector, server, tool, title FROM alerts WHERE agent = {a:String} ORDER BY time', localToken(), {
    a: agent,
  });
  const loud = alerts.filter((a) => ['medium', 'high', 'critical'].includes(String(a.severity)));
  assert.deepEqual(
    loud.map((a) => `${a.severity} ${a.detector} ${a.server}/${a.tool}: ${a.title}`),
    [],
    `${loud.length} medium+ alerts on real servers`,
  );
});
