/**
 * What the detectors learn from at start and on refresh: recent sizes,
 * durations and counts, pinned definitions, known servers, call sequences.
 * Calls that raised a volume alert stay out of these baselines.
 */
import type { Connection } from '../connection/connection.js';

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
  /** What the tap cut from the `tools/list` this definition came in (ToolsListEvent.cut). */
  cut: string[];
  /** The tools_list event's content fingerprint (`eventFingerprint`); '' when unknown. */
  fingerprint?: string;
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

export class BaselineRepository {
  constructor(private readonly db: Connection) {}

  /** The last `perKey` successful calls' response sizes, request sizes and durations per (server, tool), oldest first. */
  async recentResponseSizes(perKey: number): Promise<{ server: string; tool: string; sizes: number[]; requests: number[]; durations: number[] }[]> {
    const rows = await this.db.select<{ server: string; tool: string; sizes: (number | string)[]; requests: (number | string)[]; durations: number[] }>(
      `SELECT server, tool,
         arrayReverse(groupArray(response_bytes)) AS sizes,
         arrayReverse(groupArray(request_bytes)) AS requests,
         arrayReverse(groupArray(duration_ms)) AS durations
       FROM (
         SELECT server, tool, response_bytes, request_bytes, duration_ms FROM {db}.tool_calls
         WHERE status = 'ok'
           -- calls that raised a volume alert stay out of the baseline, across restarts too
           AND toString(id) NOT IN (
             SELECT arrayJoin(event_ids) FROM {db}.alerts
             WHERE detector IN ('result_size_outlier', 'argument_size_outlier', 'latency_outlier')
           )
         ORDER BY time DESC
         LIMIT {perKey:UInt32} BY server, tool
       )
       GROUP BY server, tool`,
      { perKey },
    );
    return rows.map((r) => ({
      server: r.server,
      tool: r.tool,
      sizes: r.sizes.map(Number),
      requests: r.requests.map(Number),
      durations: r.durations.map(Number),
    }));
  }

  /** Definitions seen so far, to remember pins across restarts. */
  async knownDefinitions(): Promise<KnownDefinition[]> {
    return this.db.select<KnownDefinition>(
      `SELECT server, tool,
         argMin(definition_hash, time) AS first_hash,
         argMax(definition_hash, time) AS last_hash,
         groupUniqArray(definition_hash) AS hashes,
         argMin(definition, time) AS first_definition,
         toString(min(time)) AS first_seen
       FROM {db}.tool_definitions
       GROUP BY server, tool`,
    );
  }

  /** Calls per session of each (server, tool), for the last `perKey` sessions that used it. */
  async recentSessionCounts(perKey: number): Promise<{ server: string; tool: string; counts: number[] }[]> {
    const rows = await this.db.select<{ server: string; tool: string; counts: (number | string)[] }>(
      `SELECT server, tool, groupArray(n) AS counts
       FROM (
         SELECT server, tool, session, count() AS n, max(time) AS last
         FROM {db}.tool_calls
         GROUP BY server, tool, session
         ORDER BY last DESC
         LIMIT {perKey:UInt32} BY server, tool
       )
       GROUP BY server, tool`,
      { perKey },
    );
    return rows.map((r) => ({ server: r.server, tool: r.tool, counts: r.counts.map(Number) }));
  }

  /** The most recent `limit` calls as (agent, session, server, tool), ordered by session then time. */
  async recentCallSequence(limit: number): Promise<{ agent: string; session: string; server: string; tool: string }[]> {
    return this.db.select<{ agent: string; session: string; server: string; tool: string }>(
      `SELECT agent, session, server, tool FROM (
         SELECT agent, session, server, tool, time FROM {db}.tool_calls ORDER BY time DESC LIMIT {limit:UInt32}
       ) ORDER BY session, time`,
      { limit },
    );
  }

  /** Result bytes per session for each agent's last `perAgent` sessions. */
  async recentSessionVolumes(perAgent: number): Promise<{ agent: string; volumes: number[] }[]> {
    const rows = await this.db.select<{ agent: string; volumes: (number | string)[] }>(
      `SELECT agent, groupArray(total) AS volumes FROM (
         SELECT agent, session, sum(response_bytes) AS total, max(time) AS last
         FROM {db}.tool_calls GROUP BY agent, session
         ORDER BY last DESC LIMIT {perAgent:UInt32} BY agent
       ) GROUP BY agent`,
      { perAgent },
    );
    return rows.map((r) => ({ agent: r.agent, volumes: r.volumes.map(Number) }));
  }

  /** Every server name seen in a session. */
  async knownServers(): Promise<string[]> {
    const rows = await this.db.select<{ server: string }>(`SELECT DISTINCT server FROM {db}.sessions`);
    return rows.map((r) => r.server);
  }
}
