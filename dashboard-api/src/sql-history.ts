/**
 * Stored alerts for the alert stream's resume (`since=`): pages of the
 * `alerts` table in (time, id) order, read through the same read-only path
 * as user SQL, and the filters a subscriber chooses.
 */
import { SEVERITY_RANK, SeveritySchema, TapwatchError, type Alert, type Severity } from '@tapwatch/schema';
import { fromChTime, toChTime, type Store } from '@tapwatch/analyzer';

/** Server-side filters of one subscriber; an empty list means "any". */
export interface AlertFilters {
  /** Minimum severity. */
  severity?: Severity | undefined;
  server: string[];
  tool: string[];
  agent: string[];
  detector: string[];
}

export const FILTER_FIELDS = ['server', 'tool', 'agent', 'detector'] as const;

export function emptyFilters(): AlertFilters {
  return { server: [], tool: [], agent: [], detector: [] };
}

/** Splits repeated and comma-separated values: `["a,b", "c"]` → `["a", "b", "c"]`. */
function values(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list
    .flatMap((x) => String(x).split(','))
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

function badFilter(message: string): TapwatchError {
  return new TapwatchError('TAPWATCH_STREAM_BAD_FILTER', message, { httpStatus: 400 });
}

/**
 * Reads filters from query parameters or a subscribe message's `filters`
 * object (`severity`, `server`, `tool`, `agent`, `detector`; each a string,
 * a comma list or an array). A value ending in `*` matches by prefix.
 */
export function parseFilters(input: Record<string, unknown>): AlertFilters {
  const f = emptyFilters();
  for (const key of Object.keys(input)) {
    if (key !== 'severity' && !(FILTER_FIELDS as readonly string[]).includes(key)) {
      throw badFilter(`unknown filter ${JSON.stringify(key)}: use severity, ${FILTER_FIELDS.join(', ')}`);
    }
  }
  const sev = values(input.severity);
  if (sev.length > 1) throw badFilter('severity takes one value: the minimum severity (low, medium, high, critical)');
  if (sev[0] !== undefined) {
    const parsed = SeveritySchema.safeParse(sev[0].toLowerCase());
    if (!parsed.success) throw badFilter(`unknown severity ${JSON.stringify(sev[0])}: use low, medium, high or critical`);
    f.severity = parsed.data;
  }
  for (const field of FILTER_FIELDS) f[field] = values(input[field]);
  return f;
}

/** Filters from a URL's query string (`token` and `since` are not filters). */
export function filtersFromQuery(params: URLSearchParams): AlertFilters {
  const input: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (k === 'token' || k === 'since') continue;
    (input[k] ??= []).push(v);
  }
  return parseFilters(input);
}

function matchesOne(patterns: string[], value: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : p === value));
}

export function matchesFilters(f: AlertFilters, a: Alert): boolean {
  if (f.severity && SEVERITY_RANK[a.severity] < SEVERITY_RANK[f.severity]) return false;
  return matchesOne(f.server, a.server) && matchesOne(f.tool, a.tool) && matchesOne(f.agent, a.agent) && matchesOne(f.detector, a.detector);
}

/** Where a replay starts: after a stored alert, or at a time. */
export interface ReplayCursor {
  time: string;
  id: string;
}

export interface AlertHistory {
  /** The cursor for `since` (an alert id or an ISO time); throws when the id is unknown or the time invalid. */
  locate(since: string): Promise<ReplayCursor>;
  /** Up to `limit` stored alerts after the cursor, in (time, id) order. */
  after(cursor: ReplayCursor, limit: number): Promise<Alert[]>;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Alert history over the store's read-only path. */
export function alertHistory(store: Store): AlertHistory {
  return {
    async locate(since) {
      if (ISO_TIME.test(since)) {
        const t = new Date(/T|Z/.test(since) ? since : `${since}T00:00:00Z`);
        if (Number.isNaN(t.getTime())) throw badSince(since);
        // id '' sorts before every id: the replay starts at the time itself.
        return { time: t.toISOString(), id: '' };
      }
      const r = await store.queryReadOnly('SELECT toString(time) AS time FROM alerts WHERE id = {id:String} ORDER BY time LIMIT 1', { id: since });
      const row = r.rows[0];
      if (!row) throw new TapwatchError('TAPWATCH_STREAM_UNKNOWN_SINCE', `since=${since} is neither a stored alert id nor an ISO time`, { httpStatus: 400 });
      return { time: fromChTime(String(row.time)), id: since };
    },
    async after(cursor, limit) {
      const r = await store.queryReadOnly(
        `SELECT id, toString(time) AS time_text, severity, detector, title, server, tool, agent, session, evidence, event_ids
         FROM alerts
         WHERE (time, id) > (toDateTime64({t:String}, 3, 'UTC'), {id:String})
         ORDER BY time, id
         LIMIT {limit:UInt32}`,
        { t: toChTime(cursor.time), id: cursor.id, limit },
      );
      return r.rows.map(alertFromRow);
    },
  };
}

function badSince(since: string): TapwatchError {
  return new TapwatchError('TAPWATCH_STREAM_UNKNOWN_SINCE', `since=${since} is not a valid time`, { httpStatus: 400 });
}

/** An alert rebuilt from a row of `alerts` selected with `toString(time) AS time_text` (the stream's replay and `tapwatch alerts`). */
export function alertFromRow(r: Record<string, unknown>): Alert {
  let evidence: Record<string, unknown> = {};
  try {
    evidence = JSON.parse(String(r.evidence ?? '{}')) as Record<string, unknown>;
  } catch {
    evidence = { raw: r.evidence };
  }
  return {
    id: String(r.id),
    time: fromChTime(String(r.time_text)),
    severity: r.severity as Severity,
    detector: String(r.detector),
    title: String(r.title),
    server: String(r.server),
    tool: String(r.tool),
    agent: String(r.agent),
    session: String(r.session),
    evidence,
    eventIds: Array.isArray(r.event_ids) ? r.event_ids.map(String) : [],
  };
}
