/**
 * A web page the user visits, in a real headless Chromium, against a real
 * `tapwatch up` on loopback with no token configured (the weakest setting a
 * user can choose):
 *
 * - cross-site: a page on another origin sends "simple" requests (text/plain,
 *   no preflight) to mute the monitor with a silence and to forge events, and
 *   opens the alert stream (cross-site WebSocket hijacking);
 * - DNS rebinding: a page on `rebind.test`, whose name the browser then
 *   resolves to 127.0.0.1 (Chromium's --host-resolver-rules), reads the API as
 *   its own origin.
 *
 * Each attack succeeded before request-guard.ts; now each is refused and
 * leaves nothing behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { authHeader, localToken, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const CHROMIUM = '/usr/bin/chromium';
let tw: RunningTapwatch;
let browser: Browser;
let attacker: Server;
let attackerUrl = '';
let attackPage = '';

/** What the page does; it reports each outcome in window.results. */
function attackScript(api: string, forged: unknown): string {
  return `
    window.results = {};
    const api = ${JSON.stringify(api)};
    const simple = (path, body) => fetch(api + path, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(body) })
      .then(() => 'sent', (e) => 'error ' + e.message);
    (async () => {
      results.silence = await simple('/v1/silences', { detector: 'exfiltration_chain', durationMinutes: 100000, reason: 'muted by a web page' });
      results.ingest = await simple('/v1/ingest', ${JSON.stringify(forged)});
      results.read = await fetch(api + '/v1/alerts').then((r) => r.status + ' ' + r.type, (e) => 'blocked');
      results.sql = await fetch(api + '/v1/sql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql: 'SELECT 1' }) })
        .then(async (r) => r.status + ' ' + (await r.text()).slice(0, 200), (e) => 'blocked');
      await new Promise((resolve) => {
        const ws = new WebSocket(api.replace(/^http/, 'ws') + '/v1/alerts/stream');
        ws.onopen = () => { results.ws = 'open'; ws.close(); resolve(); };
        ws.onclose = (e) => { results.ws ??= 'closed ' + e.code; resolve(); };
      });
      results.done = true;
    })();`;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (apt-get install -y chromium; .ci/run does it)`);
  tw = await startUp();
  attacker = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(attackPage));
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--host-resolver-rules=MAP rebind.test 127.0.0.1',
      '--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,LocalNetworkAccessChecks',
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => attacker?.close(r));
  await tw?.stop();
});

/** Runs the attack page at `url` and returns what it reported. */
async function runAttack(url: string, html: string, route?: string): Promise<Record<string, unknown>> {
  const page = await browser.newPage();
  try {
    if (route) await page.route(route, (r) => r.fulfill({ status: 200, contentType: 'text/html', body: html }));
    else attackPage = html;
    await page.goto(url);
    await page.waitForFunction('window.results && window.results.done === true', undefined, { timeout: 15_000 });
    return (await page.evaluate('window.results')) as Record<string, unknown>;
  } finally {
    await page.close();
  }
}

/** Posts a genuine event and waits for it, so whatever the page sent before it has been handled too. */
async function settle(): Promise<void> {
  const marker = toolCallEvent({ session: `marker-${randomUUID()}` });
  const r = await fetch(`${tw.url}/v1/ingest`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json' },
    body: JSON.stringify(marker),
  });
  assert.equal(r.status, 202);
  await waitFor('the marker stored', async () => (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE session = '${marker.session}'`)).length === 1);
}

async function forgedStored(session: string): Promise<number> {
  return (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE session = '${session}'`)).length;
}

test('a page on another origin can neither mute the monitor, forge events, read the API nor subscribe to alerts', async () => {
  const forged = toolCallEvent({ session: `forged-${randomUUID()}` });
  const results = await runAttack(attackerUrl, `<html><body><script>${attackScript(tw.url, forged)}</script></body></html>`);
  assert.equal(results.silence, 'sent', 'the browser did send the simple request');
  assert.match(String(results.read), /^blocked|^0 opaque/);
  assert.equal(results.sql, 'blocked', 'no CORS headers: the page cannot read the answer');
  assert.match(String(results.ws), /^closed/, 'the alert stream refused the page');
  await settle();
  const silences = (await (await fetch(`${tw.url}/v1/silences`, { headers: authHeader() })).json()) as { items: unknown[] };
  assert.deepEqual(silences.items, [], 'no silence was created');
  assert.equal(await forgedStored(forged.session), 0, 'the forged event was not stored');
});

test('DNS rebinding: a page whose name now resolves to 127.0.0.1 gets 421 on every route and no stream', async () => {
  const origin = `http://rebind.test:${tw.port}`;
  const forged = toolCallEvent({ session: `rebound-${randomUUID()}` });
  // The browser loads the attacker's page from rebind.test, then (the name re-pointed) talks to tapwatch as that same origin.
  const results = await runAttack(`${origin}/attack`, `<html><body><script>${attackScript(origin, forged)}</script></body></html>`, `${origin}/attack`);
  assert.match(String(results.read), /^421 basic/, 'same-origin read refused by Host');
  assert.match(String(results.sql), /^421 .*TAPWATCH_FOREIGN_HOST/);
  assert.match(String(results.ws), /^closed/);
  await settle();
  const silences = (await (await fetch(`${tw.url}/v1/silences`, { headers: authHeader() })).json()) as { items: unknown[] };
  assert.deepEqual(silences.items, []);
  assert.equal(await forgedStored(forged.session), 0);
});

test('the dashboard itself, opened with the URL tapwatch up prints, works in the same browser', async () => {
  const page = await browser.newPage();
  try {
    const printed = /dashboard: (\S+)/.exec(tw.output())?.[1];
    assert.equal(printed, `${tw.url}/#token=${localToken()}`, 'tapwatch up printed the dashboard URL with the local admin token');
    await page.goto(printed);
    await page.waitForSelector('#live.on', { timeout: 15_000 });
    assert.doesNotMatch(page.url(), /token/, 'the token left the address bar');
    const status = await page.evaluate(async () => {
      const token = (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('tapwatch.token') ?? '';
      const r = await fetch('/v1/sql', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT 1 AS one' }),
      });
      return r.status;
    });
    assert.equal(status, 200);
  } finally {
    await page.close();
  }
});
