/**
 * Webhook deliveries that failed for good (written by the delivery stage, read by admins).
 */
import type { Connection } from '../connection/connection.js';
import { toChTime } from '../rows.js';
import { Where, iso, num, str } from './common.js';

export interface DeadLetter {
  id: string;
  time: string;
  url: string;
  alertId: string;
  attempts: number;
  lastStatus: number;
  lastError: string;
  payload: string;
}

export class DeadLetterRepository {
  constructor(private readonly db: Connection) {}

  /** Webhook deliveries that failed for good, newest first. */
  async list(limit: number, alertId?: string): Promise<DeadLetter[]> {
    const w = new Where().eq('alert_id', 'alertId', alertId);
    const rows = await this.db.select(`SELECT * FROM {db}.webhook_deadletters ${w} ORDER BY time DESC, id LIMIT {limit:UInt32}`, { ...w.params, limit });
    return rows.map((r) => ({
      id: str(r['id']),
      time: iso(r['time']),
      url: str(r['url']),
      alertId: str(r['alert_id']),
      attempts: num(r['attempts']),
      lastStatus: num(r['last_status']),
      lastError: str(r['last_error']),
      payload: str(r['payload']),
    }));
  }

  async insert(d: DeadLetter): Promise<void> {
    await this.db.insert('webhook_deadletters', [
      {
        id: d.id,
        time: toChTime(d.time),
        url: d.url,
        alert_id: d.alertId,
        attempts: d.attempts,
        last_status: d.lastStatus,
        last_error: d.lastError,
        payload: d.payload,
      },
    ]);
  }
}
