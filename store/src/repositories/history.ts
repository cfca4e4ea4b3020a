/**
 * The call history as people browse it (REST and dashboard): calls, tools
 * and their definitions over time, one session's timeline.
 */
import type { Connection } from '../connection/connection.js';
import { Where, iso, num, str } from './common.js';

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

export class HistoryRepository {
  constructor(private readonly db: Connection) {}

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
    const rows = await this.db.select(
      `SELECT toString(id) AS id, time, started_at, agent, session, server, transport, tool, request_id, request_bytes,
         response_bytes, duration_ms, status, is_error, error_code, error_message, argument_keys, capture
       FROM {db}.tool_calls ${w} ORDER BY time DESC, toString(id) DESC LIMIT {limit:UInt32}`,
      { ...w.params, limit: f.limit + 1 },
    );
    return rows.map(callView);
  }

  async tools(server?: string): Promise<ToolSummary[]> {
    const w = new Where().eq('server', 'server', server);
    const rows = await this.db.select(
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
    const rows = await this.db.select(
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
      versions.push({
        hash,
        firstSeen: iso(r['time']),
        lastSeen: iso(r['time']),
        agent: str(r['agent']),
        session: str(r['session']),
        definition: str(r['definition']),
      });
    }
    return versions;
  }

  /** Everything that happened in a session, in time order. */
  async sessionTimeline(session: string): Promise<TimelineEntry[]> {
    const p = { session };
    const [sessions, calls, requests, alerts] = await Promise.all([
      this.db.select(
        `SELECT toString(event_id) AS id, time, event, server, agent, client_name, client_version, server_name, server_version, calls, exit_code, signal
         FROM {db}.sessions WHERE session = {session:String} ORDER BY time`,
        p,
      ),
      this.db.select(
        `SELECT toString(id) AS id, time, started_at, agent, session, server, transport, tool, request_id, request_bytes,
           response_bytes, duration_ms, status, is_error, error_code, error_message, argument_keys, capture
         FROM {db}.tool_calls WHERE session = {session:String} ORDER BY time LIMIT 5000`,
        p,
      ),
      this.db.select(
        `SELECT toString(id) AS id, time, server, method, status, duration_ms, action, related_tool
         FROM {db}.server_requests WHERE session = {session:String} ORDER BY time LIMIT 5000`,
        p,
      ),
      this.db.select(
        `SELECT id, time, severity, detector, title, server, tool, event_ids FROM {db}.alerts WHERE session = {session:String} ORDER BY time LIMIT 1000`,
        p,
      ),
    ]);
    const entries: TimelineEntry[] = [];
    for (const s of sessions) {
      const kind = s['event'] === 'end' ? 'session_end' : 'session_start';
      entries.push({
        kind,
        time: iso(s['time']),
        id: str(s['id']),
        server: str(s['server']),
        summary:
          kind === 'session_start'
            ? `session started: ${str(s['client_name']) || 'client'} → ${str(s['server_name']) || str(s['server'])}`
            : `session ended after ${num(s['calls'])} calls`,
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
      entries.push({
        kind: 'tool_call',
        time: c.time,
        id: c.id,
        server: c.server,
        summary: `${c.tool} ${c.status} (${c.responseBytes} bytes, ${Math.round(c.durationMs)} ms)`,
        detail: { ...c },
      });
    }
    for (const r of requests) {
      entries.push({
        kind: 'server_request',
        time: iso(r['time']),
        id: str(r['id']),
        server: str(r['server']),
        summary: `server asked ${str(r['method'])}${r['related_tool'] ? ` during ${str(r['related_tool'])}` : ''}: ${str(r['status'])}`,
        detail: {
          method: str(r['method']),
          status: str(r['status']),
          durationMs: num(r['duration_ms']),
          action: str(r['action']),
          relatedTool: str(r['related_tool']),
        },
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
}

export function callView(r: Record<string, unknown>): CallView {
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
