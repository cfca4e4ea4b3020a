/**
 * Silences: who muted which alerts until when, newest version of each.
 */
import type { Alert } from '@tapwatch/schema';
import type { Connection } from '../connection/connection.js';
import { toChTime } from '../rows.js';
import { TIME_PARAM, iso, nextVersion, str } from './common.js';

export interface Silence {
  id: string;
  createdAt: string;
  until: string;
  detector: string;
  server: string;
  tool: string;
  agent: string;
  reason: string;
}

/** Newest version of every silence. */
const SILENCES = `SELECT id, argMax(created_at, version) AS created_at, argMax(until, version) AS until,
    argMax(detector, version) AS detector, argMax(server, version) AS server, argMax(tool, version) AS tool,
    argMax(agent, version) AS agent, argMax(reason, version) AS reason, argMax(deleted, version) AS deleted
  FROM {db}.silences GROUP BY id`;

export class SilenceRepository {
  constructor(private readonly db: Connection) {}

  async create(s: Omit<Silence, 'createdAt'> & { createdAt?: string }): Promise<Silence> {
    const silence: Silence = { ...s, createdAt: s.createdAt ?? new Date().toISOString() };
    await this.db.insert('silences', [
      {
        id: silence.id,
        created_at: toChTime(silence.createdAt),
        until: toChTime(silence.until),
        detector: silence.detector,
        server: silence.server,
        tool: silence.tool,
        agent: silence.agent,
        reason: silence.reason,
        deleted: false,
        version: nextVersion(),
      },
    ]);
    return silence;
  }

  /** Silences not deleted; with `activeAt`, only those still in force then. */
  async list(activeAt?: string): Promise<Silence[]> {
    const rows = await this.db.select(
      `SELECT * FROM (${SILENCES}) WHERE NOT deleted ${activeAt ? `AND until > ${TIME_PARAM('at')}` : ''} ORDER BY created_at DESC, id`,
      activeAt ? { at: toChTime(activeAt) } : {},
    );
    return rows.map((r) => ({
      id: str(r['id']),
      createdAt: iso(r['created_at']),
      until: iso(r['until']),
      detector: str(r['detector']),
      server: str(r['server']),
      tool: str(r['tool']),
      agent: str(r['agent']),
      reason: str(r['reason']),
    }));
  }

  /** Deletes a silence; false when there is none with that id. */
  async delete(id: string): Promise<boolean> {
    const found = (await this.list()).find((s) => s.id === id);
    if (!found) return false;
    await this.db.insert('silences', [
      {
        id,
        created_at: toChTime(found.createdAt),
        until: toChTime(found.until),
        detector: found.detector,
        server: found.server,
        tool: found.tool,
        agent: found.agent,
        reason: found.reason,
        deleted: true,
        version: nextVersion(),
      },
    ]);
    return true;
  }
}

/** True when a silence covers an alert (empty fields match anything) at `at`. */
export function silenceMatches(s: Silence, alert: Pick<Alert, 'detector' | 'server' | 'tool' | 'agent'>, at: string): boolean {
  if (!(Date.parse(s.createdAt) <= Date.parse(at) && Date.parse(at) < Date.parse(s.until))) return false;
  return (
    (s.detector === '' || s.detector === alert.detector) &&
    (s.server === '' || s.server === alert.server) &&
    (s.tool === '' || s.tool === alert.tool) &&
    (s.agent === '' || s.agent === alert.agent)
  );
}
