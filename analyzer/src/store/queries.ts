/**
 * The read model behind the REST API: fixed, parameterized queries over the
 * tapwatch tables, and the few writes people make (alert state, silences,
 * webhook dead letters). Runs through `Store.selectRows`/`insertRows`, so it
 * works the same on the embedded engine and a ClickHouse server.
 *
 * Values go in as query parameters only; the one piece of SQL assembled here
 * is the list of fixed conditions, each with its own parameter.
 */
import type { Alert, Severity } from '@tapwatch/schema';
import type { Store } from './store.js';
import { fromChTime, toChTime } from './rows.js';

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

export interface CallFilter {
  server?: string | undefined;
  tool?: string | undefined;
  agent?: string | undefined;
  session?: string | undefined;
  status?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  /** Keyset cursor: rows strictly older than this (time, id). */
  before?: { time: string; id: string } | undefined;
  limit: number;
}

export interface CallView {
  id: string;
  time: string;
  startedAt: string;
  agent: string;
  session: string;
  server: string;
  transport: string;
  tool: string;
  requestId: string;
  requestBytes: number;
  responseBytes: number;
  durationMs: number;
  status: string;
  isError: boolean;
  errorCode: number | null;
  errorMessage: string | null;
  argumentKeys: string[];
  capture: string;
}

export interface AlertFilter {
  server?: string | undefined;
  tool?: string | undefined;
  agent?: string | undefined;
  session?: string | undefined;
  detector?: string | undefined;
  severity?: Severity[] | undefined;
  status?: AlertStatus | undefined;
  silenced?: boolean | undefined;
  from?: string | undefined;
  to?: string | undefined;
  before?: { time: string; id: string } | undefined;
  limit: number;
}

export interface AlertView extends Alert {
  status: AlertStatus;
  silenced: boolean;
  silenceId: string | null;
  note: string;
  updatedAt: string | null;
}

export interface Silence {
  id: string;
  createdAt: string;
  until: string;
  detector: string;
  server: string;
  tool: string;
  agent: string;
  reason: string;
}

export interface ToolSummary {
  server: string;
  tool: string;
  currentHash: string;
  firstSeen: string;
  lastSeen: string;
  versions: number;
  changes: number;
}

export interface ToolVersion {
  hash: string;
  firstSeen: string;
  lastSeen: string;
  agent: string;
  session: string;
  /** Canonical JSON of the definition. */
  definition: string;
}

export interface TimelineEntry {
  kind: 'session_start' | 'session_end' | 'tool_call' | 'server_request' | 'alert';
  time: string;
  id: string;
  server: string;
  summary: string;
  detail: Record<string, unknown>;
}

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

export interface DeadLetter {
  id: string;
  time: string;
  url: string;
  alertId: string;
  attempts: number;
  lastStatus: number;
  lastError: string;
  payload: string;
}

const TIME_PARAM = (name: string) => `parseDateTime64BestEffort({${name}:String}, 3, 'UTC')`;

/** Builds a WHERE clause from fixed conditions whose values are all parameters. */
class Where {
  readonly parts: string[] = [];
  readonly params: Record<string, unknown> = {};
  eq(column: string, name: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} = {${name}:String}`);
      this.params[name] = value;
    }
    return this;
  }
  since(column: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} >= ${TIME_PARAM('from')}`);
      this.params['from'] = toChTime(value);
    }
    return this;
  }
  until(column: string, value: string | undefined): this {
    if (value !== undefined) {
      this.parts.push(`${column} < ${TIME_PARAM('to')}`);
      this.params['to'] = toChTime(value);
    }
    return this;
  }
  before(timeColumn: string, idColumn: string, cursor: { time: string; id: string } | undefined): this {
    if (cursor) {
      this.parts.push(`(${timeColumn}, ${idColumn}) < (${TIME_PARAM('cursorTime')}, {cursorId:String})`);
      this.params['cursorTime'] = toChTime(cursor.time);
      this.params['cursorId'] = cursor.id;
    }
    return this;
  }
  raw(condition: string, params: Record<string, unknown> = {}): this {
    this.parts.push(condition);
    Object.assign(this.params, params);
    return this;
  }
  toString(): string {
    return this.parts.length > 0 ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (v: unknown): string => fromChTime(str(v));

/** Newest state of every alert that has one. */
const ALERT_STATE = `SELECT id,
    argMax(status, version) AS status, argMax(silenced, version) AS silenced,
    argMax(silence_id, version) AS silence_id, argMax(note, version) AS note,
    argMax(updated_at, version) AS updated_at
  FROM {db}.alert_state GROUP BY id`;

/** Newest version of every silence. */
const SILENCES = `SELECT id, argMax(created_at, version) AS created_at, argMax(until, version) AS until,
    argMax(detector, version) AS detector, argMax(server, version) AS server, argMax(tool, version) AS tool,
    argMax(agent, version) AS agent, argMax(reason, version) AS reason, argMax(deleted, version) AS deleted
  FROM {db}.silences GROUP BY id`;

let lastVersion = 0;
/** A strictly increasing version for state rows written by this process (microseconds since the epoch). */
function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

/** The REST read model over a store. */
export class ReadModel {
  constructor(private readonly store: Store) {}

  /** Calls, newest first; `limit + 1` rows are fetched so the caller knows whether more follow. */
  async calls(f: CallFilter): Promise<CallView[]> {
    const w = new Where()
      .eq('server', 'server', f.server)
      .eq('tool', 'tool', f.tool)
      .eq('agent', 'agent', f.agent)
      .eq('session', 'session', f.session)
      .eq('status', 'status', f.status)
      .since('time', f.from)
      .until('time', f.to)
      .before('time', 'toString(id)', f.before);
    const rows = await this.store.selectRows(
      `SELECT toString(id) AS id, time, started_at, agent, session, server, transport, tool, request_id, request_bytes,
         response_bytes, duration_ms, status, is_error, error_code, error_message, argument_keys, capture
       FROM {db}.tool_calls ${w} ORDER BY time DESC, toString(id) DESC LIMIT {limit:UInt32}`,
      { ...w.params, limit: f.limit + 1 },
    );
    return rows.map(callView);
  }

  /** Alerts with their state, newest first (`limit + 1` rows). */
  async alerts(f: AlertFilter): Promise<AlertView[]> {
    const w = new Where()
      .eq('a.server', 'server', f.server)
      .eq('a.tool', 'tool', f.tool)
      .eq('a.agent', 'agent', f.agent)
      .eq('a.session', 'session', f.session)
      .eq('a.detector', 'detector', f.detector)
      .since('a.time', f.from)
      .until('a.time', f.to)
      .before('a.time', 'a.id', f.before);
    if (f.severity && f.severity.length > 0) w.raw('a.severity IN {severity:Array(String)}', { severity: f.severity });
    if (f.status !== undefined) w.raw(`if(s.status = '', 'open', s.status) = {status:String}`, { status: f.status });
    if (f.silenced !== undefined) w.raw('s.silenced = {silenced:Bool}', { silenced: f.silenced });
    const rows = await this.store.selectRows(
      `SELECT a.id AS id, a.time AS time, a.severity AS severity, a.detector AS detector, a.title AS title, a.server AS server,
         a.tool AS tool, a.agent AS agent, a.session AS session, a.evidence AS evidence, a.event_ids AS event_ids,
         s.status AS state_status, s.silenced AS silenced, s.silence_id AS silence_id, s.note AS note, s.updated_at AS updated_at
       FROM {db}.alerts AS a LEFT JOIN (${ALERT_STATE}) AS s ON s.id = a.id
       ${w} ORDER BY a.time DESC, a.id DESC LIMIT {limit:UInt32}
       SETTINGS join_use_nulls = 0`,
      { ...w.params, limit: f.limit + 1 },
    );
    return dedupeById(rows.map(alertView));
  }

  async alert(id: string): Promise<AlertView | undefined> {
    const rows = await this.store.selectRows(
      `SELECT a.id AS id, a.time AS time, a.severity AS severity, a.detector AS detector, a.title AS title, a.server AS server,
         a.tool AS tool, a.agent AS agent, a.session AS session, a.evidence AS evidence, a.event_ids AS event_ids,
         s.status AS state_status, s.silenced AS silenced, s.silence_id AS silence_id, s.note AS note, s.updated_at AS updated_at
       FROM {db}.alerts AS a LEFT JOIN (${ALERT_STATE} HAVING id = {id:String}) AS s ON s.id = a.id
       WHERE a.id = {id:String} ORDER BY a.time LIMIT 1
       SETTINGS join_use_nulls = 0`,
      { id },
    );
    return rows[0] ? alertView(rows[0]) : undefined;
  }

  /** Writes a new state for an alert, keeping what the change does not touch (its silence). */
  async setAlertState(id: string, change: { status?: AlertStatus; silenceId?: string; note?: string }): Promise<AlertView | undefined> {
    const current = await this.alert(id);
    if (!current) return undefined;
    const silenceId = change.silenceId ?? current.silenceId ?? '';
    await this.store.insertRows('alert_state', [
      {
        id,
        status: change.status ?? current.status,
        silenced: silenceId !== '',
        silence_id: silenceId,
        note: change.note ?? current.note,
        updated_at: toChTime(new Date().toISOString()),
        version: nextVersion(),
      },
    ]);
    return this.alert(id);
  }

  /** Flags alerts as silenced (used by the analyzer when a silence holds them back). */
  async markSilenced(entries: { alertId: string; silenceId: string }[]): Promise<void> {
    const now = toChTime(new Date().toISOString());
    await this.store.insertRows(
      'alert_state',
      entries.map((e) => ({ id: e.alertId, status: 'open', silenced: true, silence_id: e.silenceId, note: '', updated_at: now, version: nextVersion() })),
    );
  }

  async createSilence(s: Omit<Silence, 'createdAt'> & { createdAt?: string }): Promise<Silence> {
    const silence: Silence = { ...s, createdAt: s.createdAt ?? new Date().toISOString() };
    await this.store.insertRows('silences', [
      {
        id: silence.id,
        created_at: toChTime(silence.createdAt),
        until: toChTime(silence.until),
        detector: silence.detector,
        server: silence.server,
        tool: silence.tool,
        agent: silence.agent,
        reason: silence.reason,
        deleted: false,
        version: nextVersion(),
      },
    ]);
    return silence;
  }

  /** Silences not deleted; with `activeAt`, only those still in force then. */
  async silences(activeAt?: string): Promise<Silence[]> {
    const rows = await this.store.selectRows(
      `SELECT * FROM (${SILENCES}) WHERE NOT deleted ${activeAt ? `AND until > ${TIME_PARAM('at')}` : ''} ORDER BY created_at DESC, id`,
      activeAt ? { at: toChTime(activeAt) } : {},
    );
    return rows.map((r) => ({
      id: str(r['id']),
      createdAt: iso(r['created_at']),
      until: iso(r['until']),
      detector: str(r['detector']),
      server: str(r['server']),
      tool: str(r['tool']),
      agent: str(r['agent']),
      reason: str(r['reason']),
    }));
  }

  /** Deletes a silence; false when there is none with that id. */
  async deleteSilence(id: string): Promise<boolean> {
    const found = (await this.silences()).find((s) => s.id === id);
    if (!found) return false;
    await this.store.insertRows('silences', [
      {
        id,
        created_at: toChTime(found.createdAt),
        until: toChTime(found.until),
        detector: found.detector,
        server: found.server,
        tool: found.tool,
        agent: found.agent,
        reason: found.reason,
        deleted: true,
        version: nextVersion(),
      },
    ]);
    return true;
  }

  async tools(server?: string): Promise<ToolSummary[]> {
    const w = new Where().eq('server', 'server', server);
    const rows = await this.store.selectRows(
      `SELECT server, tool, argMax(definition_hash, time) AS current_hash, min(time) AS first_seen, max(time) AS last_seen,
         uniqExact(definition_hash) AS versions,
         arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((time, definition_hash)))) AS hs,
         -- a change is a definition whose hash differs from the one stored just before it
         length(arrayFilter((h, i) -> i > 1 AND h != hs[i - 1], hs, arrayEnumerate(hs))) AS changes
       FROM {db}.tool_definitions ${w}
       GROUP BY server, tool ORDER BY server, tool`,
      w.params,
    );
    return rows.map((r) => ({
      server: str(r['server']),
      tool: str(r['tool']),
      currentHash: str(r['current_hash']),
      firstSeen: iso(r['first_seen']),
      lastSeen: iso(r['last_seen']),
      versions: num(r['versions']),
      changes: num(r['changes']),
    }));
  }

  /** The definitions of one tool over time, consecutive repeats of the same hash collapsed. */
  async toolHistory(server: string, tool: string): Promise<ToolVersion[]> {
    const rows = await this.store.selectRows(
      `SELECT definition_hash, time, agent, session, definition FROM {db}.tool_definitions
       WHERE server = {server:String} AND tool = {tool:String} ORDER BY time, event_id`,
      { server, tool },
    );
    const versions: ToolVersion[] = [];
    for (const r of rows) {
      const hash = str(r['definition_hash']);
      const last = versions[versions.length - 1];
      if (last && last.hash === hash) {
        last.lastSeen = iso(r['time']);
        continue;
      }
      versions.push({ hash, firstSeen: iso(r['time']), lastSeen: iso(r['time']), agent: str(r['agent']), session: str(r['session']), definition: str(r['definition']) });
    }
    return versions;
  }

  /** Everything that happened in a session, in time order. */
  async sessionTimeline(session: string): Promise<TimelineEntry[]> {
    const p = { session };
    const [sessions, calls, requests, alerts] = await Promise.all([
      this.store.selectRows(
        `SELECT toString(event_id) AS id, time, event, server, agent, client_name, client_version, server_name, server_version, calls, exit_code, signal
         FROM {db}.sessions WHERE session = {session:String} ORDER BY time`,
        p,
      ),
      this.store.selectRows(
        `SELECT toString(id) AS id, time, started_at, agent, session, server, transport, tool, request_id, request_bytes,
           response_bytes, duration_ms, status, is_error, error_code, error_message, argument_keys, capture
         FROM {db}.tool_calls WHERE session = {session:String} ORDER BY time LIMIT 5000`,
        p,
      ),
      this.store.selectRows(
        `SELECT toString(id) AS id, time, server, method, status, duration_ms, action, related_tool
         FROM {db}.server_requests WHERE session = {session:String} ORDER BY time LIMIT 5000`,
        p,
      ),
      this.store.selectRows(`SELECT id, time, severity, detector, title, server, tool, event_ids FROM {db}.alerts WHERE session = {session:String} ORDER BY time LIMIT 1000`, p),
    ]);
    const entries: TimelineEntry[] = [];
    for (const s of sessions) {
      const kind = s['event'] === 'end' ? 'session_end' : 'session_start';
      entries.push({
        kind,
        time: iso(s['time']),
        id: str(s['id']),
        server: str(s['server']),
        summary: kind === 'session_start' ? `session started: ${str(s['client_name']) || 'client'} → ${str(s['server_name']) || str(s['server'])}` : `session ended after ${num(s['calls'])} calls`,
        detail: {
          agent: str(s['agent']),
          clientName: str(s['client_name']),
          clientVersion: str(s['client_version']),
          serverName: str(s['server_name']),
          serverVersion: str(s['server_version']),
          calls: num(s['calls']),
          exitCode: s['exit_code'] === null || s['exit_code'] === undefined ? null : num(s['exit_code']),
          signal: str(s['signal']),
        },
      });
    }
    for (const r of calls) {
      const c = callView(r);
      entries.push({ kind: 'tool_call', time: c.time, id: c.id, server: c.server, summary: `${c.tool} ${c.status} (${c.responseBytes} bytes, ${Math.round(c.durationMs)} ms)`, detail: { ...c } });
    }
    for (const r of requests) {
      entries.push({
        kind: 'server_request',
        time: iso(r['time']),
        id: str(r['id']),
        server: str(r['server']),
        summary: `server asked ${str(r['method'])}${r['related_tool'] ? ` during ${str(r['related_tool'])}` : ''}: ${str(r['status'])}`,
        detail: { method: str(r['method']), status: str(r['status']), durationMs: num(r['duration_ms']), action: str(r['action']), relatedTool: str(r['related_tool']) },
      });
    }
    for (const a of alerts) {
      entries.push({
        kind: 'alert',
        time: iso(a['time']),
        id: str(a['id']),
        server: str(a['server']),
        summary: `${str(a['severity'])} ${str(a['detector'])}: ${str(a['title'])}`,
        detail: { severity: str(a['severity']), detector: str(a['detector']), tool: str(a['tool']), eventIds: (a['event_ids'] as string[] | undefined) ?? [] },
      });
    }
    // An alert is raised after its events are processed, possibly after the session ended:
    // it goes right after the last of its events that is in this timeline.
    const eventTime = new Map(entries.filter((e) => e.kind !== 'alert').map((e) => [e.id, e.time]));
    const at = (e: TimelineEntry): string => {
      if (e.kind !== 'alert') return e.time;
      const times = ((e.detail['eventIds'] as string[] | undefined) ?? []).map((id) => eventTime.get(id)).filter((t): t is string => t !== undefined);
      return times.length > 0 ? times.sort()[times.length - 1]! : e.time;
    };
    const order: Record<TimelineEntry['kind'], number> = { session_start: 0, tool_call: 1, server_request: 1, alert: 2, session_end: 3 };
    return entries.sort((x, y) => at(x).localeCompare(at(y)) || order[x.kind] - order[y.kind]);
  }

  async stats(f: StatsFilter): Promise<Stats> {
    const w = new Where().eq('server', 'server', f.server).since('time', f.from).until('time', f.to);
    const [hourlyCalls, hourlyAlerts, tools] = await Promise.all([
      this.store.selectRows(
        `SELECT toStartOfHour(time) AS hour, server, count() AS calls, countIf(is_error OR status != 'ok') AS errors,
           avg(duration_ms) AS avg_ms, quantile(0.95)(duration_ms) AS p95_ms, sum(response_bytes) AS response_bytes
         FROM {db}.tool_calls ${w} GROUP BY hour, server ORDER BY hour, server`,
        w.params,
      ),
      this.store.selectRows(`SELECT toStartOfHour(time) AS hour, server, count() AS alerts FROM {db}.alerts ${w} GROUP BY hour, server`, w.params),
      this.store.selectRows(
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
      return { hour: iso(r['hour']), server: str(r['server']), calls: num(r['calls']), errors: num(r['errors']), avgMs: round(num(r['avg_ms'])), p95Ms: round(num(r['p95_ms'])), responseBytes: num(r['response_bytes']), alerts };
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
      tools: tools.map((r) => ({ server: str(r['server']), tool: str(r['tool']), calls: num(r['calls']), errors: num(r['errors']), avgMs: round(num(r['avg_ms'])), p95Ms: round(num(r['p95_ms'])), responseBytes: num(r['response_bytes']) })),
    };
  }

  /** Webhook deliveries that failed for good, newest first. */
  async deadLetters(limit: number, alertId?: string): Promise<DeadLetter[]> {
    const w = new Where().eq('alert_id', 'alertId', alertId);
    const rows = await this.store.selectRows(`SELECT * FROM {db}.webhook_deadletters ${w} ORDER BY time DESC, id LIMIT {limit:UInt32}`, { ...w.params, limit });
    return rows.map((r) => ({
      id: str(r['id']),
      time: iso(r['time']),
      url: str(r['url']),
      alertId: str(r['alert_id']),
      attempts: num(r['attempts']),
      lastStatus: num(r['last_status']),
      lastError: str(r['last_error']),
      payload: str(r['payload']),
    }));
  }

  async insertDeadLetter(d: DeadLetter): Promise<void> {
    await this.store.insertRows('webhook_deadletters', [
      { id: d.id, time: toChTime(d.time), url: d.url, alert_id: d.alertId, attempts: d.attempts, last_status: d.lastStatus, last_error: d.lastError, payload: d.payload },
    ]);
  }
}

function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : 0;
}

function callView(r: Record<string, unknown>): CallView {
  return {
    id: str(r['id']),
    time: iso(r['time']),
    startedAt: iso(r['started_at']),
    agent: str(r['agent']),
    session: str(r['session']),
    server: str(r['server']),
    transport: str(r['transport']),
    tool: str(r['tool']),
    requestId: str(r['request_id']),
    requestBytes: num(r['request_bytes']),
    responseBytes: num(r['response_bytes']),
    durationMs: num(r['duration_ms']),
    status: str(r['status']),
    isError: r['is_error'] === true || r['is_error'] === 1 || r['is_error'] === 'true',
    errorCode: r['error_code'] === null || r['error_code'] === undefined ? null : num(r['error_code']),
    errorMessage: r['error_message'] === null || r['error_message'] === undefined ? null : str(r['error_message']),
    argumentKeys: (r['argument_keys'] as string[] | undefined) ?? [],
    capture: str(r['capture']),
  };
}

function alertView(r: Record<string, unknown>): AlertView {
  let evidence: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(str(r['evidence']) || '{}');
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) evidence = parsed as Record<string, unknown>;
  } catch {
    evidence = { raw: str(r['evidence']) };
  }
  const state = str(r['state_status']);
  const silenceId = str(r['silence_id']);
  const updated = str(r['updated_at']);
  return {
    id: str(r['id']),
    time: iso(r['time']),
    severity: str(r['severity']) as Severity,
    detector: str(r['detector']),
    title: str(r['title']),
    server: str(r['server']),
    tool: str(r['tool']),
    agent: str(r['agent']),
    session: str(r['session']),
    evidence,
    eventIds: (r['event_ids'] as string[] | undefined) ?? [],
    status: state === 'acknowledged' || state === 'resolved' ? state : 'open',
    silenced: r['silenced'] === true || r['silenced'] === 1 || r['silenced'] === 'true',
    silenceId: silenceId === '' ? null : silenceId,
    note: str(r['note']),
    // A missing state row reads as the epoch on the left join's default.
    updatedAt: updated === '' || updated.startsWith('1970-01-01') ? null : iso(updated),
  };
}

/** An alert id is unique by design; a replayed insert can still store it twice. */
function dedupeById(alerts: AlertView[]): AlertView[] {
  const seen = new Set<string>();
  return alerts.filter((a) => (seen.has(a.id) ? false : (seen.add(a.id), true)));
}

/** True when a silence covers an alert (empty fields match anything) at `at`. */
export function silenceMatches(s: Silence, alert: Pick<Alert, 'detector' | 'server' | 'tool' | 'agent'>, at: string): boolean {
  if (!(Date.parse(s.createdAt) <= Date.parse(at) && Date.parse(at) < Date.parse(s.until))) return false;
  return (s.detector === '' || s.detector === alert.detector) && (s.server === '' || s.server === alert.server) && (s.tool === '' || s.tool === alert.tool) && (s.agent === '' || s.agent === alert.agent);
}
