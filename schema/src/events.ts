/**
 * The event shapes a tap emits and the analyzer consumes. This file is the one
 * definition every stage imports; types are inferred from the zod schemas.
 *
 * Versioning: every event carries `v`. A change that breaks readers bumps it and
 * the analyzer keeps parsing the versions it knows.
 */
import { z } from 'zod';

import { EVENT_SCHEMA_VERSION } from './version.js';

export { EVENT_SCHEMA_VERSION };

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
  /** Protocol revision the session speaks (from `initialize`, or a request's `_meta` in the 2026-07-28 revision). */
  protocolVersion: z.string().max(64).optional(),
  /** The client's `clientInfo` (from `initialize` or `_meta`). */
  client: PeerInfoSchema.optional(),
  /** The server's `serverInfo` (from `initialize` or `server/discover`). */
  serverInfo: PeerInfoSchema.optional(),
});

export const SessionStartEventSchema = EventBase.extend({
  type: z.literal('session_start'),
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

/**
 * How much of the arguments and results a tap ships. `metadata`: names, sizes
 * and hashes only. `redacted` (default): arguments and a bounded result preview
 * with secrets masked. `full`: everything, unmasked (for trusted lab use).
 */
export const CaptureLevelSchema = z.enum(['metadata', 'redacted', 'full']);
export type CaptureLevel = z.infer<typeof CaptureLevelSchema>;

/**
 * What a tap's content checks found in a call, on the raw text, before
 * redaction — so detection works at every capture level. Never carries the
 * secret itself: `rule` names the pattern, `excerpt` is redacted.
 */
export const ContentFindingSchema = z.object({
  kind: z.enum(['secret', 'sensitive_path', 'path_traversal', 'shell_injection', 'injection_phrase', 'invisible_text']),
  where: z.enum(['arguments', 'result']),
  /** Where in the arguments, as a path (`paths[1]`, `options.url`); absent for results. */
  field: z.string().max(256).optional(),
  /** The rule that matched, e.g. `aws_access_key_id`, `ssh_private_key_path`, `ignore_previous_instructions`. */
  rule: z.string().max(128),
  /** A short excerpt around the match, redacted. */
  excerpt: z.string().max(300).optional(),
});
export type ContentFinding = z.infer<typeof ContentFindingSchema>;

/** Short hex digests (16 chars) standing for pieces of content, so content can be matched across calls without shipping it. */
const digestList = z.array(z.string().regex(/^[0-9a-f]{16}$/)).max(512);

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
  /** Capture level the tap ran at (absent from older taps: treat as `metadata`). */
  capture: CaptureLevelSchema.optional(),
  /** The arguments, redacted at `redacted`, as sent at `full`; absent at `metadata`. */
  arguments: z.unknown().optional(),
  /** Text of the result, redacted and cut to a bounded preview; absent at `metadata`. */
  resultPreview: z
    .string()
    .max(16 * 1024)
    .optional(),
  /** Findings of the tap's content checks (every capture level). */
  findings: z.array(ContentFindingSchema).max(64).optional(),
  /** Digests of secret-like tokens and text shingles of the result (every capture level). */
  resultDigests: digestList.optional(),
  /** Digests of the same kinds from the arguments, also after URL, base64 and hex decoding. */
  argumentDigests: digestList.optional(),
  /** Destinations named in the arguments: host names of URLs and e-mail domains. */
  destinations: z.array(z.string().max(256)).max(64).optional(),
  /** Progress notifications the server sent for this call (absent when none). */
  progressNotifications: z.number().int().nonnegative().optional(),
  /**
   * Request rounds of one logical call: a 2026-07-28 server may answer
   * `resultType: "input_required"` and the client retries under a new id;
   * the call is reported once, with `requestId` of its first round (absent = 1).
   */
  rounds: z.number().int().positive().optional(),
  /** Server→client requests (sampling, elicitation, roots) made while the call was open. */
  serverRequests: z
    .number()
    .int()
    .nonnegative()
    .optional() /** What the tap cut while parsing because a message was past a limit (e.g. `response: nested deeper than 64 levels`); absent when nothing was. */,
  cut: z.array(z.string().max(128)).max(8).optional(),
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
  tools: z
    .array(ToolDefinitionSchema)
    .max(
      LIMITS.maxTools,
    ) /** What the tap cut while parsing because a message was past a limit (e.g. `response: nested deeper than 64 levels`); absent when nothing was. */,
  cut: z.array(z.string().max(128)).max(8).optional(),
});
export type ToolsListEvent = z.infer<typeof ToolsListEventSchema>;

/**
 * A request the server sent to the client (`sampling/createMessage`,
 * `elicitation/create`, `roots/list`, …) paired with the client's reply.
 */
export const ServerRequestEventSchema = EventBase.extend({
  type: z.literal('server_request'),
  method: name,
  /** The JSON-RPC id as on the wire, serialized. */
  requestId: z.string().max(256),
  startedAt: isoTime,
  durationMs: z.number().nonnegative(),
  requestBytes: z.number().int().nonnegative(),
  responseBytes: z.number().int().nonnegative(),
  status: z.enum(['ok', 'rpc_error', 'cancelled', 'incomplete']),
  errorCode: z.number().int().nullable(),
  /** Elicitation replies: `accept`, `decline` or `cancel`. */
  action: z.string().max(32).optional(),
  /** The tool call open when the request came (the only one open, or the one its progress token names). */
  relatedTool: name.optional(),
  relatedRequestId: z
    .string()
    .max(256)
    .optional() /** What the tap cut while parsing because a message was past a limit (e.g. `response: nested deeper than 64 levels`); absent when nothing was. */,
  cut: z.array(z.string().max(128)).max(8).optional(),
});
export type ServerRequestEvent = z.infer<typeof ServerRequestEventSchema>;

/**
 * A tap could not deliver some events (its spool overflowed, or it was
 * stopped before the sink came back). Sent once delivery works again, so the
 * gap in the history is visible instead of silent.
 */
export const DeliveryGapEventSchema = EventBase.extend({
  type: z.literal('delivery_gap'),
  /** Events dropped. */
  dropped: z.number().int().nonnegative(),
  /** Time of the first and last dropped event. */
  from: isoTime.optional(),
  to: isoTime.optional(),
  reason: z.string().max(256),
});
export type DeliveryGapEvent = z.infer<typeof DeliveryGapEventSchema>;

export const TapEventSchema = z.discriminatedUnion('type', [
  SessionStartEventSchema,
  SessionEndEventSchema,
  ToolCallEventSchema,
  ToolsListEventSchema,
  ServerRequestEventSchema,
  DeliveryGapEventSchema,
]);
export type TapEvent = z.infer<typeof TapEventSchema>;
export type TapEventType = TapEvent['type'];

/** A batch as the HTTP ingest endpoint takes it: one event or an array of them. */
export const IngestBodySchema = z.union([TapEventSchema, z.array(z.unknown()).min(1).max(10_000)]);
