/**
 * Repeated alerts merge: within a window, alerts of the same detector, server,
 * tool and agent after the first are held back and counted; when the window
 * closes, one summary alert carries the count, the sessions and the event ids
 * (bounded). The first alert always goes out at once, so merging never delays
 * detection; it only keeps a storm from burying everything else.
 *
 * Merging never lowers a severity. A group speaks for its highest-severity
 * member: only alerts of at most the severity the group has published are held
 * back. One of higher severity (a critical secret after a low finding the same
 * server triggered on purpose) is published at once with its own title and
 * evidence, and opens the group anew: what was held until then goes out as the
 * old group's summary, and later repeats are summarised under it. So every
 * summary carries the highest severity and the title of its members.
 */
import { SEVERITY_RANK, type Alert } from '@tapwatch/schema';
import { BoundedMap } from './types.js';

export const MERGED_SUFFIX = ':repeats';

interface Group {
  /** The alert published for the group: its highest-severity member (the first of those). */
  first: Alert;
  openedMs: number;
  count: number;
  sessions: Set<string>;
  eventIds: string[];
  lastTime: string;
}

export interface MergeState {
  windowMs: number;
  groups: BoundedMap<string, Group>;
}

export function createMergeState(windowMs = 10 * 60_000, maxGroups = 100_000): MergeState {
  return { windowMs, groups: new BoundedMap(maxGroups) };
}

function groupKey(a: Alert): string {
  return `${a.detector}\u0000${a.server}\u0000${a.tool}\u0000${a.agent}`;
}

/**
 * Passes each alert through the merger: returns the alerts to store and
 * publish now (first of a group, one of higher severity than its group has
 * published, and summaries of groups whose window closed before `nowMs` or
 * that such an alert took over). Mutates `state`.
 */
export function mergeAlerts(state: MergeState, alerts: Alert[], nowMs: number): Alert[] {
  const out = closeExpired(state, nowMs);
  for (const a of alerts) {
    const k = groupKey(a);
    const g = state.groups.get(k);
    if (g && nowMs - g.openedMs < state.windowMs && SEVERITY_RANK[a.severity] <= SEVERITY_RANK[g.first.severity]) {
      g.count++;
      g.sessions.add(a.session);
      if (g.eventIds.length < 100) g.eventIds.push(...a.eventIds.slice(0, 100 - g.eventIds.length));
      g.lastTime = a.time;
      continue;
    }
    if (g) out.push(...summary(g));
    state.groups.set(k, { first: a, openedMs: nowMs, count: 0, sessions: new Set(), eventIds: [], lastTime: a.time });
    out.push(a);
  }
  return out;
}

/** Summaries of every group whose window has closed by `nowMs` (call periodically too). */
export function closeExpired(state: MergeState, nowMs: number): Alert[] {
  const out: Alert[] = [];
  for (const [k, g] of state.groups.entries()) {
    if (nowMs - g.openedMs < state.windowMs) continue;
    out.push(...summary(g));
    state.groups.delete(k);
  }
  return out;
}

/** The group's summary (none without repeats): severity and title of `first`, which no member outranks. */
function summary(g: Group): Alert[] {
  if (g.count === 0) return [];
  const a = g.first;
  return [
    {
      ...a,
      id: `${a.id}${MERGED_SUFFIX}`.slice(0, 128),
      time: g.lastTime,
      title:
        `${g.count} more alert${g.count === 1 ? '' : 's'} like this within ${Math.round((Date.parse(g.lastTime) - Date.parse(a.time)) / 1000)}s: ${a.title}`.slice(
          0,
          1024,
        ),
      session: g.sessions.size === 1 ? ([...g.sessions][0] ?? a.session) : a.session,
      evidence: { mergedInto: a.id, count: g.count, sessions: [...g.sessions].slice(0, 50), firstTime: a.time, lastTime: g.lastTime },
      eventIds: g.eventIds.slice(0, 100),
    },
  ];
}
