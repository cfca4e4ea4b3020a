/**
 * The analyzer's writes of events and tool definitions, the existence checks
 * that make storage exactly-once, and the history a backtest replays.
 */
import type { TapEvent } from '@tapwatch/schema';
import type { Connection } from '../connection/connection.js';
import {
  byTime,
  deliveryGapRow,
  fromChTime,
  serverRequestRow,
  sessionFromRow,
  sessionRow,
  toChTime,
  toolCallFromRow,
  toolCallRow,
  toolsListFromRows,
} from '../rows.js';
import type { ToolDefinitionRow } from './baselines.js';
import { collisionId, eventFingerprint } from '../fingerprint.js';

/** An event row already stored under an id: its content fingerprint and where it came from. */
export interface StoredClaim {
  id: string;
  /** '' for rows stored before fingerprints (version 5). */
  fingerprint: string;
  session: string;
  server: string;
  agent: string;
}

/** Where each event type is stored, and its id column. */
const EVENT_TABLE: Record<TapEvent['type'], { table: string; column: string }> = {
  tool_call: { table: 'tool_calls', column: 'id' },
  session_start: { table: 'sessions', column: 'event_id' },
  session_end: { table: 'sessions', column: 'event_id' },
  server_request: { table: 'server_requests', column: 'id' },
  delivery_gap: { table: 'delivery_gaps', column: 'id' },
  // Only a tools_list that changed a definition leaves rows; one that did not is harmless to see again.
  tools_list: { table: 'tool_definitions', column: 'event_id' },
};

export class EventRepository {
  constructor(private readonly db: Connection) {}

  /** Stores tool calls and session events (tools_list events go through `insertDefinitions`). */
  async insert(events: TapEvent[]): Promise<void> {
    const calls: Record<string, unknown>[] = [];
    const sessions: Record<string, unknown>[] = [];
    const serverRequests: Record<string, unknown>[] = [];
    const gaps: Record<string, unknown>[] = [];
    for (const e of events) {
      if (e.type === 'tool_call') calls.push(toolCallRow(e));
      else if (e.type === 'session_start' || e.type === 'session_end') sessions.push(sessionRow(e));
      else if (e.type === 'server_request') serverRequests.push(serverRequestRow(e));
      else if (e.type === 'delivery_gap') gaps.push(deliveryGapRow(e));
    }
    await this.db.insert('tool_calls', calls);
    await this.db.insert('sessions', sessions);
    await this.db.insert('server_requests', serverRequests);
    await this.db.insert('delivery_gaps', gaps);
  }

  /** Ids of these events already stored (a Kafka redelivery, a tap re-sending a batch), whatever their content. */
  async storedIds(events: TapEvent[]): Promise<Set<string>> {
    return new Set((await this.stored(events, (e) => [e.id])).map((r) => r.id));
  }

  /**
   * What is stored under the ids of these events and under the ids they would
   * be stored apart under (`collisionId`): id, content fingerprint ('' for rows
   * stored before version 5) and where each came from. The analyzer tells a
   * redelivery from an event that only reuses an id by it.
   */
  storedClaims(events: TapEvent[]): Promise<StoredClaim[]> {
    return this.stored(events, (e) => [e.id, collisionId(e.id, eventFingerprint(e))]);
  }

  private async stored(events: TapEvent[], idsOf: (e: TapEvent) => string[]): Promise<StoredClaim[]> {
    const byTable = new Map<string, { column: string; ids: string[]; from: string; to: string; fromMs: number; toMs: number }>();
    for (const e of events) {
      const where = EVENT_TABLE[e.type];
      const ms = Date.parse(e.time);
      let t = byTable.get(where.table);
      if (t === undefined) {
        t = { column: where.column, ids: [], from: e.time, to: e.time, fromMs: ms, toMs: ms };
        byTable.set(where.table, t);
      }
      t.ids.push(...idsOf(e));
      if (ms < t.fromMs) [t.from, t.fromMs] = [e.time, ms];
      if (ms > t.toMs) [t.to, t.toMs] = [e.time, ms];
    }
    const parts: string[] = [];
    const params: Record<string, unknown> = {};
    let i = 0;
    for (const [table, t] of byTable) {
      // A duplicate has the event's own time: the time range prunes partitions and granules, the bloom index the rest.
      parts.push(
        `SELECT DISTINCT toString(${t.column}) AS stored_id, fingerprint, session, server, agent FROM {db}.${table}
         WHERE time >= toDateTime64({from${i}:String}, 3, 'UTC') AND time <= toDateTime64({to${i}:String}, 3, 'UTC')
           AND ${t.column} IN {ids${i}:Array(UUID)}`,
      );
      params[`from${i}`] = toChTime(t.from);
      params[`to${i}`] = toChTime(t.to);
      params[`ids${i}`] = t.ids;
      i++;
    }
    if (parts.length === 0) return [];
    // (Not `AS id`: an alias would shadow the id column in WHERE.)
    const rows = await this.db.select<{ stored_id: string; fingerprint: string; session: string; server: string; agent: string }>(
      parts.join(' UNION ALL '),
      params,
      { final: false },
    );
    return rows.map((r) => ({ id: r.stored_id, fingerprint: r.fingerprint, session: r.session, server: r.server, agent: r.agent }));
  }

  async insertDefinitions(rows: ToolDefinitionRow[]): Promise<void> {
    await this.db.insert('tool_definitions', rows as unknown as Record<string, unknown>[]);
  }

  /** Time of the first and last stored event (ISO), or undefined when nothing is stored. */
  async bounds(): Promise<{ from: string; to: string; events: number } | undefined> {
    const [r] = await this.db.select<{ from: string; to: string; n: number }>(
      `SELECT toString(min(t)) AS from, toString(max(t)) AS to, sum(n) AS n FROM (
         SELECT min(time) AS t, count() AS n FROM {db}.tool_calls
         UNION ALL SELECT max(time), 0 FROM {db}.tool_calls
         UNION ALL SELECT min(time), count() FROM {db}.sessions
         UNION ALL SELECT max(time), 0 FROM {db}.sessions
       ) WHERE t > toDateTime64(0, 3, 'UTC')`,
    );
    if (!r || !r.n) return undefined;
    return { from: fromChTime(r.from), to: fromChTime(r.to), events: Number(r.n) };
  }

  /** Stored events with `from <= time < to`, rebuilt and ordered by time (for backtests). */
  async slice(from: string, to: string): Promise<TapEvent[]> {
    const params = { from: toChTime(from), to: toChTime(to) };
    const where = `time >= toDateTime64({from:String}, 3, 'UTC') AND time < toDateTime64({to:String}, 3, 'UTC')`;
    const [calls, sessions, defs] = await Promise.all([
      this.db.select<Record<string, unknown>>(`SELECT * FROM {db}.tool_calls WHERE ${where} ORDER BY time`, params),
      this.db.select<Record<string, unknown>>(`SELECT * FROM {db}.sessions WHERE ${where} ORDER BY time`, params),
      this.db.select<Record<string, unknown>>(`SELECT * FROM {db}.tool_definitions WHERE ${where} ORDER BY time`, params),
    ]);
    return byTime([...sessions.map(sessionFromRow), ...toolsListFromRows(defs), ...calls.map(toolCallFromRow)]);
  }
}
