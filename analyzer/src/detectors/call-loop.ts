/**
 * `call_loop`: the last `loopWindow` calls of a session use at most two
 * distinct call signatures (tool + arguments hash) — the same call repeated,
 * or two calls ping-ponging. Agents stuck in a loop, or something hammering a
 * tool. State: the session's record in the shared rate state (rate-state.ts).
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { intern, once, subject, type RateState, type SessionCounters } from './rate-state.js';

export const LOOP_DETECTOR = 'call_loop';

/** Judges one call of the session `c`. Mutates `state` and `c`. */
export function detectCallLoop(state: RateState, c: SessionCounters, event: ToolCallEvent): Finding[] {
  // Signature = server, tool and the exact arguments.
  noteSignature(c, intern(`${event.server}/${event.tool}`), event.argumentsHash);
  const signatures = loopSignatures(c, state.config.loopWindow);
  if (signatures === undefined || !once(state, `${LOOP_DETECTOR}\u0000${event.session}\u0000${signatures.sort().join('|')}`)) return [];
  return [
    {
      ...subject(event),
      severity: 'medium',
      detector: LOOP_DETECTOR,
      title:
        signatures.length === 1
          ? `The same ${event.server}/${event.tool} call was repeated ${state.config.loopWindow} times in a row.`
          : `Two calls alternated for the last ${state.config.loopWindow} calls of the session (${signatures.map((d) => d.split('#')[0]).join(' ↔ ')}).`,
      evidence: { window: state.config.loopWindow, signatures, callId: event.id },
      eventIds: [event.id],
    },
  ];
}

/** Notes a call's signature in the session's loop tracking (see SessionCounters). */
function noteSignature(c: SessionCounters, tool: string, args: string): void {
  if (c.lastRun > 0 && tool === c.lastTool && args === c.lastArgs) {
    c.lastRun++;
    c.run++;
    return;
  }
  // A new signature: the suffix with at most two is the previous one's run plus this call,
  // unless this call is the other signature of the current suffix.
  const other = c.otherTool !== undefined && tool === c.otherTool && args === c.otherArgs;
  c.run = other ? c.run + 1 : c.lastRun + 1;
  c.otherTool = c.lastRun > 0 ? c.lastTool : undefined;
  c.otherArgs = c.lastArgs;
  c.lastTool = tool;
  c.lastArgs = args;
  c.lastRun = 1;
}

/** The distinct signatures (`server/tool#arguments hash`) of the last `window` calls, when there are at most two. */
function loopSignatures(c: SessionCounters, window: number): string[] | undefined {
  if (c.run < window) return undefined;
  const last = `${c.lastTool}#${c.lastArgs}`;
  return c.lastRun >= window || c.otherTool === undefined ? [last] : [last, `${c.otherTool}#${c.otherArgs}`];
}
