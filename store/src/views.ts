/**
 * Ready-made views over the call history, for `/v1/sql`, `tapwatch sql` and
 * the dashboard. Re-created at every `migrate()` after the migrations
 * (`CREATE OR REPLACE VIEW` is idempotent, and a changed definition here
 * replaces the old one). Plain views: they cost nothing until queried.
 *
 * `{db}` is replaced with the configured database.
 */

/** A call counts as failed when the protocol failed or the tool said it failed (`isError`). */
const FAILED = `(status != 'ok' OR is_error)`;

export const VIEWS: Readonly<Record<string, string>> = Object.freeze({
  /** Calls per server and tool per hour: volume, failures, latency and bytes. */
  calls_per_hour: `CREATE OR REPLACE VIEW {db}.calls_per_hour AS
    SELECT toStartOfHour(time) AS hour, server, tool,
      count() AS calls,
      countIf(${FAILED}) AS errors,
      round(avg(duration_ms), 3) AS avg_ms,
      round(quantile(0.95)(duration_ms), 3) AS p95_ms,
      sum(request_bytes) AS request_bytes,
      sum(response_bytes) AS response_bytes
    FROM {db}.tool_calls
    GROUP BY hour, server, tool`,
  /** Who moves the most data: bytes per agent and server, largest first. */
  top_talkers: `CREATE OR REPLACE VIEW {db}.top_talkers AS
    SELECT agent, server,
      count() AS calls,
      sum(request_bytes) AS request_bytes,
      sum(response_bytes) AS response_bytes,
      request_bytes + response_bytes AS total_bytes,
      min(time) AS first_call,
      max(time) AS last_call
    FROM {db}.tool_calls
    GROUP BY agent, server
    ORDER BY total_bytes DESC`,
  /** One row per session with its calls in order: (time, tool, status, duration_ms, response_bytes). */
  session_timelines: `CREATE OR REPLACE VIEW {db}.session_timelines AS
    SELECT session, any(agent) AS agent, any(server) AS server,
      min(time) AS first_call,
      max(time) AS last_call,
      count() AS calls,
      countIf(${FAILED}) AS errors,
      sum(response_bytes) AS total_response_bytes,
      arraySort(c -> c.1, groupArray((time, tool, toString(status), duration_ms, response_bytes))) AS timeline
    FROM {db}.tool_calls
    GROUP BY session`,
  /** Failure rates per server and tool, with the last error seen. */
  error_rates: `CREATE OR REPLACE VIEW {db}.error_rates AS
    SELECT server, tool,
      count() AS calls,
      countIf(${FAILED}) AS errors,
      round(countIf(${FAILED}) / count(), 4) AS error_rate,
      countIf(is_error) AS tool_errors,
      countIf(status = 'rpc_error') AS rpc_errors,
      countIf(status IN ('cancelled', 'incomplete')) AS unfinished,
      maxIf(time, ${FAILED}) AS last_error_time,
      argMaxIf(ifNull(error_message, ''), time, ${FAILED}) AS last_error
    FROM {db}.tool_calls
    GROUP BY server, tool`,
  /** Every definition a tool had, in order, with whether it changed from the one before. */
  tool_definition_history: `CREATE OR REPLACE VIEW {db}.tool_definition_history AS
    SELECT server, tool, time, definition_hash, previous_hash,
      toBool(previous_hash != '' AND previous_hash != definition_hash) AS changed,
      title, description, input_schema, agent, session
    FROM {db}.tool_definitions
    ORDER BY server, tool, time`,
});

/** The views' names, for the list of what users may query. */
export const VIEW_NAMES: readonly string[] = Object.freeze(Object.keys(VIEWS));

/** Creates or replaces every view through `run` (which substitutes `{db}`). */
export async function applyViews(run: (statement: string) => Promise<void>): Promise<void> {
  for (const statement of Object.values(VIEWS)) await run(statement);
}
