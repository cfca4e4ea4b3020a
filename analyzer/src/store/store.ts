/**
 * What the analyzer and the API need from storage. The one implementation is
 * the ClickHouse adapter (server or embedded chDB); tests of pure logic can
 * fake it.
 */
import type { Alert, TapEvent } from '@tapwatch/schema';

export interface ToolDefinitionRow {
  event_id: string;
  time: string;
  agent: string;
  session: string;
  server: string;
  tool: string;
  definition_hash: string;
  previous_hash: string;
  title: string;
  description: string;
  input_schema: string;
  definition: string;
}

export interface QueryResult {
  rows: Record<string, unknown>[];
  columns: { name: string; type: string }[];
  statistics?: { elapsed?: number; rows_read?: number; bytes_read?: number } | undefined;
}

export interface KnownDefinition {
  server: string;
  tool: string;
  /** Hash of the first definition seen (the pinned one). */
  first_hash: string;
  /** Hash of the definition stored last. */
  last_hash: string;
  /** Every hash seen. */
  hashes: string[];
  /** The pinned definition, canonical JSON. */
  first_definition: string;
  /** When the tool was first seen (sortable text). */
  first_seen: string;
}

export interface Store {
  /** Creates or migrates the schema. */
  migrate(): Promise<void>;
  /** Stores tool calls and session events (tools_list events go through `insertToolDefinitions`). */
  insertEvents(events: TapEvent[]): Promise<void>;
  /** Ids of these events already stored (a Kafka redelivery, a tap re-sending a batch). */
  storedEventIds(events: TapEvent[]): Promise<Set<string>>;
  /** Which of these alert ids are already stored. */
  storedAlertIds(ids: string[]): Promise<Set<string>>;
  insertToolDefinitions(rows: ToolDefinitionRow[]): Promise<void>;
  insertAlerts(alerts: Alert[]): Promise<void>;
  /** Runs tapwatch's own fixed, parameterized SELECT (`{db}` is the database); never user SQL. */
  selectRows(sql: string, params?: Record<string, unknown>): Promise<Record<string, unknown>[]>;
  /** Inserts rows (JSONEachRow) into one of tapwatch's tables. */
  insertRows(table: string, rows: Record<string, unknown>[]): Promise<void>;
  /** Runs user SQL under the database's read-only guard and limits. */
  queryReadOnly(sql: string, params?: Record<string, unknown>): Promise<QueryResult>;
  /** The last `perKey` successful calls' response sizes, request sizes and durations per (server, tool), oldest first, to warm baselines. */
  recentResponseSizes(perKey: number): Promise<{ server: string; tool: string; sizes: number[]; requests: number[]; durations: number[] }[]>;
  /** Definitions seen so far, to remember pins across restarts. */
  knownDefinitions(): Promise<KnownDefinition[]>;
  /** Calls per session of each (server, tool), for the last `perKey` sessions that used it. */
  recentSessionCounts(perKey: number): Promise<{ server: string; tool: string; counts: number[] }[]>;
  /** The most recent `limit` calls as (agent, session, server, tool), ordered by session then time. */
  recentCallSequence(limit: number): Promise<{ agent: string; session: string; server: string; tool: string }[]>;
  /** Result bytes per session for each agent's last `perAgent` sessions. */
  recentSessionVolumes(perAgent: number): Promise<{ agent: string; volumes: number[] }[]>;
  /** Every server name seen in a session. */
  knownServers(): Promise<string[]>;
  /** Time of the first and last stored event (ISO), or undefined when nothing is stored. */
  historyBounds(): Promise<{ from: string; to: string; events: number } | undefined>;
  /** Stored events with `from <= time < to`, rebuilt and ordered by time (for backtests). */
  historySlice(from: string, to: string): Promise<TapEvent[]>;
  /** True when the database answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
