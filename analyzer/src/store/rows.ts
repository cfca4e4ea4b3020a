/**
 * Maps events and alerts to table rows. Pure; column names match schema.ts.
 */
import type { Alert, SessionEndEvent, SessionStartEvent, ToolCallEvent } from '@tapwatch/schema';

/** ISO 8601 → `YYYY-MM-DD hh:mm:ss.sss` in UTC, which every ClickHouse input format parses. */
export function toChTime(iso: string): string {
  return new Date(iso).toISOString().replace('T', ' ').replace('Z', '');
}

/** `YYYY-MM-DD hh:mm:ss.sss` (UTC) → ISO 8601. */
export function fromChTime(ch: string): string {
  return new Date(ch.replace(' ', 'T') + 'Z').toISOString();
}

export function toolCallRow(e: ToolCallEvent): Record<string, unknown> {
  return {
    id: e.id,
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
  };
}

export function sessionRow(e: SessionStartEvent | SessionEndEvent): Record<string, unknown> {
  const start = e.type === 'session_start' ? e : undefined;
  const end = e.type === 'session_end' ? e : undefined;
  return {
    event_id: e.id,
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
