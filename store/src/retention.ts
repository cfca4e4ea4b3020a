/**
 * How long tapwatch keeps what it stores: a ClickHouse TTL on every data
 * table and on the content columns, from settings, set at every start (after
 * the migrations) and changed only when a setting changed. Three classes:
 *
 * - content (default 30 days): the arguments and result previews of calls,
 *   the part that holds what users and servers actually said;
 * - calls (180 days): call, session, server-request and gap metadata;
 * - history (2 years): alerts, their state, webhook dead letters, silences,
 *   the tool definition history, and the record of purges.
 *
 * 0 days keeps a class for ever (the TTL is removed). `schema_migrations`
 * has none: it records the schema, not data. The engine drops expired rows
 * and clears expired columns when it merges parts (`OPTIMIZE … FINAL` forces
 * it). A cluster's Distributed tables carry no TTL: set it on the `_local`
 * tables there (deploy/k8s).
 */
import type { Connection } from './connection/connection.js';

export interface RetentionDays {
  content: number;
  calls: number;
  history: number;
}

/** Which class each table's rows are in, by which time column they expire; and content columns with their class. */
export const RETENTION: readonly { table: string; time: string; rows: keyof RetentionDays; columns?: readonly { name: string; type: string }[] }[] =
  Object.freeze([
    {
      table: 'tool_calls',
      time: 'time',
      rows: 'calls',
      columns: [
        { name: 'arguments', type: "String DEFAULT ''" },
        { name: 'result_preview', type: "String DEFAULT ''" },
      ],
    },
    { table: 'sessions', time: 'time', rows: 'calls' },
    { table: 'server_requests', time: 'time', rows: 'calls' },
    { table: 'delivery_gaps', time: 'time', rows: 'calls' },
    { table: 'tool_definitions', time: 'time', rows: 'history' },
    { table: 'alerts', time: 'time', rows: 'history' },
    { table: 'alert_state', time: 'updated_at', rows: 'history' },
    { table: 'webhook_deadletters', time: 'time', rows: 'history' },
    { table: 'silences', time: 'until', rows: 'history' },
    { table: 'purges', time: 'time', rows: 'history' },
  ]);

/** The TTL expression as the engine prints it back in `create_table_query`. */
function ttl(time: string, days: number): string {
  return `toDateTime(${time}) + toIntervalDay(${days})`;
}

/**
 * The statements that bring a table to the retention in `days`, given its
 * `CREATE TABLE` as the engine reports it: none when it is there already.
 */
export function retentionStatements(created: string, spec: (typeof RETENTION)[number], days: RetentionDays): string[] {
  const table = `{db}.${spec.table}`;
  const out: string[] = [];
  for (const c of spec.columns ?? []) {
    // The engine prints a column as "`name` Type [DEFAULT …] [TTL …]", columns apart by ", ".
    const definition = new RegExp(`\`${c.name}\` ([^,]*)`).exec(created)?.[1] ?? '';
    const current = / TTL (.+)$/.exec(definition)?.[1];
    const desired = days.content > 0 ? ttl(spec.time, days.content) : undefined;
    if (desired && current !== desired) out.push(`ALTER TABLE ${table} MODIFY COLUMN \`${c.name}\` ${c.type} TTL ${desired}`);
    else if (!desired && current !== undefined) out.push(`ALTER TABLE ${table} MODIFY COLUMN \`${c.name}\` REMOVE TTL`);
  }
  const rows = days[spec.rows];
  // The table TTL is printed last, after ORDER BY and before SETTINGS.
  const tableTtl = /\bORDER BY [\s\S]*?\bTTL (.+?)(?: SETTINGS |$)/.exec(created)?.[1];
  if (rows > 0 && tableTtl !== ttl(spec.time, rows)) out.push(`ALTER TABLE ${table} MODIFY TTL ${ttl(spec.time, rows)}`);
  else if (rows === 0 && tableTtl !== undefined) out.push(`ALTER TABLE ${table} REMOVE TTL`);
  return out;
}

/** Sets the retention on every table that has a MergeTree engine; returns the statements it ran. */
export async function applyRetention(db: Connection, days: RetentionDays): Promise<string[]> {
  const tables = await db.select<{ name: string; engine: string; create_table_query: string }>(
    `SELECT name, engine, create_table_query FROM system.tables WHERE database = {db:String}`,
    { db: db.database },
  );
  const byName = new Map(tables.map((t) => [t.name, t]));
  const ran: string[] = [];
  for (const spec of RETENTION) {
    const t = byName.get(spec.table);
    if (!t || !t.engine.endsWith('MergeTree')) continue;
    for (const statement of retentionStatements(t.create_table_query, spec, days)) {
      await db.run(statement);
      ran.push(statement);
    }
  }
  return ran;
}
