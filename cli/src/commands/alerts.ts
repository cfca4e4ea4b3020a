/**
 * `tapwatch alerts`: recent alerts as coloured one-line summaries, from
 * storage (`/v1/sql`), and with `--follow` live from the alert stream
 * (resuming after the last alert shown, and again after a reconnect).
 */
import { SEVERITY_RANK, SeveritySchema, backoffDelay, printable, type Alert, type Severity } from '@tapwatch/schema';
import {
  CLIENT_HELP,
  CLIENT_OPTIONS,
  CliError,
  apiFailure,
  authHeaders,
  paint,
  parseCommand,
  request,
  runCli,
  targetFrom,
  useColour,
  type Target,
} from '../client.js';
import { FILTER_FIELDS, StreamRefused, alertFromRow, followAlertStream } from '@tapwatch/dashboard-api';

export const ALERTS_HELP = `Usage: tapwatch alerts [--follow] [--since ID|TIME] [filters]

Prints alerts, one line each, oldest first: the last --limit stored ones,
or those after --since. --follow then keeps printing new alerts as they are
raised (Ctrl-C to stop); it resumes where it was after a reconnect.

  -f, --follow       keep printing new alerts
  --since ID|TIME    start after this alert id, or at this ISO time
  --limit N          how many recent alerts without --since (default 20)
  --severity S       minimum severity: low, medium, high, critical
  --server NAME      only these servers (repeatable, or a comma list; NAME* matches a prefix)
  --tool NAME        only these tools
  --agent NAME       only these agents
  --detector NAME    only these detectors (e.g. rule:*)
  --json             one JSON alert per line
${CLIENT_HELP}
`;

const COLOURS: Record<Severity, string> = { critical: '1;41;97', high: '1;31', medium: '33', low: '36' };

/** One alert as one line: time, severity, detector, server/tool, agent, title. */
export function alertLine(a: Alert, colour: boolean): string {
  const time = a.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
  const sev = paint(colour, COLOURS[a.severity] ?? '0', a.severity.toUpperCase().padEnd(8));
  const where = printable([a.server, a.tool].filter((x) => x).join('/') || '-');
  const title = printable(a.title.replace(/[\r\n]+/g, ' '));
  return `${paint(colour, '2', printable(time))}  ${sev}  ${paint(colour, '35', printable(a.detector))}  ${where}  ${paint(colour, '2', printable(a.agent || '-'))}  ${title}`;
}

interface Filters {
  severity?: Severity | undefined;
  lists: Record<(typeof FILTER_FIELDS)[number], string[]>;
}

function listOf(v: unknown): string[] {
  return ((v as string[] | undefined) ?? [])
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter((x) => x);
}

/** WHERE clause and parameters for stored alerts matching the filters. */
export function alertQuery(f: Filters, since: { time?: string; id?: string }, limit: number): { sql: string; params: Record<string, string | number> } {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (f.severity) {
    const allowed = SeveritySchema.options.filter((s) => SEVERITY_RANK[s] >= SEVERITY_RANK[f.severity!]);
    where.push(`severity IN (${allowed.map((s) => `'${s}'`).join(', ')})`);
  }
  for (const field of FILTER_FIELDS) {
    const values = f.lists[field];
    if (values.length === 0) continue;
    where.push(
      `(${values
        .map((v, i) => {
          const name = `${field}_${i}`;
          params[name] = v.endsWith('*') ? v.slice(0, -1) : v;
          return v.endsWith('*') ? `startsWith(${field}, {${name}:String})` : `${field} = {${name}:String}`;
        })
        .join(' OR ')})`,
    );
  }
  if (since.id !== undefined) {
    params.since_id = since.id;
    where.push(`(time, id) > (SELECT time, id FROM alerts WHERE id = {since_id:String} ORDER BY time LIMIT 1)`);
  } else if (since.time !== undefined) {
    params.since_time = since.time;
    where.push(`time >= parseDateTime64BestEffort({since_time:String}, 3, 'UTC')`);
  }
  const cond = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  const columns = `id, toString(time) AS time_text, severity, detector, title, server, tool, agent, session, evidence, event_ids`;
  const sql =
    since.id !== undefined || since.time !== undefined
      ? `SELECT ${columns} FROM alerts ${cond} ORDER BY time, id LIMIT ${limit}`
      : `SELECT * FROM (SELECT ${columns}, time AS t FROM alerts ${cond} ORDER BY time DESC, id DESC LIMIT ${limit}) ORDER BY t, id`;
  return { sql, params };
}

const ISO = /^\d{4}-\d{2}-\d{2}/;

export async function alertsCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    'alerts',
    argv,
    {
      ...CLIENT_OPTIONS,
      follow: { type: 'boolean', short: 'f' },
      since: { type: 'string' },
      limit: { type: 'string' },
      severity: { type: 'string' },
      server: { type: 'string', multiple: true },
      tool: { type: 'string', multiple: true },
      agent: { type: 'string', multiple: true },
      detector: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    },
    ALERTS_HELP,
  );
  if (typeof parsed === 'number') return parsed;
  return runCli('alerts', async () => {
    const { values, positionals } = parsed;
    if (positionals.length > 0) throw new CliError(`unexpected argument ${positionals[0]}; see tapwatch alerts --help`, 2);
    let severity: Severity | undefined;
    if (typeof values.severity === 'string') {
      const s = SeveritySchema.safeParse(values.severity.toLowerCase());
      if (!s.success) throw new CliError(`--severity ${values.severity}: use low, medium, high or critical`, 2);
      severity = s.data;
    }
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new CliError('--limit takes a whole number from 1 to 10000', 2);
    const filters: Filters = {
      severity,
      lists: { server: listOf(values.server), tool: listOf(values.tool), agent: listOf(values.agent), detector: listOf(values.detector) },
    };
    const target = targetFrom(values);
    const colour = !values.json && useColour();
    const print = (a: Alert) => process.stdout.write(`${values.json ? JSON.stringify(a) : alertLine(a, colour)}\n`);

    const since = typeof values.since === 'string' ? values.since : undefined;
    const q = alertQuery(filters, since === undefined ? {} : ISO.test(since) ? { time: since } : { id: since }, since === undefined ? limit : 10_000);
    const res = await request(target, '/v1/sql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(q) });
    if (!res.ok) throw await apiFailure(res);
    const stored = ((await res.json()) as { rows: Record<string, unknown>[] }).rows.map(alertFromRow);
    if (since !== undefined && !ISO.test(since) && stored.length === 0) {
      const known = await request(target, '/v1/sql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT count() AS n FROM alerts WHERE id = {id:String}', params: { id: since } }),
      });
      if (known.ok && ((await known.json()) as { rows: { n: number }[] }).rows[0]?.n === 0)
        throw new CliError(`--since ${since}: no stored alert has this id (give an alert id or an ISO time)`);
    }
    for (const a of stored) print(a);
    if (!values.follow) return 0;
    const last = stored[stored.length - 1];
    return follow(target, filters, last?.id ?? new Date().toISOString(), print);
  });
}

/** Follows the stream until interrupted, resuming after the last alert printed when the connection drops. */
async function follow(target: Target, filters: Filters, since: string, print: (a: Alert) => void): Promise<number> {
  let cursor = since;
  const seen = new Set<string>();
  let stopping = false;
  let current: { close(): void } | undefined;
  const stop = () => {
    stopping = true;
    current?.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Reconnects after 0.5 s, then doubling up to 10 s while the API stays away.
  let failures = 0;
  while (!stopping) {
    const params = new URLSearchParams({ since: cursor });
    if (filters.severity) params.set('severity', filters.severity);
    for (const field of FILTER_FIELDS) if (filters.lists[field].length > 0) params.set(field, filters.lists[field].join(','));
    const wsUrl = `${target.url.replace(/^http/, 'ws')}/v1/alerts/stream?${params}`;
    let follower;
    try {
      follower = await followAlertStream(wsUrl, authHeaders(target), (m) => {
        if (typeof m.type === 'string') {
          if (m.type === 'error') process.stderr.write(`tapwatch alerts: ${(m.error as { message?: string } | undefined)?.message ?? 'stream error'}\n`);
          return;
        }
        const a = m as unknown as Alert;
        if (seen.has(a.id)) return;
        seen.add(a.id);
        if (seen.size > 10_000) {
          const oldest = seen.values().next();
          if (!oldest.done) seen.delete(oldest.value);
        }
        cursor = a.id;
        print(a);
      });
    } catch (err) {
      if (err instanceof StreamRefused && err.status >= 400 && err.status < 500) throw new CliError(`the alert stream refused: ${err.message}`);
      if (stopping) break;
      process.stderr.write(`tapwatch alerts: cannot reach ${target.url} (${(err as Error).message}); retrying\n`);
      await new Promise((r) => setTimeout(r, backoffDelay(++failures, { initialDelayMs: 500, maxDelayMs: 10_000 })));
      continue;
    }
    current = follower;
    if (stopping) follower.close();
    const closed = await follower.closed;
    current = undefined;
    if (stopping) break;
    failures = 0;
    process.stderr.write(`tapwatch alerts: stream closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ''}); resuming\n`);
    await new Promise((r) => setTimeout(r, backoffDelay(1, { initialDelayMs: 500 })));
  }
  return 0;
}
