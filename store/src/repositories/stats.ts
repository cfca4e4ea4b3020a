/**
 * Traffic statistics for the dashboard, and storage facts for /healthz.
 */
import type { Connection } from '../connection/connection.js';
import { Where, iso, num, round, str } from './common.js';

export interface StatsFilter {
  from: string;
  to: string;
  server?: string | undefined;
}

export interface Stats {
  from: string;
  to: string;
  hourly: { hour: string; server: string; calls: number; errors: number; avgMs: number; p95Ms: number; responseBytes: number; alerts: number }[];
  servers: { server: string; calls: number; errors: number; avgMs: number; p95Ms: number; responseBytes: number; alerts: number }[];
  tools: { server: string; tool: string; calls: number; errors: number; avgMs: number; p95Ms: number; responseBytes: number }[];
}

export interface StorageSummary {
  rows: number;
  bytes: number;
  tables: Record<string, { rows: number; bytes: number }>;
}

export class StatsRepository {
  constructor(private readonly db: Connection) {}

  async traffic(f: StatsFilter): Promise<Stats> {
    const w = new Where().eq('server', 'server', f.server).since('time', f.from).until('time', f.to);
    const [hourlyCalls, hourlyAlerts, tools] = await Promise.all([
      this.db.select(
        `SELECT toStartOfHour(time) AS hour, server, count() AS calls, countIf(is_error OR status != 'ok') AS errors,
           avg(duration_ms) AS avg_ms, quantile(0.95)(duration_ms) AS p95_ms, sum(response_bytes) AS response_bytes
         FROM {db}.tool_calls ${w} GROUP BY hour, server ORDER BY hour, server`,
        w.params,
      ),
      this.db.select(`SELECT toStartOfHour(time) AS hour, server, count() AS alerts FROM {db}.alerts ${w} GROUP BY hour, server`, w.params),
      this.db.select(
        `SELECT server, tool, count() AS calls, countIf(is_error OR status != 'ok') AS errors, avg(duration_ms) AS avg_ms,
           quantile(0.95)(duration_ms) AS p95_ms, sum(response_bytes) AS response_bytes
         FROM {db}.tool_calls ${w} GROUP BY server, tool ORDER BY calls DESC, server, tool LIMIT 500`,
        w.params,
      ),
    ]);
    const alertsAt = new Map(hourlyAlerts.map((r) => [`${str(r['hour'])}\u0000${str(r['server'])}`, num(r['alerts'])]));
    const hourly: Stats['hourly'] = hourlyCalls.map((r) => {
      const key = `${str(r['hour'])}\u0000${str(r['server'])}`;
      const alerts = alertsAt.get(key) ?? 0;
      alertsAt.delete(key);
      return {
        hour: iso(r['hour']),
        server: str(r['server']),
        calls: num(r['calls']),
        errors: num(r['errors']),
        avgMs: round(num(r['avg_ms'])),
        p95Ms: round(num(r['p95_ms'])),
        responseBytes: num(r['response_bytes']),
        alerts,
      };
    });
    // Hours with alerts but no calls (e.g. a definition change seen on tools/list only).
    for (const [key, alerts] of alertsAt) {
      const [hour = '', server = ''] = key.split('\u0000');
      hourly.push({ hour: iso(hour), server, calls: 0, errors: 0, avgMs: 0, p95Ms: 0, responseBytes: 0, alerts });
    }
    hourly.sort((a, b) => a.hour.localeCompare(b.hour) || a.server.localeCompare(b.server));
    const byServer = new Map<string, Stats['servers'][number] & { weighted: number }>();
    for (const h of hourly) {
      const s = byServer.get(h.server) ?? { server: h.server, calls: 0, errors: 0, avgMs: 0, p95Ms: 0, responseBytes: 0, alerts: 0, weighted: 0 };
      s.calls += h.calls;
      s.errors += h.errors;
      s.responseBytes += h.responseBytes;
      s.alerts += h.alerts;
      s.weighted += h.avgMs * h.calls;
      // The largest hourly p95: an upper bound that keeps this a single pass.
      s.p95Ms = Math.max(s.p95Ms, h.p95Ms);
      byServer.set(h.server, s);
    }
    const servers = [...byServer.values()].map(({ weighted, ...s }) => ({ ...s, avgMs: s.calls > 0 ? round(weighted / s.calls) : 0 }));
    return {
      from: f.from,
      to: f.to,
      hourly,
      servers: servers.sort((a, b) => b.calls - a.calls || a.server.localeCompare(b.server)),
      tools: tools.map((r) => ({
        server: str(r['server']),
        tool: str(r['tool']),
        calls: num(r['calls']),
        errors: num(r['errors']),
        avgMs: round(num(r['avg_ms'])),
        p95Ms: round(num(r['p95_ms'])),
        responseBytes: num(r['response_bytes']),
      })),
    };
  }

  /** Rows and bytes on disk per tapwatch table (system.parts is not open to user SQL). */
  async storage(): Promise<StorageSummary> {
    const rows = await this.db.select<{ table: string; rows: unknown; bytes: unknown }>(
      `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
       WHERE database = '{db}' AND active GROUP BY table ORDER BY table`,
    );
    const summary: StorageSummary = { rows: 0, bytes: 0, tables: {} };
    for (const r of rows) {
      const t = { rows: Number(r.rows), bytes: Number(r.bytes) };
      summary.tables[String(r.table)] = t;
      summary.rows += t.rows;
      summary.bytes += t.bytes;
    }
    return summary;
  }
}
