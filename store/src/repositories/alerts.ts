/**
 * Alerts: the analyzer's writes and existence checks, and alerts with their
 * state (acknowledged, resolved, silenced) as people see them.
 */
import type { Alert, Severity } from '@tapwatch/schema';
import type { Connection } from '../connection/connection.js';
import { alertRow, toChTime } from '../rows.js';
import { Where, iso, nextVersion, str } from './common.js';

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

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

/** Newest state of every alert that has one. */
const ALERT_STATE = `SELECT id,
    argMax(status, version) AS status, argMax(silenced, version) AS silenced,
    argMax(silence_id, version) AS silence_id, argMax(note, version) AS note,
    argMax(updated_at, version) AS updated_at
  FROM {db}.alert_state GROUP BY id`;

export class AlertRepository {
  constructor(private readonly db: Connection) {}

  async insert(alerts: Alert[]): Promise<void> {
    await this.db.insert('alerts', alerts.map(alertRow));
  }

  /** Which of these alert ids are already stored. */
  async storedIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.db.select<{ id: string }>(`SELECT DISTINCT id FROM {db}.alerts WHERE id IN {ids:Array(String)}`, { ids }, { final: false });
    return new Set(rows.map((r) => r.id));
  }

  /** Time of the newest stored alert in ms since the epoch (0 when none): alert times keep increasing across restarts. */
  async lastTimeMs(): Promise<number> {
    const [last] = await this.db.select<{ ms: unknown }>('SELECT toUnixTimestamp64Milli(max(time)) AS ms FROM {db}.alerts');
    return Number(last?.ms ?? 0) || 0;
  }

  /** Alerts with their state, newest first (`limit + 1` rows). */
  async list(f: AlertFilter): Promise<AlertView[]> {
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
    const rows = await this.db.select(
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

  async get(id: string): Promise<AlertView | undefined> {
    const rows = await this.db.select(
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
  async setState(id: string, change: { status?: AlertStatus; silenceId?: string; note?: string }): Promise<AlertView | undefined> {
    const current = await this.get(id);
    if (!current) return undefined;
    const silenceId = change.silenceId ?? current.silenceId ?? '';
    await this.db.insert('alert_state', [
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
    return this.get(id);
  }

  /** Flags alerts as silenced (used by the analyzer when a silence holds them back). */
  async markSilenced(entries: { alertId: string; silenceId: string }[]): Promise<void> {
    const now = toChTime(new Date().toISOString());
    await this.db.insert(
      'alert_state',
      entries.map((e) => ({ id: e.alertId, status: 'open', silenced: true, silence_id: e.silenceId, note: '', updated_at: now, version: nextVersion() })),
    );
  }
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
