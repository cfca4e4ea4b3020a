/**
 * Prometheus /metrics on every service, scraped from the real processes and
 * parsed strictly as the text exposition format (0.0.4): `tapwatch up` with
 * real traffic and alerts, then `tapwatch ingest`, `analyzer` and `api`
 * around a real Kafka broker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { startKafka, type RunningKafka } from '../support/kafka.mjs';
import { EVERYTHING, localToken, connectThroughTap, startTapwatch, startUp, subscribeAlerts, waitFor, type RunningTapwatch } from '../support/helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition format; throws on anything malformed (so the test checks the format, not just values). */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (kind === 'TYPE') {
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!), `type of ${name}`);
        assert.ok(!types.has(name!), `one TYPE line for ${name}`);
        types.set(name!, rest!);
      } else helps.add(name!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `sample line: ${JSON.stringify(line)}`);
    const [, name, , labelText, valueText] = m;
    assert.ok(types.has(name!), `${name} has its TYPE before its samples`);
    assert.ok(helps.has(name!), `${name} has HELP`);
    if (types.get(name!) === 'counter') assert.match(name!, /_total$|_seconds$/, `${name}: counters end in _total`);
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/g;
      let consumed = 0;
      for (let lm = re.exec(labelText); lm; lm = re.exec(labelText)) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed += lm[0].length;
      }
      assert.equal(consumed, labelText.length, `labels of ${line}`);
    }
    const value = Number(valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : valueText);
    assert.ok(!Number.isNaN(value) || valueText === 'NaN', `value of ${line}`);
    const key = `${name}${JSON.stringify(labels)}`;
    assert.ok(!seen.has(key), `no duplicate series ${key}`);
    seen.add(key);
    samples.push({ name: name!, labels, value });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

async function scrape(url: string, token: string = localToken()): Promise<Sample[]> {
  const r = await fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await r.text()).samples;
}

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
let tw: RunningTapwatch;

before(async () => {
  tw = await startUp({ token: TOKEN, env: { TAPWATCH_OUTLIER_MIN_SAMPLES: '15' } });
});

after(async () => {
  await tw?.stop();
});

test('tapwatch up: events in, inserts, alerts by detector and severity, ingest rejects, WebSocket clients', async () => {
  const unauthorized = await fetch(`${tw.url}/metrics`);
  assert.equal(unauthorized.status, 401, 'the token guards /metrics too');
  const before = await scrape(tw.url, TOKEN);
  assert.equal(value(before, 'tapwatch_up', { service: 'up' }), 1);
  assert.equal(value(before, 'tapwatch_ws_clients'), 0);
  const stream = await subscribeAlerts(tw.url, TOKEN);
  try {
    const tapped = await connectThroughTap({
      sink: tw.url,
      name: 'metrics-srv',
      server: [process.execPath, EVERYTHING, 'stdio'],
      env: { TAPWATCH_TOKEN: TOKEN },
    });
    await tapped.client.listTools();
    for (let i = 0; i < 20; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
    await tapped.client.callTool({ name: 'echo', arguments: { message: 'q'.repeat(250_000) } });
    await tapped.close();
    await stream.waitForAlert((a) => a.detector === 'result_size_outlier' && a.session === tapped.session, 'outlier', 30_000);
    const bad = await fetch(`${tw.url}/v1/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: '{not json',
    });
    assert.equal(bad.status, 400);

    // session_start + tools_list + 21 calls + session_end
    const events = 24;
    const after = await waitFor('counters caught up', async () => {
      const m = await scrape(tw.url, TOKEN);
      return (value(m, 'tapwatch_analyzer_events_stored_total') ?? 0) >= events ? m : undefined;
    });
    assert.equal(value(after, 'tapwatch_ingest_events_total'), events);
    assert.equal(value(after, 'tapwatch_analyzer_events_in_total'), events);
    assert.equal(value(after, 'tapwatch_analyzer_events_stored_total'), events);
    assert.equal(value(after, 'tapwatch_ingest_rejected_total', { reason: 'not_json' }), 1);
    assert.equal(value(after, 'tapwatch_ingest_rejected_total', { reason: 'bad_shape' }), 0);
    assert.equal(value(after, 'tapwatch_analyzer_dropped_records_total'), 0);
    assert.equal(value(after, 'tapwatch_ws_clients'), 1);
    const outlier = stream.alerts.find((a) => a.detector === 'result_size_outlier')!;
    assert.ok((value(after, 'tapwatch_alerts_total', { detector: 'result_size_outlier', severity: outlier.severity }) ?? 0) >= 1);
    const alertSeries = after.filter((s) => s.name === 'tapwatch_alerts_total');
    const total = alertSeries.reduce((n, s) => n + s.value, 0);
    assert.equal(total, stream.alerts.length, 'every alert counted once, by detector and severity');
    assert.equal(value(after, 'tapwatch_alerts_published_total'), stream.alerts.length);
    assert.ok((value(after, 'tapwatch_ws_messages_sent_total') ?? 0) >= stream.alerts.length);
    assert.equal(value(after, 'tapwatch_bus_queued_events'), 0);
  } finally {
    stream.close();
  }
  await waitFor('subscriber gone', async () => value(await scrape(tw.url, TOKEN), 'tapwatch_ws_clients') === 0);
});

test('tapwatch ingest, analyzer and api each serve /metrics (Kafka)', async () => {
  const broker: RunningKafka = await startKafka();
  const id = randomUUID().slice(0, 8);
  const env = {
    KAFKA_BROKERS: broker.brokers,
    TAPWATCH_EVENTS_TOPIC: `events-${id}`,
    TAPWATCH_ALERTS_TOPIC: `alerts-${id}`,
    TAPWATCH_CONSUMER_GROUP: `analyzer-${id}`,
  };
  const services: RunningTapwatch[] = [];
  try {
    const analyzer = await startTapwatch('analyzer', { env });
    services.push(analyzer);
    const ingest = await startTapwatch('ingest', { env });
    services.push(ingest);
    const api = await startTapwatch('api', { env });
    services.push(api);
    const stream = await subscribeAlerts(api.url);
    try {
      const tapped = await connectThroughTap({ sink: ingest.url, name: 'kafka-metrics', server: [process.execPath, EVERYTHING, 'stdio'] });
      for (let i = 0; i < 3; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `k${i}` } });
      await tapped.close();
      // session_start + 3 calls + session_end (no tools/list)
      const m = await waitFor('ingest counted', async () => {
        const s = await scrape(ingest.url);
        return value(s, 'tapwatch_ingest_events_total') === 5 ? s : undefined;
      });
      assert.equal(value(m, 'tapwatch_up', { service: 'ingest' }), 1);
      assert.equal(value(m, 'tapwatch_ingest_requests_total')! >= 1, true);
      const a = await waitFor(
        'analyzer counted',
        async () => {
          const s = await scrape(analyzer.url);
          return value(s, 'tapwatch_analyzer_events_stored_total') === 5 ? s : undefined;
        },
        30_000,
      );
      assert.equal(value(a, 'tapwatch_up', { service: 'analyzer' }), 1);
      assert.equal(value(a, 'tapwatch_analyzer_events_in_total'), 5);
      assert.ok(a.some((s) => s.name === 'tapwatch_alerts_silenced_total'));
      // The consumer's own figures: lag back to 0 once everything is in, and a record that is
      // not an event counted as dead-lettered.
      assert.equal(value(a, 'tapwatch_dead_lettered_total'), 0);
      await waitFor('lag drained', async () => value(await scrape(analyzer.url), 'tapwatch_consumer_lag_total') === 0, 30_000);
      const producer = new Kafka({ clientId: `poison-${id}`, brokers: [broker.brokers], logLevel: logLevel.NOTHING }).producer();
      await producer.connect();
      try {
        await producer.send({ topic: env.TAPWATCH_EVENTS_TOPIC, messages: [{ key: 'x', value: 'not an event' }] });
      } finally {
        await producer.disconnect();
      }
      await waitFor('the poison record dead-lettered', async () => value(await scrape(analyzer.url), 'tapwatch_dead_lettered_total') === 1, 30_000);
      const p = await scrape(api.url);
      assert.equal(value(p, 'tapwatch_up', { service: 'api' }), 1);
      assert.equal(value(p, 'tapwatch_ws_clients'), 1);
      assert.equal(value(p, 'tapwatch_ingest_events_total'), 0, 'nothing came through the api ingest');
    } finally {
      stream.close();
    }
  } finally {
    const codes = await Promise.all(services.map((s) => s.stop()));
    await broker.stop();
    assert.ok(
      codes.every((c) => c === 0),
      `services exit cleanly: ${codes.join(',')}`,
    );
  }
});
