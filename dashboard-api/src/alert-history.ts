/**
 * Stored alerts for the alert stream's resume (`since=`): pages of the
 * `alerts` table in (time, id) order, read through the same read-only path
 * as user SQL.
 */
import { TapwatchError, type Alert, type Severity } from '@tapwatch/schema';
import { fromChTime, toChTime, type Store } from '@tapwatch/store';

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
      const r = await store.sql.query('SELECT toString(time) AS time FROM alerts WHERE id = {id:String} ORDER BY time LIMIT 1', { id: since });
      const row = r.rows[0];
      if (!row) throw new TapwatchError('TAPWATCH_STREAM_UNKNOWN_SINCE', `since=${since} is neither a stored alert id nor an ISO time`, { httpStatus: 400 });
      return { time: fromChTime(String(row.time)), id: since };
    },
    async after(cursor, limit) {
      const r = await store.sql.query(
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
