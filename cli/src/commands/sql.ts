/**
 * `tapwatch sql "SELECT …"`: runs read-only SQL through `POST /v1/sql` and
 * prints an aligned table (or JSON, or CSV).
 */
import { readFileSync } from 'node:fs';
import { CLIENT_HELP, CLIENT_OPTIONS, CliError, apiFailure, parseCommand, request, runCli, targetFrom } from '../client.js';
import { toTable, type Columns } from '@tapwatch/dashboard-api';

export const SQL_HELP = `Usage: tapwatch sql [options] "SELECT …"

Runs one read-only SELECT over tapwatch's tables and views (tool_calls,
sessions, alerts, tool_definitions, server_requests, delivery_gaps,
calls_per_hour, top_talkers, session_timelines, error_rates,
tool_definition_history) and prints an aligned table. "-" reads the query
from stdin.

  --json              print the rows as JSON
  --csv               print CSV with a header row
  --param NAME=VALUE  a named query parameter, used as {NAME:Type} in the query (repeatable)
${CLIENT_HELP}

Example:
  tapwatch sql "SELECT server, tool, calls FROM calls_per_hour WHERE hour > now() - INTERVAL 1 DAY ORDER BY calls DESC LIMIT 10"
  tapwatch sql --param s=my-session "SELECT tool, status FROM tool_calls WHERE session = {s:String} ORDER BY time"
`;

export async function sqlCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'sql',
    argv,
    { ...CLIENT_OPTIONS, json: { type: 'boolean' }, csv: { type: 'boolean' }, param: { type: 'string', multiple: true } },
    SQL_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  return runCli('sql', async () => {
    const { values, positionals } = parsed;
    if (values.json && values.csv) throw new CliError('choose one of --json and --csv', 2);
    if (positionals.length !== 1) throw new CliError(`expected one query (quote it), got ${positionals.length} arguments; see tapwatch sql --help`, 2);
    const sql = positionals[0] === '-' ? readFileSync(0, 'utf8') : positionals[0]!;
    const params: Record<string, string> = {};
    for (const p of (values.param as string[] | undefined) ?? []) {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new CliError(`--param ${p}: expected NAME=VALUE`, 2);
      params[p.slice(0, eq)] = p.slice(eq + 1);
    }
    const format = values.csv ? 'csv' : 'json';
    const res = await request(targetFrom(values), '/v1/sql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sql, params, format }),
    });
    if (!res.ok) throw await apiFailure(res);
    if (format === 'csv') {
      process.stdout.write(await res.text());
      return 0;
    }
    const body = (await res.json()) as Columns;
    process.stdout.write(values.json ? `${JSON.stringify(body.rows, null, 2)}\n` : toTable(body));
    return 0;
  });
}
