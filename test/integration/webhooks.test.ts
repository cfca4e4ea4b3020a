/**
 * Alert delivery to webhooks from a real `tapwatch up`: real alerts (a real
 * tool-definition change of server-everything) posted to real `node:http`
 * receivers on 127.0.0.1 — signed bodies, retries after 500s, a dead letter
 * after the last attempt, Slack's payload shape, silences respected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlertSchema } from '@tapwatch/schema';
import { WebhookPublisher, parseWebhooks } from '@tapwatch/analyzer';
import type { DeadLetter } from '@tapwatch/store';
import { EVERYTHING, EVERYTHING_2025, connectThroughTap, startUp, subscribeAlerts, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const SECRET = `whsec-${Math.random().toString(36).slice(2)}`;
const MAX_ATTEMPTS = 3;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers `status(request)` and keeps every request. */
async function receiver(status: (r: Received, nth: number) => number): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body };
      got.push(r);
      res.statusCode = status(r, got.length);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

function verify(r: Received): boolean {
  const given = String(r.headers['x-tapwatch-signature'] ?? '');
  const expected = `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`;
  return given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected));
}

let tw: RunningTapwatch;
let flaky: Awaited<ReturnType<typeof receiver>>;
let slack: Awaited<ReturnType<typeof receiver>>;
let dead: Awaited<ReturnType<typeof receiver>>;
const tries = new Map<string, number>();
let configDir = '';

async function rugPull(name: string): Promise<string> {
  let session = '';
  for (const server of [EVERYTHING_2025, EVERYTHING]) {
    const t = await connectThroughTap({ sink: tw.url, name, server: [process.execPath, server, 'stdio'], env: { TAPWATCH_TOKEN: TOKEN } });
    await t.client.listTools();
    await t.close();
    session = t.session;
  }
  return session;
}

before(async () => {
  // Fails the first two attempts of every alert, then accepts.
  flaky = await receiver((r) => {
    const id = String(r.headers['x-tapwatch-alert-id']);
    const n = (tries.get(id) ?? 0) + 1;
    tries.set(id, n);
    return n <= 2 ? 500 : 204;
  });
  slack = await receiver(() => 200);
  dead = await receiver(() => 503);
  configDir = tempDir('hooks');
  const config = join(configDir, 'webhooks.json');
  writeFileSync(
    config,
    JSON.stringify([{ url: `${flaky.url}/hook` }, { url: `slack+${slack.url}/services/T000/B000/XXXX` }, { url: `${dead.url}/down`, format: 'json' }]),
  );
  tw = await startUp({
    token: TOKEN,
    env: {
      TAPWATCH_WEBHOOKS: config,
      TAPWATCH_WEBHOOK_SECRET: SECRET,
      TAPWATCH_WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      TAPWATCH_WEBHOOK_BACKOFF_MS: '100',
    },
  });
});

after(async () => {
  await tw?.stop();
  for (const r of [flaky, slack, dead]) r?.server.close();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

test('TAPWATCH_WEBHOOKS: comma lists, JSON and files; slack+ URLs; bad entries name the setting', () => {
  assert.deepEqual(parseWebhooks('http://a/x, slack+https://hooks.slack.com/services/1'), [
    { url: 'http://a/x', format: 'json' },
    { url: 'https://hooks.slack.com/services/1', format: 'slack' },
  ]);
  assert.deepEqual(parseWebhooks('[{"url":"https://b/y","format":"slack","secret":"s"}]'), [{ url: 'https://b/y', format: 'slack', secret: 's' }]);
  assert.deepEqual(parseWebhooks(undefined), []);
  assert.throws(() => parseWebhooks('ftp://x'), /TAPWATCH_WEBHOOKS/);
  assert.throws(() => parseWebhooks('[{"url":"http://a","format":"xml"}]'), /TAPWATCH_WEBHOOKS\[0\]/);
  assert.throws(() => parseWebhooks('/no/such/file.json'), /TAPWATCH_WEBHOOKS: cannot read/);
});

test('real alerts reach the webhooks signed, retried after 500s, in Slack shape, and dead-lettered after the last attempt', async () => {
  const stream = await subscribeAlerts(tw.url, TOKEN);
  let alert: any;
  try {
    const session = await rugPull('hooked-srv');
    alert = await stream.waitForAlert((a) => a.session === session && a.detector === 'tool_definition_changed', 'definition change', 30_000);
  } finally {
    stream.close();
  }

  // Signed JSON, retried until accepted: three attempts of one delivery.
  const attempts = await waitFor('three attempts at the flaky receiver', () => {
    const mine = flaky.got.filter((r) => r.headers['x-tapwatch-alert-id'] === alert.id);
    return mine.length >= 3 ? mine : undefined;
  });
  assert.equal(attempts.length, 3, 'no attempt after the one that was accepted');
  assert.deepEqual(
    attempts.map((r) => r.headers['x-tapwatch-attempt']),
    ['1', '2', '3'],
  );
  assert.equal(new Set(attempts.map((r) => r.headers['x-tapwatch-delivery'])).size, 1, 'one delivery id across retries');
  for (const r of attempts) {
    assert.equal(r.path, '/hook');
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.ok(verify(r), 'the signature verifies against the body');
    assert.ok(!verify({ ...r, body: r.body.replace('"', ' "') }), 'a changed body does not verify');
    const ts = Number(r.headers['x-tapwatch-timestamp']);
    assert.ok(Number.isInteger(ts) && Math.abs(ts * 1000 - Date.now()) < 10 * 60_000, 'a unix timestamp header');
    const body = AlertSchema.parse(JSON.parse(r.body));
    assert.equal(body.id, alert.id);
    assert.deepEqual(body, alert, 'the body is the alert as streamed');
  }

  // Slack's incoming-webhook shape.
  const toSlack = await waitFor('slack payload', () => slack.got.find((r) => (JSON.parse(r.body) as { text: string }).text.includes(alert.title)));
  assert.equal(toSlack.path, '/services/T000/B000/XXXX');
  assert.ok(verify(toSlack));
  const payload = JSON.parse(toSlack.body);
  assert.deepEqual(Object.keys(payload).sort(), ['blocks', 'text']);
  assert.match(payload.text, new RegExp(`^\\[${alert.severity.toUpperCase()}\\] tool_definition_changed: `));
  assert.ok(Array.isArray(payload.blocks) && payload.blocks.length >= 3);
  for (const b of payload.blocks) assert.ok(['header', 'section', 'context'].includes(b.type), b.type);
  assert.equal(payload.blocks[0].text.type, 'plain_text');
  assert.ok(JSON.stringify(payload.blocks).includes('hooked-srv'));

  // The endpoint that never answers 2xx: MAX_ATTEMPTS tries, then a dead letter.
  const letters = await waitFor(
    'dead letter stored',
    async () => {
      const r = await fetch(`${tw.url}/v1/webhooks/deadletters?alert=${encodeURIComponent(alert.id)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const body = (await r.json()) as { items: any[] };
      return body.items.length > 0 ? body.items : undefined;
    },
    30_000,
  );
  assert.equal(letters.length, 1);
  assert.equal(letters[0].attempts, MAX_ATTEMPTS);
  assert.equal(letters[0].lastStatus, 503);
  assert.equal(letters[0].lastError, 'HTTP 503');
  assert.equal(letters[0].url, `${dead.url}/down`);
  assert.deepEqual(JSON.parse(letters[0].payload), alert);
  assert.equal(dead.got.filter((r) => r.headers['x-tapwatch-alert-id'] === alert.id).length, MAX_ATTEMPTS);
  await waitFor('every alert accepted by the flaky receiver', () => [...tries.values()].every((n) => n >= 3));
  assert.equal(flaky.got.length, 3 * tries.size, 'every alert took exactly three attempts at the flaky receiver');
  assert.match(tw.output(), /webhook delivery failed; written to webhook_deadletters/);

  const metrics = await (await fetch(`${tw.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const deadCount = Number(/tapwatch_webhook_deliveries_total\{result="dead_lettered"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(deadCount >= 1);
});

test('a silenced alert goes to no webhook', async () => {
  const r = await fetch(`${tw.url}/v1/silences`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ server: 'muted-srv', durationMinutes: 10, reason: 'test' }),
  });
  assert.equal(r.status, 201);
  const muted = await rugPull('muted-srv');
  const loud = await rugPull('loud-hook-srv');
  // Alerts go out in order: once loud-hook-srv's has arrived, muted-srv's would have too.
  await waitFor('loud alert delivered', () => slack.got.some((x) => x.body.includes('loud-hook-srv')), 30_000);
  assert.ok(!slack.got.some((x) => x.body.includes('muted-srv')), 'nothing about the silenced server');
  const stored = await (await fetch(`${tw.url}/v1/alerts?session=${muted}&silenced=true`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  assert.ok((stored as { items: unknown[] }).items.length >= 1, 'the silenced alert is stored and flagged');
  assert.ok(loud);
});

test('a delivery still waiting for its retry at shutdown is written as a dead letter, not lost', async () => {
  const down = await receiver(() => 500);
  const letters: DeadLetter[] = [];
  const hooks = new WebhookPublisher({
    webhooks: [{ url: `${down.url}/x`, format: 'json' }],
    secret: SECRET,
    maxAttempts: 5,
    backoffMs: 600_000,
    deadLetter: async (d) => void letters.push(d),
  });
  try {
    const alert = {
      id: 'shutdown-1',
      time: new Date().toISOString(),
      severity: 'low' as const,
      detector: 'd',
      title: 't',
      server: 's',
      tool: 'x',
      agent: 'a',
      session: 'z',
      evidence: {},
      eventIds: [],
    };
    await hooks.publish([alert]);
    await waitFor('first attempt failed', () => hooks.stats.failedAttempts === 1);
    assert.equal(hooks.stats.pending, 1);
    await hooks.close();
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.alertId, 'shutdown-1');
    assert.equal(letters[0]!.attempts, 1);
    assert.equal(letters[0]!.lastStatus, 500);
    assert.match(letters[0]!.lastError, /HTTP 500; shut down before the next attempt/);
    assert.deepEqual([hooks.stats.pending, hooks.stats.deadLettered, down.got.length], [0, 1, 1]);
    assert.ok(verify(down.got[0]!));
  } finally {
    down.server.close();
  }
});
