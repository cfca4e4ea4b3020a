/**
 * The event shapes a tap emits and the analyzer consumes. This file is the one
 * definition every stage imports; types are inferred from the zod schemas.
 *
 * Versioning: every event carries `v`. A change that breaks readers bumps it and
 * the analyzer keeps parsing the versions it knows.
 */
import { z } from 'zod';

export const EVENT_SCHEMA_VERSION = 1 as const;

/** Caps that keep one event bounded whatever a server sends. */
export const LIMITS = Object.freeze({
  /** Largest accepted serialized event (bytes): tool lists of big servers fit, a runaway does not. */
  maxEventBytes: 4 * 1024 * 1024,
  maxNameLength: 512,
  maxTools: 2000,
  maxDescriptionLength: 64 * 1024,
});

const name = z.string().min(1).max(LIMITS.maxNameLength);
const isoTime = z.iso.datetime({ offset: true });

export const PeerInfoSchema = z
  .object({
    name: z.string().max(LIMITS.maxNameLength),
    version: z.string().max(LIMITS.maxNameLength).optional(),
  })
  .loose();
export type PeerInfo = z.infer<typeof PeerInfoSchema>;

export const TransportSchema = z.enum(['stdio', 'http', 'sdk']);
export type Transport = z.infer<typeof TransportSchema>;

/** Fields every event has: who, where and when. */
const EventBase = z.object({
  v: z.literal(EVENT_SCHEMA_VERSION),
  /** Unique event id (UUID); storage deduplicates on it. */
  id: z.uuid(),
  /** When the event happened (for a call: when its response arrived), ISO 8601. */
  time: isoTime,
  session: name,
  agent: name,
  server: name,
  transport: TransportSchema,
});

export const SessionStartEventSchema = EventBase.extend({
  type: z.literal('session_start'),
  protocolVersion: z.string().max(64).optional(),
  client: PeerInfoSchema.optional(),
  serverInfo: PeerInfoSchema.optional(),
  /** The command the stdio tap started, or the upstream URL. */
  target: z.string().max(4096).optional(),
});
export type SessionStartEvent = z.infer<typeof SessionStartEventSchema>;

export const SessionEndEventSchema = EventBase.extend({
  type: z.literal('session_end'),
  calls: z.number().int().nonnegative(),
  /** Calls still open when the session ended. */
  incomplete: z.number().int().nonnegative(),
  exitCode: z.number().int().nullable(),
  signal: z.string().max(32).nullable(),
  /** Lines on the wire that were not JSON-RPC (relayed untouched, counted here). */
  nonJsonLines: z.number().int().nonnegative(),
});
export type SessionEndEvent = z.infer<typeof SessionEndEventSchema>;

export const CallStatusSchema = z.enum(['ok', 'tool_error', 'rpc_error', 'cancelled', 'incomplete']);
export type CallStatus = z.infer<typeof CallStatusSchema>;

export const ToolCallEventSchema = EventBase.extend({
  type: z.literal('tool_call'),
  tool: name,
  /** The JSON-RPC id as it appeared on the wire, serialized (so `0` and `"0"` stay distinct). */
  requestId: z.string().max(256),
  startedAt: isoTime,
  durationMs: z.number().nonnegative(),
  /** Bytes of the serialized `arguments` object. */
  requestBytes: z.number().int().nonnegative(),
  /** Bytes of the serialized `result` (or `error`) object. */
  responseBytes: z.number().int().nonnegative(),
  status: CallStatusSchema,
  /** `result.isError` or a JSON-RPC error. */
  isError: z.boolean(),
  errorCode: z.number().int().nullable(),
  errorMessage: z.string().max(1024).nullable(),
  /** Top-level argument names; values are not shipped at this capture level. */
  argumentKeys: z.array(z.string().max(LIMITS.maxNameLength)).max(256),
  /** SHA-256 of the serialized arguments: spots identical calls without shipping them. */
  argumentsHash: z.string().max(128),
});
export type ToolCallEvent = z.infer<typeof ToolCallEventSchema>;

export const ToolDefinitionSchema = z
  .object({
    name,
    title: z.string().max(LIMITS.maxNameLength).optional(),
    description: z.string().max(LIMITS.maxDescriptionLength).optional(),
    inputSchema: z.unknown().optional(),
    outputSchema: z.unknown().optional(),
    annotations: z.unknown().optional(),
  })
  .loose();
export type ToolDefinition = z.infer<typeof ToolDefinitionSchema>;

export const ToolsListEventSchema = EventBase.extend({
  type: z.literal('tools_list'),
  tools: z.array(ToolDefinitionSchema).max(LIMITS.maxTools),
});
export type ToolsListEvent = z.infer<typeof ToolsListEventSchema>;

export const TapEventSchema = z.discriminatedUnion('type', [
  SessionStartEventSchema,
  SessionEndEventSchema,
  ToolCallEventSchema,
  ToolsListEventSchema,
]);
export type TapEvent = z.infer<typeof TapEventSchema>;
export type TapEventType = TapEvent['type'];

/** A batch as the HTTP ingest endpoint takes it: one event or an array of them. */
export const IngestBodySchema = z.union([TapEventSchema, z.array(z.unknown()).min(1).max(10_000)]);
