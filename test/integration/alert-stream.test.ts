/**
 * The alert stream `/v1/alerts/stream`: server-side filters (query string and
 * subscribe messages), resume from storage with no gap and no duplicate
 * (against a real `tapwatch up` whose rules raise one alert per call), and
 * the hub's protections on a real port: the connection limit, slow
 * subscribers cut off without slowing others, dead connections dropped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';
import { AlertHub } from '@tapwatch/bus';
import { attachAlertStream, type AlertStream } from '@tapwatch/dashboard-api';
import type { Alert } from '@tapwatch/schema';
import { authHeader, localToken, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;

interface Client {
  ws: WebSocket;
  alerts: any[];
  control: any[];
  closed: Promise<{ code: number; reason: string }>;
  send: (msg: unknown) => void;
}

/** Opens the stream; messages with a `type` are control messages, the rest alerts. */
async function connect(url: string, query = '', options: WebSocket.ClientOptions = {}): Promise<Client> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/alerts/stream${query}`, { ...options, headers: { ...authHeader(), ...options.headers } });
  const alerts: any[] = [];
  const control: any[] = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    (typeof m.type === 'string' ? control : alerts).push(m);
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
    ws.once('unexpected-response', (_req, r) => rej(new Error(`upgrade refused: ${r.statusCode}`)));
  });
  return { ws, alerts, control, closed, send: (msg) => ws.send(JSON.stringify(msg)) };
}

describe('with a real tapwatch up', () => {
  let tw: RunningTapwatch;
  const run = randomUUID().slice(0, 8);
  let n = 0;

  before(async () => {
    const dir = tempDir('stream-rules');
    const rules = join(dir, 'rules.yaml');
    writeFileSync(
      rules,
      `version: 1\nrules:\n${SEVERITIES.map((s) => `  - id: t-${s}\n    description: a ${s} call\n    severity: ${s}\n    when: { tool: t-${s} }\n`).join('')}`,
    );
    tw = await startUp({ env: { TAPWATCH_TOKEN: '', TAPWATCH_RULES: rules } });
  });
  after(async () => {
    await tw?.stop();
  });

  /** One call that raises one alert: severity from the tool, a fresh agent so no two alerts merge. */
  function call(severity: (typeof SEVERITIES)[number], server: string) {
    n++;
    return toolCallEvent({ session: `stream-${run}`, agent: `agent-${run}-${n}`, server, tool: `t-${severity}`, requestId: String(n), responseBytes: 10 });
  }

  async function ingest(events: unknown[]): Promise<void> {
    const r = await fetch(`${tw.url}/v1/ingest`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    assert.equal(r.status, 202);
  }

  const mine = (a: any) => typeof a.detector === 'string' && a.detector.startsWith('rule:t-') && a.agent.startsWith(`agent-${run}-`);

  test('query-string filters: minimum severity and servers (comma list), applied by the server', async () => {
    const all = await connect(tw.url);
    const filtered = await connect(tw.url, `?severity=high&server=${run}-a,${run}-b&detector=rule:t-*`);
    const events = [
      ...SEVERITIES.map((s) => call(s, `${run}-a`)),
      ...SEVERITIES.map((s) => call(s, `${run}-b`)),
      ...SEVERITIES.map((s) => call(s, `${run}-c`)),
      call('critical', `${run}-a`), // the last one matches both: once it is in, everything before it is
    ];
    await ingest(events);
    await waitFor('every alert on the unfiltered stream', () => all.alerts.filter(mine).length === events.length);
    await waitFor('the sentinel on the filtered stream', () => filtered.alerts.some((a) => a.agent === events[events.length - 1]!.agent));
    const expected = all.alerts.filter((a) => mine(a) && (a.severity === 'high' || a.severity === 'critical') && a.server !== `${run}-c`).map((a) => a.id);
    // The analyzer may raise a rule's severity (corroboration): the expectation is what the server actually sent.
    assert.ok(expected.length >= 5 && expected.length < events.length, `${expected.length} of ${events.length} pass the filters`);
    assert.deepEqual(
      filtered.alerts.map((a) => a.id),
      expected,
    );
    assert.deepEqual(filtered.control, [], 'a plain client gets alerts only');
    for (const a of filtered.alerts) assert.equal(a.type, undefined, 'alerts are the plain alert objects');
    all.ws.close();
    filtered.ws.close();
  });

  test('a subscribe message replaces the filters and is acknowledged; bad filters get an error message', async () => {
    const c = await connect(tw.url, '?severity=critical');
    c.send({ type: 'subscribe', filters: { severity: 'bogus' } });
    await waitFor('the error', () => c.control.find((m) => m.type === 'error'));
    assert.match(c.control[0].error.message, /unknown severity "bogus"/);
    c.send({ type: 'subscribe', filters: { tool: ['t-low', 't-medium'], agent: `agent-${run}-*` } });
    const ack = await waitFor('the ack', () => c.control.find((m) => m.type === 'subscribed'));
    assert.deepEqual(ack.filters, { server: [], tool: ['t-low', 't-medium'], agent: [`agent-${run}-*`], detector: [] });
    c.send({ type: 'ping' });
    await waitFor('the pong', () => c.control.find((m) => m.type === 'pong'));
    const events = [call('critical', `${run}-s`), call('low', `${run}-s`), call('medium', `${run}-s`), call('high', `${run}-s`), call('low', `${run}-s`)];
    await ingest(events);
    await waitFor('the last low alert', () => c.alerts.some((a) => a.agent === events[4]!.agent));
    assert.deepEqual(
      c.alerts.map((a) => a.tool),
      ['t-low', 't-medium', 't-low'],
      'the subscribe message replaced severity=critical',
    );
    c.ws.close();
  });

  test('resume: since=<alert id> replays what was missed in order, then goes live with no gap and no duplicate', async () => {
    const first = [call('low', `${run}-r`), call('medium', `${run}-r`), call('high', `${run}-r`)];
    await ingest(first);
    const stored = await waitFor('three alerts stored', async () => {
      const r = await rows(tw.url, `SELECT id, toString(time) AS t FROM alerts WHERE server = {s:String} ORDER BY time, id`, undefined, { s: `${run}-r` });
      return r.length === 3 ? r : undefined;
    });

    // Alerts keep coming while the client connects and replays.
    const live = Array.from({ length: 30 }, (_, i) => call(SEVERITIES[i % 4]!, `${run}-r`));
    const feeding = (async () => {
      for (let i = 0; i < live.length; i += 3) await ingest(live.slice(i, i + 3));
    })();
    const c = await connect(tw.url, `?since=${encodeURIComponent(stored[0].id)}&server=${run}-r`);
    await feeding;
    const end = await waitFor('the replay end', () => c.control.find((m) => m.type === 'replay_end'));
    assert.ok(end.replayed >= 2);
    await waitFor('every alert after the first', () => c.alerts.length >= 32, 30_000);
    const expected = await rows(
      tw.url,
      `SELECT id FROM alerts WHERE server = {s:String} AND (time, id) > (SELECT time, id FROM alerts WHERE id = {id:String} LIMIT 1) ORDER BY time, id`,
      undefined,
      { s: `${run}-r`, id: stored[0].id },
    );
    assert.equal(expected.length, 32);
    const got = c.alerts.map((a) => a.id);
    assert.equal(new Set(got).size, got.length, 'no duplicate');
    assert.deepEqual([...got].sort(), expected.map((r) => r.id).sort(), 'no gap: exactly the alerts after since');
    assert.deepEqual(got.slice(0, 2), [stored[1].id, stored[2].id], 'the replay comes first, in (time, id) order');
    c.ws.close();
  });

  test('resume from an ISO time; an unknown id is refused with a message and the stream stays live', async () => {
    const t0 = new Date(Date.now() - 1000).toISOString();
    const events = [call('low', `${run}-t`), call('high', `${run}-t`)];
    await ingest(events);
    await waitFor(
      'stored',
      async () => (await rows(tw.url, 'SELECT count() AS n FROM alerts WHERE server = {s:String}', undefined, { s: `${run}-t` }))[0].n === 2,
    );
    const c = await connect(tw.url, `?since=${encodeURIComponent(t0)}&server=${run}-t`);
    await waitFor('the replay end', () => c.control.find((m) => m.type === 'replay_end'));
    assert.deepEqual(c.alerts.map((a) => a.tool).sort(), ['t-high', 't-low']);

    const bad = await connect(tw.url, `?since=no-such-alert&server=${run}-u`);
    const err = await waitFor('the error', () => bad.control.find((m) => m.type === 'error'));
    assert.equal(err.error.code, 'TAPWATCH_STREAM_UNKNOWN_SINCE');
    await ingest([call('low', `${run}-u`)]);
    await waitFor('live alerts after a failed resume', () => bad.alerts.length === 1);
    // A subscribe message can resume too: new filters, then the replay under them.
    bad.send({ type: 'subscribe', filters: { server: `${run}-t` }, since: t0 });
    await waitFor('the second replay end', () => bad.control.filter((m) => m.type === 'replay_end').length === 2);
    assert.deepEqual(
      bad.alerts
        .slice(1)
        .map((a) => a.tool)
        .sort(),
      ['t-high', 't-low'],
    );
    c.ws.close();
    bad.ws.close();
  });

  test('a browser subscribes with ?token= and query filters, changes them with a subscribe message, and resumes', async () => {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${tw.url}/healthz`);
      const wsUrl = `${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream?token=${encodeURIComponent(localToken())}&server=${run}-w&severity=critical`;
      await page.evaluate(async (url) => {
        const w = globalThis as unknown as { msgs: unknown[]; ws: WebSocket };
        w.msgs = [];
        w.ws = new WebSocket(url);
        w.ws.onmessage = (e) => w.msgs.push(JSON.parse(String(e.data)));
        await new Promise((r, j) => {
          w.ws.onopen = r;
          w.ws.onerror = j;
        });
      }, wsUrl);
      const msgs = () => page.evaluate(() => (globalThis as unknown as { msgs: any[] }).msgs);
      const first = [call('low', `${run}-w`), call('critical', `${run}-w`)];
      await ingest(first);
      await waitFor('the critical alert in the browser', async () => (await msgs()).some((m) => m.agent === first[1]!.agent));
      assert.deepEqual(
        (await msgs()).map((m) => m.tool),
        ['t-critical'],
        'the low one was filtered out by the server',
      );

      await page.evaluate(() => (globalThis as unknown as { ws: WebSocket }).ws.send(JSON.stringify({ type: 'subscribe', filters: { tool: 't-low' } })));
      await waitFor('the ack', async () => (await msgs()).some((m) => m.type === 'subscribed'));
      const second = [call('critical', `${run}-w`), call('low', `${run}-w`)];
      await ingest(second);
      await waitFor('the low alert in the browser', async () => (await msgs()).some((m) => m.agent === second[1]!.agent));
      assert.deepEqual(
        (await msgs()).filter((m) => m.type === undefined).map((m) => m.tool),
        ['t-critical', 't-low'],
      );

      // Reconnect from the first alert seen: the browser gets what it missed under its filters, then replay_end.
      const firstId = (await msgs())[0].id as string;
      const replayed = await page.evaluate(
        async (url) => {
          const got: any[] = [];
          const ws = new WebSocket(url);
          ws.onmessage = (e) => got.push(JSON.parse(String(e.data)));
          await new Promise<void>((r) => {
            const t = setInterval(() => {
              if (got.some((m) => m.type === 'replay_end')) {
                clearInterval(t);
                r();
              }
            }, 20);
          });
          ws.close();
          return got;
        },
        `${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream?token=${encodeURIComponent(localToken())}&server=${run}-w&since=${encodeURIComponent(firstId)}`,
      );
      const expected = await rows(
        tw.url,
        `SELECT id FROM alerts WHERE server = {s:String} AND (time, id) > (SELECT time, id FROM alerts WHERE id = {id:String} LIMIT 1) ORDER BY time, id`,
        undefined,
        { s: `${run}-w`, id: firstId },
      );
      const ids = replayed.filter((m) => m.type === undefined).map((m) => m.id);
      assert.deepEqual(
        ids,
        expected.map((r) => r.id),
        'exactly what was stored after it, in order',
      );
      assert.ok(ids.length >= 2, 'at least the two alerts raised after it');
    } finally {
      await browser.close();
    }
  });

  test('a bad filter in the query string refuses the upgrade with 400', async () => {
    await assert.rejects(connect(tw.url, '?severity=urgent'), /upgrade refused: 400/);
    await assert.rejects(connect(tw.url, '?colour=red'), /upgrade refused: 400/);
  });
});

describe('the hub on a real port', () => {
  let server: Server;
  let url: string;
  let hub: AlertHub;
  let stream: AlertStream;

  async function open(options: Parameters<typeof attachAlertStream>[2]): Promise<void> {
    server = createServer((_req, res) => res.writeHead(404).end());
    hub = new AlertHub();
    stream = attachAlertStream(server, hub, options);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  async function close(): Promise<void> {
    await stream.close();
    await new Promise<void>((r) => server.close(() => r()));
  }

  function alert(i: number, evidenceBytes = 100): Alert {
    return {
      id: `a-${i}`,
      time: new Date().toISOString(),
      severity: 'high',
      detector: 'test',
      title: `alert ${i}`,
      server: 's',
      tool: 't',
      agent: 'g',
      session: 'x',
      evidence: { pad: 'x'.repeat(evidenceBytes) },
      eventIds: [],
    };
  }

  test('past TAPWATCH_WS_MAX_CLIENTS a subscriber is closed at once with 1013 and a reason; the others keep working', async () => {
    await open({ maxClients: 2 });
    try {
      const a = await connect(url);
      const b = await connect(url);
      const c = await connect(url);
      const closed = await c.closed;
      assert.equal(closed.code, 1013);
      assert.match(closed.reason, /too many alert-stream subscribers \(TAPWATCH_WS_MAX_CLIENTS\)/);
      hub.deliver(alert(1));
      await waitFor('both admitted clients get the alert', () => a.alerts.length === 1 && b.alerts.length === 1);
      a.ws.close();
      await a.closed;
      await waitFor('the slot is free', () => stream.clients === 1);
      const d = await connect(url);
      hub.deliver(alert(2));
      await waitFor('a new client is admitted once a slot is free', () => d.alerts.length === 1);
      b.ws.close();
      d.ws.close();
    } finally {
      await close();
    }
  });

  test('a subscriber that stops reading is closed with 1013 once its buffer passes the bound; a fast one gets everything', async () => {
    await open({ maxBufferedBytes: 512 * 1024 });
    try {
      const fast = await connect(url);
      const slow = await connect(url);
      // Stop reading: the kernel buffers fill, then the server's send buffer grows.
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      // Each alert waits until the fast subscriber has it: only the slow one falls behind. The kernel's socket
      // buffers take some megabytes first; keep sending until the server has let the slow one go.
      let total = 0;
      while (stream.dropped === 0 && total < 2000) {
        hub.deliver(alert(total, 128 * 1024));
        total++;
        await waitFor(`the fast subscriber got alert ${total}`, () => fast.alerts.length === total, 20_000, 1);
      }
      assert.equal(stream.dropped, 1, `the slow subscriber was let go after ${total} alerts`);
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const closed = await slow.closed;
      assert.equal(closed.code, 1013);
      assert.match(closed.reason, /subscriber too slow: reconnect with since=/);
      assert.ok(slow.alerts.length < total, `the slow one was cut off (${slow.alerts.length} of ${total})`);
      assert.equal(fast.ws.readyState, WebSocket.OPEN);
      fast.ws.close();
    } finally {
      await close();
    }
  });

  test('a connection that stops answering pings is dropped; a live one stays', async () => {
    await open({ heartbeatMs: 150 });
    try {
      const live = await connect(url);
      const dead = await connect(url, '', { autoPong: false });
      const closed = await dead.closed;
      assert.equal(closed.code, 1006, 'terminated without a close frame');
      await waitFor('the dead one is gone', () => stream.clients === 1);
      hub.deliver(alert(1));
      await waitFor('the live one still gets alerts', () => live.alerts.length === 1);
      live.ws.close();
    } finally {
      await close();
    }
  });
});
