/**
 * Erasure of one subject's data, for privacy requests: everything stored
 * about an agent, a session or a server (calls, sessions, server requests,
 * gaps, tool definitions, alerts with their state and dead letters) is
 * deleted, synchronously (silences that name the agent or server too), and
 * the purge itself is recorded in `purges`:
 * when, by whom, what kind of subject, how many rows per table. The record
 * keeps a SHA-256 of the subject, never the subject itself, so that keeping
 * the proof of erasure does not keep the identifier.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Connection } from '../connection/connection.js';
import { fromChTime, toChTime } from '../rows.js';
import { num, str } from './common.js';

export type PurgeSubject = 'agent' | 'session' | 'server';

export interface PurgeRecord {
  id: string;
  time: string;
  subject: PurgeSubject;
  /** SHA-256 (hex) of the subject's value. */
  subjectHash: string;
  /** Who asked (the token's name, or its role). */
  by: string;
  /** Rows deleted, by table. */
  rows: Record<string, number>;
}

/** Tables that name the subject in a column of the same name. */
const SUBJECT_TABLES = ['tool_calls', 'sessions', 'server_requests', 'delivery_gaps', 'tool_definitions', 'alerts'] as const;

export function subjectHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export class PurgeRepository {
  constructor(private readonly db: Connection) {}

  /** Deletes every row about `value` (waiting for the deletes to finish), then records the purge. */
  async purge(subject: PurgeSubject, value: string, by: string): Promise<PurgeRecord> {
    const params = { v: value };
    const rows: Record<string, number> = {};
    const alertIds = `SELECT id FROM {db}.alerts WHERE ${subject} = {v:String}`;
    // State and dead letters of the subject's alerts first: they are found through the alerts.
    rows.alert_state = await this.count(`SELECT count() AS n FROM {db}.alert_state WHERE id IN (${alertIds})`, params);
    rows.webhook_deadletters = await this.count(`SELECT count() AS n FROM {db}.webhook_deadletters WHERE alert_id IN (${alertIds})`, params);
    await this.delete('alert_state', `id IN (${alertIds})`, params);
    await this.delete('webhook_deadletters', `alert_id IN (${alertIds})`, params);
    for (const table of SUBJECT_TABLES) {
      rows[table] = await this.count(`SELECT count() AS n FROM {db}.${table} WHERE ${subject} = {v:String}`, params);
      await this.delete(table, `${subject} = {v:String}`, params);
    }
    if (subject !== 'session') {
      // A silence names its agent or server too (sessions are not silenced).
      rows.silences = await this.count(`SELECT count() AS n FROM {db}.silences WHERE ${subject} = {v:String}`, params);
      await this.delete('silences', `${subject} = {v:String}`, params);
    }
    const record: PurgeRecord = { id: randomUUID(), time: new Date().toISOString(), subject, subjectHash: subjectHash(value), by, rows };
    await this.db.insert('purges', [{ id: record.id, time: toChTime(record.time), subject, subject_hash: record.subjectHash, by, rows: JSON.stringify(rows) }]);
    return record;
  }

  /** The purges recorded, newest first. */
  async list(limit = 100): Promise<PurgeRecord[]> {
    const rows = await this.db.select(`SELECT id, time, subject, subject_hash, by, rows FROM {db}.purges ORDER BY time DESC LIMIT {limit:UInt32}`, { limit });
    return rows.map((r) => ({
      id: str(r.id),
      time: fromChTime(str(r.time)),
      subject: str(r.subject) as PurgeSubject,
      subjectHash: str(r.subject_hash),
      by: str(r.by),
      rows: JSON.parse(str(r.rows) || '{}') as Record<string, number>,
    }));
  }

  private async count(sql: string, params: Record<string, unknown>): Promise<number> {
    const r = await this.db.select<{ n: unknown }>(sql, params);
    return num(r[0]?.n);
  }

  private delete(table: string, where: string, params: Record<string, unknown>): Promise<void> {
    return this.db.run(`ALTER TABLE {db}.${table} DELETE WHERE ${where} SETTINGS mutations_sync = 2`, params);
  }
}
