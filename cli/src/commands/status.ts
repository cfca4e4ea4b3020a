/**
 * `tapwatch status`: the pipeline's health in a few lines, from `/healthz`
 * (store, ingest counters, analyzer counters, queue depth, storage) and SQL
 * (event rate, last event, alerts of the last hour).
 */
import type { LearningState } from '@tapwatch/analyzer';
import { CLIENT_HELP, CLIENT_OPTIONS, CliError, apiFailure, paint, parseCommand, request, runCli, targetFrom, useColour, type Target } from '../client.js';

export const STATUS_HELP = `Usage: tapwatch status [options]

Shows whether tapwatch is healthy and what it is doing: the store, events
accepted and refused, the analyzer's counters, events waiting in the queue
(the lag of the in-process bus), the call rate, storage per table and the
alerts of the last hour. Exits 1 when tapwatch is unreachable or degraded.

  --json         print everything as one JSON object
${CLIENT_HELP}
`;

interface Health {
  status?: string;
  store?: string;
  mode?: string;
  queued?: number;
  ingest?: { accepted?: number; rejected?: Record<string, number> };
  analyzer?: Record<string, number>;
  learning?: LearningState;
  storage?: { rows: number; bytes: number; tables: Record<string, { rows: number; bytes: number }> };
  alertStream?: { clients: number; sent: number; dropped: number };
  [key: string]: unknown;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

async function sqlRows(target: Target, sql: string): Promise<Record<string, unknown>[] | undefined> {
  const res = await request(target, '/v1/sql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql }) });
  if (!res.ok) return undefined;
  return ((await res.json()) as { rows: Record<string, unknown>[] }).rows;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand('status', argv, { ...CLIENT_OPTIONS, json: { type: 'boolean' } }, STATUS_HELP);
  if (typeof parsed === 'number') return parsed;
  return runCli('status', async () => {
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new CliError(`unexpected argument ${positionals[0]}`, 2);
    const target = targetFrom(values);
    const res = await request(target, '/healthz');
    if (res.status !== 200 && res.status !== 503) throw await apiFailure(res);
    const health = (await res.json()) as Health;
    // SQL needs the token with the right role; without it the report keeps to /healthz.
    const activity = await sqlRows(
      target,
      `SELECT
         countIf(time > now64(3) - INTERVAL 1 MINUTE) AS calls_1m,
         countIf(time > now64(3) - INTERVAL 5 MINUTE) AS calls_5m,
         countIf(time > now64(3) - INTERVAL 1 HOUR) AS calls_1h,
         toString(max(time)) AS last_call,
         dateDiff('second', max(time), now64(3)) AS last_call_age_s
       FROM tool_calls`,
    );
    const alerts = await sqlRows(target, `SELECT severity, count() AS n FROM alerts WHERE time > now64(3) - INTERVAL 1 HOUR GROUP BY severity`);
    const a = activity?.[0];
    const ok = health.status === 'ok';
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ url: target.url, health, activity: a, alertsLastHour: alerts }, null, 2)}\n`);
      return ok ? 0 : 1;
    }
    const c = useColour();
    const lines: string[] = [];
    lines.push(
      `tapwatch at ${target.url}: ${paint(c, ok ? '1;32' : '1;31', health.status ?? 'unknown')} (mode ${health.mode ?? '?'}, store ${health.store ?? '?'})`,
    );
    const rej = health.ingest?.rejected ?? {};
    const rejected = Object.values(rej).reduce((s, n) => s + n, 0);
    lines.push(
      `ingest     ${health.ingest?.accepted ?? 0} events accepted, ${rejected} refused${
        rejected > 0
          ? ` (${Object.entries(rej)
              .filter(([, n]) => n > 0)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')})`
          : ''
      }`,
    );
    if (health.analyzer) {
      const s = health.analyzer;
      lines.push(
        `analyzer   ${s.eventsIn ?? 0} in, ${s.eventsStored ?? 0} stored, ${s.alerts ?? 0} alerts, ${s.duplicates ?? 0} duplicates, ${s.storeRetries ?? 0} store retries, ${s.publishFailures ?? 0} publish failures`,
      );
    }
    if (health.learning) {
      const l = health.learning;
      const metric = (name: string, m: LearningState['resultSize']) => `${name} ${m.learned} learned/${m.learning} learning`;
      lines.push(
        `detectors  baselines per (server, tool) after ${l.resultSize.minSamples} calls: ${metric('result size', l.resultSize)}, ${metric('arguments', l.argumentSize)}, ${metric('latency', l.latency)}; ${l.pinnedDefinitions} tool definitions pinned, ${l.knownServers} servers known, call sequences of ${l.sequenceAgents} agents`,
      );
    }
    if (typeof health.queued === 'number') lines.push(`lag        ${health.queued} events waiting for the analyzer`);
    if (a) {
      const age = Number(a.last_call_age_s);
      const last = Number(a.calls_1h) === 0 && String(a.last_call).startsWith('1970') ? 'no calls stored yet' : `last call ${age}s ago`;
      lines.push(
        `rate       ${a.calls_1m} calls in the last minute, ${(Number(a.calls_5m) / 5).toFixed(1)}/min over 5 min, ${a.calls_1h} in the last hour; ${last}`,
      );
    } else {
      lines.push('rate       (SQL not available with this token)');
    }
    if (health.storage) {
      const t = health.storage.tables;
      const parts = Object.entries(t)
        .filter(([name]) => !name.startsWith('.'))
        .map(([name, v]) => `${name} ${v.rows} (${formatBytes(v.bytes)})`);
      lines.push(`storage    ${health.storage.rows} rows, ${formatBytes(health.storage.bytes)} on disk (${parts.join(', ')})`);
    }
    if (health.alertStream) {
      const st = health.alertStream;
      lines.push(`stream     ${st.clients} subscriber${st.clients === 1 ? '' : 's'}, ${st.sent} alerts sent, ${st.dropped} dropped (too slow or dead)`);
    }
    if (alerts) {
      const by = Object.fromEntries(alerts.map((r) => [String(r.severity), Number(r.n)]));
      lines.push(`alerts     last hour: ${['critical', 'high', 'medium', 'low'].map((s) => `${s} ${by[s] ?? 0}`).join(', ')}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return ok ? 0 : 1;
  });
}
