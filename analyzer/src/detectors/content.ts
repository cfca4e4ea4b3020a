/**
 * Content findings → alerts. The tap inspects arguments and results on the
 * raw text (so this works at every capture level) and ships what it found;
 * this detector decides what each finding means for a security engineer and
 * keeps one alert per (session, rule) so a crawl does not flood the stream.
 */
import type { ContentFinding, Severity, ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { isEgressCall } from './egress.js';
import { defineDetector } from './detector.js';

export const CONTENT_DETECTOR = 'content';

/** Rules the tap names for generic high-entropy strings: worth a note, not a page. */
const WEAK_SECRET_RULES = /entropy/i;

export interface ContentState {
  /** (session, kind, where, rule) already alerted. */
  alerted: BoundedMap<string, true>;
}

export function createContentState(maxKeys = 500_000): ContentState {
  return { alerted: new BoundedMap(maxKeys) };
}

/** What a finding means, in one sentence and a severity; undefined when it is not worth an alert. */
function judge(f: ContentFinding, event: ToolCallEvent): { severity: Severity; what: string } | undefined {
  const subject = `${event.server}/${event.tool}`;
  const at = f.field ? ` (argument ${f.field})` : '';
  switch (f.kind) {
    case 'secret': {
      const weak = WEAK_SECRET_RULES.test(f.rule);
      if (f.where === 'arguments') {
        const egress = isEgressCall(event);
        if (weak)
          return egress ? { severity: 'medium', what: `A high-entropy string that may be a secret is being sent out through ${subject}${at}` } : undefined;
        return { severity: egress ? 'critical' : 'high', what: `A secret (${f.rule}) is being sent in the arguments of ${subject}${at}` };
      }
      if (weak) return { severity: 'low', what: `A result of ${subject} holds a high-entropy string that may be a secret` };
      return { severity: 'high', what: `A result of ${subject} exposed a secret (${f.rule}) to the agent` };
    }
    case 'sensitive_path':
      return f.where === 'arguments' ? { severity: 'high', what: `${subject} was asked for a sensitive file (${f.rule})${at}` } : undefined;
    case 'path_traversal':
      return f.where === 'arguments' ? { severity: 'high', what: `Path traversal (${f.rule}) in the arguments of ${subject}${at}` } : undefined;
    case 'shell_injection':
      return f.where === 'arguments' ? { severity: 'high', what: `Shell injection (${f.rule}) in the arguments of ${subject}${at}` } : undefined;
    case 'injection_phrase':
      return f.where === 'result'
        ? { severity: 'high', what: `A result of ${subject} carries instructions aimed at the agent (${f.rule})` }
        : { severity: 'medium', what: `The arguments of ${subject} carry prompt-injection text (${f.rule})${at}` };
    case 'invisible_text':
      return { severity: 'medium', what: `Invisible characters (${f.rule}) in the ${f.where === 'result' ? 'result' : 'arguments'} of ${subject}` };
    default:
      return undefined;
  }
}

/** Turns one call's findings into alerts. Mutates `state`. */
export function detectContent(state: ContentState, event: ToolCallEvent): Finding[] {
  if (!event.findings || event.findings.length === 0) return [];
  const out: Finding[] = [];
  for (const f of event.findings) {
    const verdict = judge(f, event);
    if (!verdict) continue;
    const key = `${event.session}\u0000${f.kind}\u0000${f.where}\u0000${f.rule}`;
    if (state.alerted.has(key)) continue;
    state.alerted.set(key, true);
    out.push({
      severity: verdict.severity,
      detector: `${CONTENT_DETECTOR}.${f.kind}`,
      title: `${verdict.what}.`,
      server: event.server,
      tool: event.tool,
      agent: event.agent,
      session: event.session,
      evidence: {
        kind: f.kind,
        where: f.where,
        rule: f.rule,
        ...(f.field !== undefined ? { field: f.field } : {}),
        ...(f.excerpt !== undefined ? { excerpt: f.excerpt } : {}),
        callId: event.id,
        requestId: event.requestId,
        findingsInCall: event.findings.length,
      },
      eventIds: [event.id],
    });
  }
  return out;
}

/** Findings carry `content.<kind>`: `emits` names the prefix. */
export const CONTENT = defineDetector({
  id: CONTENT_DETECTOR,
  emits: [CONTENT_DETECTOR],
  eventTypes: ['tool_call'],
  create: () => createContentState(),
  detect: detectContent,
});
