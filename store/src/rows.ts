/**
 * Maps events and alerts to table rows. Pure; column names match schema.ts.
 */
import type {
  Alert,
  ContentFinding,
  DeliveryGapEvent,
  ServerRequestEvent,
  SessionEndEvent,
  SessionStartEvent,
  TapEvent,
  ToolCallEvent,
  ToolDefinition,
  ToolsListEvent,
} from '@tapwatch/schema';
import { eventFingerprint } from './fingerprint.js';

/** ISO 8601 → `YYYY-MM-DD hh:mm:ss.sss` in UTC, which every ClickHouse input format parses. */
export function toChTime(iso: string): string {
  // Taps send `Date#toISOString()` (UTC, milliseconds): cut it instead of parsing it (three times per stored call).
  if (CANONICAL_UTC.test(iso)) return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  return new Date(iso).toISOString().replace('T', ' ').replace('Z', '');
}

const CANONICAL_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** `YYYY-MM-DD hh:mm:ss.sss` (UTC) → ISO 8601. */
export function fromChTime(ch: string): string {
  return new Date(ch.replace(' ', 'T') + 'Z').toISOString();
}

export function toolCallRow(e: ToolCallEvent): Record<string, unknown> {
  return {
    id: e.id,
    fingerprint: eventFingerprint(e),
    time: toChTime(e.time),
    started_at: toChTime(e.startedAt),
    agent: e.agent,
    session: e.session,
    server: e.server,
    transport: e.transport,
    tool: e.tool,
    request_id: e.requestId,
    request_bytes: e.requestBytes,
    response_bytes: e.responseBytes,
    duration_ms: e.durationMs,
    status: e.status,
    is_error: e.isError,
    error_code: e.errorCode,
    error_message: e.errorMessage,
    argument_keys: e.argumentKeys,
    arguments_hash: e.argumentsHash,
    capture: e.capture ?? 'metadata',
    arguments: e.arguments === undefined ? '' : JSON.stringify(e.arguments),
    result_preview: e.resultPreview ?? '',
    findings: JSON.stringify(e.findings ?? []),
    finding_kinds: [...new Set((e.findings ?? []).map((f) => f.kind))],
    result_digests: e.resultDigests ?? [],
    argument_digests: e.argumentDigests ?? [],
    destinations: e.destinations ?? [],
    protocol_version: e.protocolVersion ?? '',
    client_name: e.client?.name ?? '',
    client_version: e.client?.version ?? '',
    server_version: e.serverInfo?.version ?? '',
    progress_notifications: e.progressNotifications ?? 0,
    rounds: e.rounds ?? 1,
    server_requests: e.serverRequests ?? 0,
    cut: e.cut ?? [],
  };
}

export function serverRequestRow(e: ServerRequestEvent): Record<string, unknown> {
  return {
    id: e.id,
    fingerprint: eventFingerprint(e),
    time: toChTime(e.time),
    started_at: toChTime(e.startedAt),
    agent: e.agent,
    session: e.session,
    server: e.server,
    transport: e.transport,
    method: e.method,
    request_id: e.requestId,
    request_bytes: e.requestBytes,
    response_bytes: e.responseBytes,
    duration_ms: e.durationMs,
    status: e.status,
    error_code: e.errorCode,
    action: e.action ?? '',
    related_tool: e.relatedTool ?? '',
    related_request_id: e.relatedRequestId ?? '',
    cut: e.cut ?? [],
  };
}

export function deliveryGapRow(e: DeliveryGapEvent): Record<string, unknown> {
  return {
    id: e.id,
    fingerprint: eventFingerprint(e),
    time: toChTime(e.time),
    agent: e.agent,
    session: e.session,
    server: e.server,
    transport: e.transport,
    dropped: e.dropped,
    from_time: e.from === undefined ? null : toChTime(e.from),
    to_time: e.to === undefined ? null : toChTime(e.to),
    reason: e.reason,
  };
}

export function sessionRow(e: SessionStartEvent | SessionEndEvent): Record<string, unknown> {
  const start = e.type === 'session_start' ? e : undefined;
  const end = e.type === 'session_end' ? e : undefined;
  return {
    event_id: e.id,
    fingerprint: eventFingerprint(e),
    time: toChTime(e.time),
    event: e.type === 'session_start' ? 'start' : 'end',
    session: e.session,
    agent: e.agent,
    server: e.server,
    transport: e.transport,
    protocol_version: start?.protocolVersion ?? '',
    client_name: start?.client?.name ?? '',
    client_version: start?.client?.version ?? '',
    server_name: start?.serverInfo?.name ?? '',
    server_version: start?.serverInfo?.version ?? '',
    target: start?.target ?? '',
    calls: end?.calls ?? 0,
    incomplete: end?.incomplete ?? 0,
    exit_code: end?.exitCode ?? null,
    signal: end?.signal ?? '',
    non_json_lines: end?.nonJsonLines ?? 0,
  };
}

export function alertRow(a: Alert): Record<string, unknown> {
  return {
    id: a.id,
    time: toChTime(a.time),
    severity: a.severity,
    detector: a.detector,
    title: a.title,
    server: a.server,
    tool: a.tool,
    agent: a.agent,
    session: a.session,
    evidence: JSON.stringify(a.evidence),
    event_ids: a.eventIds,
  };
}

type Row = Record<string, unknown>;
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const num = (v: unknown): number => Number(v ?? 0);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function parseJson<T>(text: unknown, fallback: T): T {
  try {
    return text === '' || text === undefined || text === null ? fallback : (JSON.parse(String(text)) as T);
  } catch {
    return fallback;
  }
}

/** Rebuilds a tool_call event from its stored row (for backtests). */
export function toolCallFromRow(r: Row): ToolCallEvent {
  const findings = parseJson<ContentFinding[]>(r.findings, []);
  const e: ToolCallEvent = {
    v: 1,
    id: str(r.id),
    time: fromChTime(str(r.time)),
    session: str(r.session),
    agent: str(r.agent),
    server: str(r.server),
    transport: str(r.transport) as ToolCallEvent['transport'],
    type: 'tool_call',
    tool: str(r.tool),
    requestId: str(r.request_id),
    startedAt: fromChTime(str(r.started_at)),
    durationMs: num(r.duration_ms),
    requestBytes: num(r.request_bytes),
    responseBytes: num(r.response_bytes),
    status: str(r.status) as ToolCallEvent['status'],
    isError: r.is_error === true || r.is_error === 1 || r.is_error === 'true',
    errorCode: r.error_code === null || r.error_code === undefined ? null : num(r.error_code),
    errorMessage: r.error_message === null || r.error_message === undefined ? null : str(r.error_message),
    argumentKeys: strs(r.argument_keys),
    argumentsHash: str(r.arguments_hash),
    capture: (str(r.capture) || 'metadata') as ToolCallEvent['capture'],
  };
  if (findings.length > 0) e.findings = findings;
  if (strs(r.result_digests).length > 0) e.resultDigests = strs(r.result_digests);
  if (strs(r.argument_digests).length > 0) e.argumentDigests = strs(r.argument_digests);
  if (strs(r.destinations).length > 0) e.destinations = strs(r.destinations);
  if (str(r.protocol_version)) e.protocolVersion = str(r.protocol_version);
  if (str(r.client_name)) e.client = { name: str(r.client_name), ...(str(r.client_version) ? { version: str(r.client_version) } : {}) };
  if (num(r.progress_notifications) > 0) e.progressNotifications = num(r.progress_notifications);
  if (num(r.rounds) > 1) e.rounds = num(r.rounds);
  if (num(r.server_requests) > 0) e.serverRequests = num(r.server_requests);
  if (strs(r.cut).length > 0) e.cut = strs(r.cut);
  return e;
}

/** Rebuilds a session event from its stored row. */
export function sessionFromRow(r: Row): SessionStartEvent | SessionEndEvent {
  const base = {
    v: 1 as const,
    id: str(r.event_id),
    time: fromChTime(str(r.time)),
    session: str(r.session),
    agent: str(r.agent),
    server: str(r.server),
    transport: str(r.transport) as ToolCallEvent['transport'],
  };
  if (str(r.event) === 'start') {
    const e: SessionStartEvent = { ...base, type: 'session_start' };
    if (str(r.protocol_version)) e.protocolVersion = str(r.protocol_version);
    if (str(r.client_name)) e.client = { name: str(r.client_name), version: str(r.client_version) };
    if (str(r.server_name)) e.serverInfo = { name: str(r.server_name), version: str(r.server_version) };
    if (str(r.target)) e.target = str(r.target);
    return e;
  }
  return {
    ...base,
    type: 'session_end',
    calls: num(r.calls),
    incomplete: num(r.incomplete),
    exitCode: r.exit_code === null || r.exit_code === undefined ? null : num(r.exit_code),
    signal: str(r.signal) || null,
    nonJsonLines: num(r.non_json_lines),
  };
}

/** Rebuilds one-tool tools_list events from the definition history (first sightings and changes). */
export function toolsListFromRows(rows: Row[]): ToolsListEvent[] {
  const byEvent = new Map<string, ToolsListEvent>();
  for (const r of rows) {
    const id = str(r.event_id);
    let e = byEvent.get(id);
    if (!e) {
      e = {
        v: 1,
        id,
        time: fromChTime(str(r.time)),
        session: str(r.session),
        agent: str(r.agent),
        server: str(r.server),
        transport: 'stdio',
        type: 'tools_list',
        tools: [],
      };
      byEvent.set(id, e);
    }
    e.tools.push(parseJson<ToolDefinition>(r.definition, { name: str(r.tool) }));
  }
  return [...byEvent.values()];
}

/** Orders events of several tables by time, keeping a stable order for equal times. */
export function byTime(events: TapEvent[]): TapEvent[] {
  return events
    .map((e, i) => ({ e, i, t: Date.parse(e.time) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.e);
}
