/**
 * Severity rises when independent detector families agree: a finding in a
 * session where another family already raised a medium-or-higher alert
 * within the window goes up one level (low → medium → high → critical), and
 * its evidence names the families that corroborate it.
 */
import { SEVERITY_RANK, type Severity } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';

const BY_RANK: Severity[] = ['low', 'medium', 'high', 'critical'];

export interface CorroborationState {
  windowMs: number;
  /** session → family → { highest severity rank, last time } */
  sessions: BoundedMap<string, Map<string, { rank: number; atMs: number }>>;
}

export function createCorroborationState(windowMs = 15 * 60_000, maxSessions = 200_000): CorroborationState {
  return { windowMs, sessions: new BoundedMap(maxSessions) };
}

/** The family of a detector id: `content.secret` → `content`. */
export function family(detector: string): string {
  return detector.split('.')[0] ?? detector;
}

/** Adjusts findings in place and records them. Mutates `state`. */
export function corroborate(state: CorroborationState, findings: Finding[], nowMs: number): Finding[] {
  for (const f of findings) {
    if (!f.session) continue;
    let families = state.sessions.get(f.session);
    if (!families) {
      families = new Map();
      state.sessions.set(f.session, families);
    }
    const mine = family(f.detector);
    const agreeing = [...families.entries()]
      .filter(([fam, v]) => fam !== mine && v.rank >= SEVERITY_RANK.medium && nowMs - v.atMs <= state.windowMs)
      .map(([fam]) => fam);
    const ownRank = SEVERITY_RANK[f.severity];
    if (agreeing.length > 0 && ownRank < SEVERITY_RANK.critical) {
      f.evidence = { ...f.evidence, corroboratedBy: agreeing, severityBeforeCorroboration: f.severity };
      f.severity = BY_RANK[ownRank] ?? f.severity; // ranks are 1-based: BY_RANK[rank] is one level up
    }
    const prev = families.get(mine);
    families.set(mine, { rank: Math.max(prev?.rank ?? 0, SEVERITY_RANK[f.severity]), atMs: nowMs });
  }
  return findings;
}
