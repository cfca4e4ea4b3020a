/**
 * The dashboard end to end in headless Chromium (Debian's `chromium`, driven
 * by playwright-core): a real `tapwatch up` with a token, real
 * server-everything traffic through real taps, alerts from real detectors.
 * Each view is checked for the live data and saved as a screenshot under
 * test/artifacts/screenshots/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startKafka } from '../support/kafka.mjs';
import { EVERYTHING, EVERYTHING_2025, ROOT, connectThroughTap, rows, startTapwatch, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test', 'artifacts', 'screenshots');
const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
let tw: RunningTapwatch;
let browser: Browser;
let page: Page;
let outlierSession = '';

async function shot(name: string): Promise<void> {
  const path = join(SHOTS, `${name}.png`);
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 10_000, `${name}.png written`);
}

/** A real definition change: the 2025 and the current server-everything under one name. */
async function rugPull(name: string): Promise<void> {
  for (const server of [EVERYTHING_2025, EVERYTHING]) {
    const t = await connectThroughTap({ sink: tw.url, name, agent: 'agent-ui', server: [process.execPath, server, 'stdio'], env: { TAPWATCH_TOKEN: TOKEN } });
    await t.client.listTools();
    await t.close();
  }
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (apt-get install -y chromium; .ci/run does it)`);
  mkdirSync(SHOTS, { recursive: true });
  tw = await startUp({ token: TOKEN, env: { TAPWATCH_OUTLIER_MIN_SAMPLES: '15' } });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (err) => assert.fail(`page error: ${err.message}`));
});

after(async () => {
  await browser?.close();
  await tw?.stop();
});

test('the page asks for the token, keeps it for the tab, and the alert stream goes live', async () => {
  await page.goto(tw.url);
  await page.waitForSelector('#login[open]');
  await page.fill('#token', 'wrong');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#login[open]');
  await waitFor('refusal shown', async () => (await page.textContent('#login-error'))?.includes('refused'));
  await shot('0-login');
  await page.fill('#token', TOKEN);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#live.on');
  assert.equal(await page.evaluate('sessionStorage.getItem("tapwatch.token")'), TOKEN);
  await page.reload();
  await page.waitForSelector('#live.on');
  assert.equal(await page.isVisible('#login'), false, 'no second prompt in the same tab');
});

test('live alert feed: a real outlier appears without reload, coloured by severity, evidence expands', async () => {
  const tapped = await connectThroughTap({
    sink: tw.url,
    name: 'everything',
    agent: 'agent-ui',
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  outlierSession = tapped.session;
  await tapped.client.listTools();
  for (let i = 0; i < 20; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
  await tapped.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
  await tapped.client.callTool({ name: 'no-such-tool', arguments: {} }).catch(() => undefined);
  await tapped.client.callTool({ name: 'echo', arguments: { message: 'x'.repeat(300_000) } });
  await tapped.close();
  await rugPull('docs-helper');

  const item = page.locator(`#alert-list li[data-detector="result_size_outlier"][data-session="${outlierSession}"]`);
  await item.waitFor({ timeout: 30_000 });
  await page.locator('#alert-list li[data-detector="tool_definition_changed"]').first().waitFor({ timeout: 30_000 });
  const badge = item.locator('.badge');
  const severity = (await badge.textContent())!.trim();
  assert.ok(['low', 'medium', 'high', 'critical'].includes(severity));
  assert.match((await item.getAttribute('class'))!, new RegExp(`sev-${severity}`));
  const colour = await badge.evaluate((el) => (globalThis as any).getComputedStyle(el).backgroundColor);
  assert.notEqual(colour, 'rgba(0, 0, 0, 0)', 'the severity badge is coloured');
  assert.match((await item.textContent())!, /echo/);
  await item.locator('summary').click();
  const evidence = await item.locator('pre.evidence').textContent();
  assert.match(evidence!, /observedBytes/, 'the evidence is shown');
  await shot('1-alerts');

  // Silence the detector on that server from the alert, see it listed, end it.
  page.once('dialog', (d) => void d.accept('looking into it'));
  await item.locator('button.silence').click();
  const row = page.locator('#silences tbody tr');
  await row.first().waitFor();
  assert.match((await row.first().textContent())!, /result_size_outlier\s*everything.*looking into it/);
  const listed: any = await (await fetch(`${tw.url}/v1/silences`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
  assert.ok(listed.items.some((x: any) => x.active && x.detector === 'result_size_outlier' && x.server === 'everything' && x.reason === 'looking into it'));
  await row.first().locator('button.end-silence').click();
  await waitFor('silence ended', async () => (await row.count()) === 0);
  assert.match((await page.textContent('#silence-count'))!, /0 active/);

  await item.locator('button.ack').click();
  await page.locator(`#alert-list li[data-session="${outlierSession}"].st-acknowledged`).waitFor();
  const stored: any = await (
    await fetch(`${tw.url}/v1/alerts?session=${outlierSession}&detector=result_size_outlier`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json();
  assert.equal(stored.items[0].status, 'acknowledged', 'the button acknowledged it through the API');
});

test('clicking an alert opens its session timeline with the calls that led to it', async () => {
  await page.click('#tabs button[data-view=alerts]');
  const item = page.locator(`#alert-list li[data-detector="result_size_outlier"][data-session="${outlierSession}"]`);
  if (!(await item.locator('details').evaluate((d) => (d as any).open === true))) await item.locator('summary').click();
  await item.locator('button.open-session').click();
  await page.waitForSelector('#view-session.active #session-timeline li.k-alert');
  const kinds = await page.locator('#session-timeline li').evaluateAll((lis) => lis.map((li) => String((li as any).dataset.kind)));
  assert.equal(kinds[0], 'session_start');
  assert.equal(kinds[kinds.length - 1], 'session_end');
  assert.equal(kinds.filter((k) => k === 'tool_call').length, 23);
  const cause = page.locator('#session-timeline li.cause');
  assert.ok((await cause.count()) >= 1, 'the calls that caused the alert are marked');
  assert.match((await cause.first().textContent())!, /echo ok \(3000\d\d bytes/);
  assert.ok((await page.locator('#session-strip svg circle').count()) >= 25, 'the strip places every entry on the time axis');
  assert.match((await page.textContent('#session-head'))!, /agent-ui/);
  await shot('2-session');
});

test('traffic: per-server and per-tool charts drawn from the stats', async () => {
  await page.click('#tabs button[data-view=traffic]');
  const chart = page.locator('#server-charts .chart[data-server="everything"]');
  await chart.waitFor();
  assert.match((await chart.locator('.figures').textContent())!, /23 calls · [1-9]\d* errors/);
  assert.ok((await chart.locator('svg rect.bar').count()) >= 1, 'call bars');
  assert.ok((await chart.locator('svg rect.err').count()) >= 1, 'error bars');
  assert.ok((await chart.locator('svg circle.alertmark').count()) >= 1, 'alert marks');
  const tools = page.locator('#tool-chart svg');
  assert.match((await tools.textContent())!, /everything \/ echo/);
  assert.match((await tools.textContent())!, /21/, 'echo was called 21 times');
  await shot('3-traffic');
});

test('tools: the definition diff view shows what changed between versions', async () => {
  await page.click('#tabs button[data-view=tools]');
  const row = page.locator('#tool-table tbody tr[data-server="docs-helper"][data-tool="echo"]');
  await row.waitFor();
  assert.match((await row.textContent())!, /docs-helper\s*echo\s*2\s*1/);
  await row.click();
  await page.waitForSelector('#tool-history .version .diff .add');
  assert.equal(await page.locator('#tool-history .version').count(), 2);
  const added = await page.locator('#tool-history .diff .add').allTextContents();
  const removed = await page.locator('#tool-history .diff .del').allTextContents();
  assert.ok(
    added.some((t) => t.includes('"description": "Echoes back the input string"')),
    added.join('\n'),
  );
  assert.ok(
    removed.some((t) => t.includes('"description": "Echoes back the input"')),
    removed.join('\n'),
  );
  await shot('4-tools-diff');
});

test('SQL console: results as a table; errors say what is wrong', async () => {
  await page.click('#tabs button[data-view=sql]');
  await page.fill('#sql-text', `SELECT tool, count() AS calls FROM tool_calls WHERE session = '${outlierSession}' GROUP BY tool ORDER BY calls DESC`);
  await page.click('#sql-form button[type=submit]');
  await page.waitForSelector('#sql-result tbody tr');
  const expected = await rows(tw.url, `SELECT tool, count() AS calls FROM tool_calls WHERE session = {s:String} GROUP BY tool ORDER BY calls DESC`, TOKEN, {
    s: outlierSession,
  });
  const cells = await page.locator('#sql-result tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(
    cells,
    expected.map((r) => [r.tool, String(r.calls)]),
  );
  assert.deepEqual(await page.locator('#sql-result thead th').allTextContents(), ['tool', 'calls']);
  await shot('5-sql');
  await page.fill('#sql-text', 'DROP TABLE tool_calls');
  await page.click('#sql-form button[type=submit]');
  await waitFor('error shown', async () => (await page.textContent('#sql-error'))?.match(/TAPWATCH_SQL/));
  assert.equal(
    (await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', TOKEN, { s: outlierSession }))[0].n,
    23,
    'nothing dropped',
  );
});

test("the compose shape: `tapwatch api` serves the dashboard and streams the analyzer's alerts from Kafka", async () => {
  const broker = await startKafka();
  const id = randomUUID().slice(0, 8);
  const token = `svc-${id}`;
  const env = {
    KAFKA_BROKERS: broker.brokers,
    TAPWATCH_EVENTS_TOPIC: `events-${id}`,
    TAPWATCH_ALERTS_TOPIC: `alerts-${id}`,
    TAPWATCH_CONSUMER_GROUP: `analyzer-${id}`,
    TAPWATCH_TOKEN: token,
  };
  const services: RunningTapwatch[] = [];
  const own = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    services.push(await startTapwatch('analyzer', { env }));
    const api = await startTapwatch('api', { env });
    services.push(api);
    await own.goto(api.url);
    await own.waitForSelector('#login[open]');
    await own.fill('#token', token);
    await own.click('#login-form button[type=submit]');
    await own.waitForSelector('#live.on');
    for (const server of [EVERYTHING_2025, EVERYTHING]) {
      const t = await connectThroughTap({
        sink: `kafka://${broker.brokers}`,
        name: 'compose-srv',
        server: [process.execPath, server, 'stdio'],
        env: { TAPWATCH_EVENTS_TOPIC: `events-${id}` },
      });
      await t.client.listTools();
      await t.close();
    }
    const item = own.locator('#alert-list li[data-detector="tool_definition_changed"]').first();
    await item.waitFor({ timeout: 60_000 });
    assert.match((await item.textContent())!, /compose-srv/);
    await own.evaluate('window.scrollTo(0, 0)');
    await own.screenshot({ path: join(SHOTS, '6-compose-alerts.png'), fullPage: true });
    // The SQL console answers from the api's own storage (here an empty engine of its own; in compose, the shared server).
    await own.click('#tabs button[data-view=sql]');
    await own.fill('#sql-text', 'SELECT count() AS n FROM tool_calls');
    await own.click('#sql-form button[type=submit]');
    await own.waitForSelector('#sql-result tbody tr');
    assert.deepEqual(await own.locator('#sql-result thead th').allTextContents(), ['n']);
  } finally {
    await own.close();
    const codes = await Promise.all(services.map((x) => x.stop()));
    await broker.stop();
    assert.ok(
      codes.every((c) => c === 0),
      `services exit cleanly: ${codes.join(',')}`,
    );
  }
});
