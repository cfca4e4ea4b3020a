/**
 * Event builders for unit tests: valid by the schema, with fresh ids, and any
 * field overridable.
 */
import { randomUUID } from 'node:crypto';
import type { SessionEndEvent, ToolCallEvent, ToolDefinition, ToolsListEvent } from '@tapwatch/schema';

function base(session = 's', server = 'fs') {
  return { v: 1 as const, id: randomUUID(), time: new Date().toISOString(), session, agent: 'a', server, transport: 'stdio' as const };
}

export function toolCallEvent(over: Partial<ToolCallEvent> = {}): ToolCallEvent {
  return {
    ...base(),
    type: 'tool_call',
    tool: 'read_file',
    requestId: '1',
    startedAt: new Date().toISOString(),
    durationMs: 1,
    requestBytes: 10,
    responseBytes: 100,
    status: 'ok',
    isError: false,
    errorCode: null,
    errorMessage: null,
    argumentKeys: [],
    argumentsHash: 'h',
    ...over,
  };
}

export function toolsListEvent(tools: ToolDefinition[], over: Partial<ToolsListEvent> = {}): ToolsListEvent {
  return { ...base('s', 'docs'), type: 'tools_list', tools, ...over };
}

export function sessionEndEvent(over: Partial<SessionEndEvent> = {}): SessionEndEvent {
  return { ...base(), type: 'session_end', calls: 0, incomplete: 0, exitCode: 0, signal: null, nonJsonLines: 0, ...over };
}
