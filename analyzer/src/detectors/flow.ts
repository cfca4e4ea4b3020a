/**
 * Cross-server flow per agent: a sensitive or untrusted read followed, within
 * a bounded window, by a call that can send data out. Flagged at the egress
 * call; critical when the outgoing arguments carry pieces of what the
 * sensitive read returned (matched by the tap's content digests, which also
 * cover URL-, base64- and hex-encoded forms), high when they do not but the
 * egress follows closely or its arguments are about as large as what was
 * read, and the chain is named in the evidence.
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import { isEgressCall } from './egress.js';
import { BoundedMap, type Finding } from './types.js';
import { defineDetector } from './detector.js';

export const FLOW_DETECTOR = 'exfiltration_chain';

export interface FlowConfig {
  /** How long after a sensitive read an egress call is tied to it. */
  windowMs: number;
  /** Reads remembered per agent. */
  maxReadsPerAgent: number;
}

interface SourceRead {
  eventId: string;
  server: string;
  tool: string;
  session: string;
  atMs: number;
  /** Why this read is a source: secret in the result, sensitive path asked for, injected instructions… */
  reasons: string[];
  /** `sensitive` reads expose secrets; `untrusted` ones bring instructions from outside. */
  kind: 'sensitive' | 'untrusted';
  digests: Set<string>;
  resultBytes: number;
}

export interface FlowState {
  config: FlowConfig;
  /** agent → recent source reads, oldest first. */
  reads: BoundedMap<string, SourceRead[]>;
  /** (agent, egress event) already alerted — one alert per egress call. */
  alerted: BoundedMap<string, true>;
}

export function createFlowState(config: Partial<FlowConfig> = {}, maxAgents = 100_000): FlowState {
  return {
    config: { windowMs: 10 * 60_000, maxReadsPerAgent: 64, ...config },
    reads: new BoundedMap(maxAgents),
    alerted: new BoundedMap(maxAgents * 4),
  };
}

function sourceReasons(event: ToolCallEvent): { kind: SourceRead['kind']; reasons: string[] } | undefined {
  const sensitive: string[] = [];
  const untrusted: string[] = [];
  for (const f of event.findings ?? []) {
    if (f.kind === 'secret' && f.where === 'result' && !/entropy/i.test(f.rule)) sensitive.push(`secret in result (${f.rule})`);
    else if (f.kind === 'sensitive_path' && f.where === 'arguments') sensitive.push(`sensitive path read (${f.rule})`);
    else if (f.kind === 'path_traversal' && f.where === 'arguments') sensitive.push(`path traversal (${f.rule})`);
    else if (f.kind === 'injection_phrase' && f.where === 'result') untrusted.push(`injected instructions in result (${f.rule})`);
  }
  if (sensitive.length > 0) return { kind: 'sensitive', reasons: sensitive };
  if (untrusted.length > 0) return { kind: 'untrusted', reasons: untrusted };
  return undefined;
}

/** Judges one call. Mutates `state`. `nowMs` is the event's own time. */
export function detectFlow(state: FlowState, event: ToolCallEvent): Finding[] {
  const nowMs = Date.parse(event.time);
  const recent = (state.reads.get(event.agent) ?? []).filter((r) => nowMs - r.atMs <= state.config.windowMs);
  const findings: Finding[] = [];

  if (recent.length > 0 && isEgressCall(event) && event.status !== 'rpc_error') {
    const outgoing = new Set(event.argumentDigests ?? []);
    let best: { read: SourceRead; overlap: number } | undefined;
    for (const r of recent) {
      if (r.eventId === event.id) continue;
      let overlap = 0;
      for (const d of r.digests) if (outgoing.has(d)) overlap++;
      if (!best || overlap > best.overlap || (overlap === best.overlap && r.kind === 'sensitive' && best.read.kind !== 'sensitive')) {
        best = { read: r, overlap };
      }
    }
    const key = `${event.agent}\u0000${event.id}`;
    if (best && !state.alerted.has(key)) {
      const { read, overlap } = best;
      const carries = overlap > 0;
      // Outgoing arguments about as large as what was read: the content may be re-encoded beyond
      // what the digests follow (compressed, encrypted, paraphrased).
      const sizeRatio = read.resultBytes > 0 ? event.requestBytes / read.resultBytes : 0;
      const similarSize = read.resultBytes >= 256 && sizeRatio >= 0.5 && sizeRatio <= 2;
      // An untrusted read followed by egress is only worth a page when data from it flows out,
      // or when the egress names a destination (the injected instructions usually bring one).
      const worth = read.kind === 'sensitive' || carries || similarSize || (event.destinations?.length ?? 0) > 0;
      if (worth) {
        state.alerted.set(key, true);
        const severity = carries ? (read.kind === 'sensitive' ? 'critical' : 'high') : read.kind === 'sensitive' || similarSize ? 'high' : 'medium';
        const secondsAfter = Math.round((nowMs - read.atMs) / 100) / 10;
        findings.push({
          severity,
          detector: FLOW_DETECTOR,
          title: carries
            ? `Data from a ${read.kind} read (${read.server}/${read.tool}) is leaving through ${event.server}/${event.tool}.`
            : `${event.server}/${event.tool} can send data out ${secondsAfter}s after a ${read.kind} read (${read.server}/${read.tool}).`,
          server: event.server,
          tool: event.tool,
          agent: event.agent,
          session: event.session,
          evidence: {
            source: { callId: read.eventId, server: read.server, tool: read.tool, session: read.session, reasons: read.reasons, resultBytes: read.resultBytes },
            egress: { callId: event.id, destinations: event.destinations ?? [], requestBytes: event.requestBytes },
            matchingDigests: overlap,
            sizeRatio: Math.round(sizeRatio * 100) / 100,
            similarSize,
            secondsAfterSource: secondsAfter,
            windowSeconds: state.config.windowMs / 1000,
          },
          eventIds: [read.eventId, event.id],
        });
      }
    }
  }

  const source = sourceReasons(event);
  if (source) {
    recent.push({
      eventId: event.id,
      server: event.server,
      tool: event.tool,
      session: event.session,
      atMs: nowMs,
      reasons: source.reasons,
      kind: source.kind,
      digests: new Set(event.resultDigests ?? []),
      resultBytes: event.responseBytes,
    });
    if (recent.length > state.config.maxReadsPerAgent) recent.shift();
  }
  if (recent.length > 0 || state.reads.has(event.agent)) state.reads.set(event.agent, recent);
  return findings;
}

export const FLOW = defineDetector({
  id: FLOW_DETECTOR,
  emits: [FLOW_DETECTOR],
  eventTypes: ['tool_call'],
  create: () => createFlowState(),
  detect: detectFlow,
});
