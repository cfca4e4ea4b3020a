/**
 * Turns the JSON-RPC messages a tap observes into tapwatch events.
 *
 * Pure logic, no I/O: the transport feeds it parsed messages with their
 * direction and arrival time, it calls `emit` with events. It pairs requests
 * and responses by JSON-RPC id, reading ids exactly as they appear (`0` and
 * `"0"` are different requests) and never coercing them.
 *
 * Content inspection (`../inspect/inspect.ts`) runs here too, still without I/O: the
 * argument side when a request is seen, the result side when its response
 * arrives. It can only ever drop its own fields: a failure there is counted
 * and the call is reported without them.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { CaptureLevel, PeerInfo, ServerRequestEvent, TapEvent, ToolCallEvent, ToolDefinition, Transport } from '@tapwatch/schema';
import { EVENT_SCHEMA_VERSION, MAX_JSON_DEPTH, UNOBSERVED_REASON, parseBounded } from '@tapwatch/schema/light';
import { inspectArguments, inspectError, inspectResult, mergeFindings, type ArgumentInspection, type ResultInspection } from '../inspect/inspect.js';
import { redactText } from '../inspect/redact.js';

/** `client` = from the MCP client to the server; `server` = from the server to the client. */
export type Direction = 'client' | 'server';

export interface TrackerIdentity {
  session: string;
  transport: Transport;
  /** `--name`; else the server's `serverInfo.name`; else `fallbackServerName`. */
  serverName?: string | undefined;
  fallbackServerName: string;
  /** `--agent` / TAPWATCH_AGENT; else derived from host, parent process and client name. */
  agent?: string | undefined;
  hostname: string;
  parentPid: number;
  target?: string | undefined;
  /** How much content events carry (`--capture`); default `redacted`. */
  capture?: CaptureLevel | undefined;
}

interface PendingCall {
  kind: 'tools/call';
  tool: string;
  requestId: string;
  startedMs: number;
  requestBytes: number;
  argumentKeys: string[];
  argumentsHash: string;
  /** The arguments, inspected only when the call closes (see onClientRequest). */
  args: unknown;
  /** Serialized `_meta.progressToken` of the request, when it asked for progress. */
  progressToken?: string | undefined;
  progress: number;
  /** Request rounds so far (input_required retries of the 2026-07-28 revision). */
  rounds: number;
  /** Server→client requests made while the call was open (also input requests of `input_required` results). */
  serverRequests: number;
  /** What parsing cut from the request (see `CUT_REQUEST`). */
  cut?: string[] | undefined;
}

/** A request the server sent to the client, waiting for the client's reply. */
interface PendingServerRequest {
  method: string;
  requestId: string;
  startedMs: number;
  requestBytes: number;
  related: PendingCall | undefined;
  cut?: string[] | undefined;
}

/** A call the server answered with `input_required`: the client retries it under a new id, echoing `requestState`. */
interface AwaitingInput {
  call: PendingCall;
  /** Ids and methods of the input requests, to report each when the retry answers it. */
  inputs: { key: string; method: string }[];
  sinceMs: number;
}
interface PendingInitialize {
  kind: 'initialize';
}
interface PendingList {
  kind: 'tools/list';
}
type Pending = PendingCall | PendingInitialize | PendingList;

/** What an event's `cut` says when a message was nested past the parsing limit (parseBounded). */
const CUT_REQUEST = `request: nested deeper than ${MAX_JSON_DEPTH} levels`;
const CUT_RESPONSE = `response: nested deeper than ${MAX_JSON_DEPTH} levels`;

/** Most server→client requests and input-required calls followed at once; past it the oldest are reported incomplete. */
const MAX_FOLLOWED = 10_000;

/** `_meta` keys of the 2026-07-28 revision, where requests carry what `initialize` used to. */
const META_PROTOCOL_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CLIENT_INFO = 'io.modelcontextprotocol/clientInfo';
const META_SERVER_INFO = 'io.modelcontextprotocol/serverInfo';

export interface TrackerStats {
  calls: number;
  incomplete: number;
  nonJsonLines: number;
}

/** What content inspection left out (no event field carries it yet). */
export interface InspectionStats {
  /** Calls with text past the per-call inspection budget. */
  truncatedCalls: number;
  /** Characters of argument and result text that were not inspected. */
  uninspectedChars: number;
  /** Inspections that failed (the call was reported without content fields). */
  errors: number;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export class SessionTracker {
  /** Requests from the client that we follow, by serialized id. */
  private readonly pending = new Map<string, Pending>();
  /** Open tool calls by serialized progress token. */
  private readonly progressTokens = new Map<string, PendingCall>();
  /** Requests from the server to the client, by serialized id (a separate id space from the client's). */
  private readonly serverPending = new Map<string, PendingServerRequest>();
  /** Calls answered `input_required`, by the `requestState` the retry echoes. */
  private readonly awaitingInput = new Map<string, AwaitingInput>();
  private client: PeerInfo | undefined;
  private serverInfo: PeerInfo | undefined;
  private protocolVersion: string | undefined;
  private started = false;
  /** The message being observed had values nested past the limit, replaced by parseBounded. */
  private cutting = false;
  private readonly stats: TrackerStats = { calls: 0, incomplete: 0, nonJsonLines: 0 };
  private readonly inspection: InspectionStats = { truncatedCalls: 0, uninspectedChars: 0, errors: 0 };

  constructor(
    private readonly identity: TrackerIdentity,
    private readonly emit: (event: TapEvent) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The capture level content fields follow. */
  get capture(): CaptureLevel {
    return this.identity.capture ?? 'redacted';
  }

  /** A copy of what content inspection left out so far. */
  get inspectionStats(): InspectionStats {
    return { ...this.inspection };
  }

  /** The server name events carry now. */
  get server(): string {
    return this.identity.serverName ?? this.serverInfo?.name ?? this.identity.fallbackServerName;
  }

  /** The agent id events carry now. */
  get agent(): string {
    if (this.identity.agent) return this.identity.agent;
    const parts = [this.identity.hostname, String(this.identity.parentPid)];
    if (this.client?.name) parts.push(this.client.name);
    return parts.join(':');
  }

  /**
   * Traffic of `direction` was relayed but not observed (`count` messages or
   * chunks, `bytes` of them when known): stored as a `delivery_gap` whose
   * reason begins with UNOBSERVED_REASON, so the history says where it is blind.
   */
  noteUnobserved(direction: Direction, count: number, bytes: number, why: string): void {
    if (count <= 0) return;
    const nowMs = this.now();
    this.ensureStarted(nowMs);
    const what = `${count} ${count === 1 ? 'message' : 'messages'}${bytes > 0 ? ` (${bytes} bytes)` : ''} from the ${direction}`;
    this.emit({ ...this.base('delivery_gap', nowMs), type: 'delivery_gap', dropped: count, reason: `${UNOBSERVED_REASON} ${what}: ${why}`.slice(0, 256) });
  }

  /** Counts a line that was not JSON (it was relayed untouched). */
  noteNonJson(): void {
    this.stats.nonJsonLines++;
  }

  /** Observes one raw framed line. */
  observeLine(direction: Direction, line: Buffer): void {
    if (line.length === 0) return;
    let parsed: ReturnType<typeof parseBounded>;
    try {
      parsed = parseBounded(line);
    } catch {
      this.noteNonJson();
      return;
    }
    this.observe(direction, parsed.value, parsed.cut);
  }

  /** Observes one parsed message or batch; `cut`: parseBounded replaced values nested past its limit. */
  observe(direction: Direction, message: unknown, cut = false): void {
    this.cutting = cut;
    try {
      if (Array.isArray(message)) {
        for (const m of message) this.observeOne(direction, m);
      } else {
        this.observeOne(direction, message);
      }
    } finally {
      this.cutting = false;
    }
  }

  /** Ends the session: open calls are reported as incomplete, then `session_end`. */
  end(exitCode: number | null, signal: string | null): void {
    const nowMs = this.now();
    for (const [key, p] of this.pending) {
      if (p.kind === 'tools/call') this.closeIncomplete(p, nowMs);
      this.pending.delete(key);
    }
    for (const [state, a] of this.awaitingInput) {
      this.closeIncomplete(a.call, nowMs);
      this.awaitingInput.delete(state);
    }
    for (const [key, r] of this.serverPending) {
      this.emitServerRequest(r, nowMs, 'incomplete', 0, null, undefined);
      this.serverPending.delete(key);
    }
    this.ensureStarted();
    this.emit({
      ...this.base('session_end', nowMs),
      type: 'session_end',
      calls: this.stats.calls,
      incomplete: this.stats.incomplete,
      exitCode,
      signal,
      nonJsonLines: this.stats.nonJsonLines,
    });
  }

  private observeOne(direction: Direction, msg: unknown): void {
    if (!isObject(msg)) {
      this.noteNonJson();
      return;
    }
    const hasId = Object.prototype.hasOwnProperty.call(msg, 'id');
    const method = typeof msg.method === 'string' ? msg.method : undefined;

    if (method !== undefined && hasId) {
      if (direction === 'client') this.onClientRequest(method, idKey(msg.id), msg.params);
      else this.onServerRequest(method, idKey(msg.id), msg.params);
      return;
    }
    if (method !== undefined) {
      if (method === 'notifications/cancelled') this.onCancelled(direction, msg.params);
      else if (method === 'notifications/progress' && direction === 'server') this.onProgress(msg.params);
      return;
    }
    if (!hasId) return;
    if (direction === 'server') this.onServerResponse(idKey(msg.id), msg);
    else this.onClientResponse(idKey(msg.id), msg);
  }

  /** Identity a 2026-07-28 request carries in `_meta` (there is no `initialize`). */
  private noteRequestMeta(p: Record<string, unknown> | undefined): void {
    const meta = p?._meta;
    if (!isObject(meta)) return;
    const version = meta[META_PROTOCOL_VERSION];
    if (typeof version === 'string') this.protocolVersion = version;
    const clientInfo = meta[META_CLIENT_INFO];
    if (isObject(clientInfo) && typeof clientInfo.name === 'string') this.client = peer(clientInfo);
  }

  /** Server identity from a result: `serverInfo` (initialize, server/discover) or the 2026-07-28 `_meta` key. */
  private noteResultServerInfo(result: Record<string, unknown>): void {
    const meta = result._meta;
    const fromMeta = isObject(meta) ? meta[META_SERVER_INFO] : undefined;
    const si = isObject(result.serverInfo) ? result.serverInfo : fromMeta;
    if (isObject(si) && typeof si.name === 'string') this.serverInfo = peer(si);
  }

  /** A server→client request (sampling, elicitation, roots, ping): followed until the client replies. */
  private onServerRequest(method: string, key: string, params: unknown): void {
    if (this.serverPending.size >= MAX_FOLLOWED) {
      const [oldestKey, oldest] = this.serverPending.entries().next().value as [string, PendingServerRequest];
      this.serverPending.delete(oldestKey);
      this.emitServerRequest(oldest, this.now(), 'incomplete', 0, null, undefined);
    }
    const related = this.soleOpenCall();
    if (related) related.serverRequests++;
    this.serverPending.set(key, {
      method: method.slice(0, 512),
      requestId: key.slice(0, 256),
      startedMs: this.now(),
      requestBytes: params === undefined ? 0 : Buffer.byteLength(JSON.stringify(params)),
      related,
      ...(this.cutting ? { cut: [CUT_REQUEST] } : {}),
    });
  }

  /** The client's reply to a server→client request. */
  private onClientResponse(key: string, msg: Record<string, unknown>): void {
    const r = this.serverPending.get(key);
    if (!r) return;
    this.serverPending.delete(key);
    const error = isObject(msg.error) ? msg.error : undefined;
    const body = error ?? msg.result;
    const bytes = body === undefined ? 0 : Buffer.byteLength(JSON.stringify(body));
    const code = error && typeof error.code === 'number' && Number.isInteger(error.code) ? error.code : null;
    const action = isObject(msg.result) && typeof msg.result.action === 'string' ? msg.result.action : undefined;
    this.emitServerRequest(r, this.now(), error ? 'rpc_error' : 'ok', bytes, code, action, this.cutting);
  }

  private onProgress(params: unknown): void {
    if (!isObject(params) || !Object.prototype.hasOwnProperty.call(params, 'progressToken')) return;
    const call = this.progressTokens.get(idKey(params.progressToken));
    if (call) call.progress++;
  }

  /** The only tool call open now, if exactly one is: what a server→client request most likely serves. */
  private soleOpenCall(): PendingCall | undefined {
    let found: PendingCall | undefined;
    for (const p of this.pending.values()) {
      if (p.kind !== 'tools/call') continue;
      if (found) return undefined;
      found = p;
    }
    return found;
  }

  private onClientRequest(method: string, key: string, params: unknown): void {
    const p = isObject(params) ? params : undefined;
    this.noteRequestMeta(p);
    switch (method) {
      case 'initialize': {
        this.pending.set(key, { kind: 'initialize' });
        const clientInfo = p?.clientInfo;
        if (isObject(clientInfo) && typeof clientInfo.name === 'string') this.client = peer(clientInfo);
        if (typeof p?.protocolVersion === 'string') this.protocolVersion = p.protocolVersion;
        return;
      }
      case 'server/discover':
        this.pending.set(key, { kind: 'initialize' });
        return;
      case 'tools/list':
        this.pending.set(key, { kind: 'tools/list' });
        return;
      case 'tools/call': {
        if (typeof p?.requestState === 'string' && this.resumeAfterInput(key, p)) return;
        const tool = typeof p?.name === 'string' && p.name.length > 0 ? p.name : '(unnamed)';
        const startedMs = this.now();
        const args = p?.arguments;
        const serialized = args === undefined ? '' : JSON.stringify(args);
        const meta = isObject(p?._meta) ? p._meta : undefined;
        const progressToken = meta && Object.prototype.hasOwnProperty.call(meta, 'progressToken') ? idKey(meta.progressToken) : undefined;
        // Inspection waits for the response: the server works on the request meanwhile, and its
        // response is relayed before the tap spends CPU on either side.
        const call: PendingCall = {
          kind: 'tools/call',
          tool: tool.slice(0, 512),
          requestId: key.slice(0, 256),
          startedMs,
          requestBytes: Buffer.byteLength(serialized),
          argumentKeys: isObject(args)
            ? Object.keys(args)
                .slice(0, 256)
                .map((k) => k.slice(0, 512))
            : [],
          argumentsHash: sha256(serialized),
          args,
          progressToken,
          progress: 0,
          rounds: 1,
          serverRequests: 0,
          ...(this.cutting ? { cut: [CUT_REQUEST] } : {}),
        };
        this.pending.set(key, call);
        if (progressToken !== undefined) this.progressTokens.set(progressToken, call);
        return;
      }
      default:
        return;
    }
  }

  /** `notifications/cancelled`: no response follows. From the client it cancels a call; from the server, one of its own requests. */
  private onCancelled(direction: Direction, params: unknown): void {
    if (!isObject(params) || !Object.prototype.hasOwnProperty.call(params, 'requestId')) return;
    const key = idKey(params.requestId);
    if (direction === 'server') {
      const r = this.serverPending.get(key);
      if (!r) return;
      this.serverPending.delete(key);
      this.emitServerRequest(r, this.now(), 'cancelled', 0, null, undefined);
      return;
    }
    const p = this.pending.get(key);
    if (p?.kind !== 'tools/call') return;
    this.pending.delete(key);
    if (p.progressToken !== undefined && this.progressTokens.get(p.progressToken) === p) this.progressTokens.delete(p.progressToken);
    this.emitCall(p, this.now(), { status: 'cancelled', responseBytes: 0, isError: false, code: null, message: null }, undefined);
  }

  /**
   * A `tools/call` echoing the `requestState` of an `input_required` result is
   * the same logical call in its next round: it continues under the new id.
   * Returns false when the state is unknown (then it is a call of its own).
   */
  private resumeAfterInput(key: string, p: Record<string, unknown>): boolean {
    const state = p.requestState as string;
    const waiting = this.awaitingInput.get(state);
    if (!waiting) return false;
    this.awaitingInput.delete(state);
    const nowMs = this.now();
    const responses = p.inputResponses;
    for (const input of waiting.inputs) {
      const answer = inputResponse(responses, input.key);
      this.emitServerRequest(
        { method: input.method, requestId: JSON.stringify(input.key).slice(0, 256), startedMs: waiting.sinceMs, requestBytes: 0, related: waiting.call },
        nowMs,
        answer === undefined ? 'cancelled' : 'ok',
        answer === undefined ? 0 : Buffer.byteLength(JSON.stringify(answer)),
        null,
        isObject(answer) && typeof answer.action === 'string' ? answer.action : undefined,
      );
    }
    waiting.call.rounds++;
    this.pending.set(key, waiting.call);
    return true;
  }

  private onServerResponse(key: string, msg: Record<string, unknown>): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    const nowMs = this.now();
    const error = isObject(msg.error) ? msg.error : undefined;
    const result = isObject(msg.result) ? msg.result : undefined;

    if (result) this.noteResultServerInfo(result);
    if (p.kind === 'initialize') {
      if (result && typeof result.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
      this.ensureStarted(nowMs);
      return;
    }
    this.ensureStarted(nowMs);
    if (p.kind === 'tools/list') {
      if (!result || !Array.isArray(result.tools)) return;
      const tools = result.tools.filter(isToolDefinition).slice(0, 2000).map(boundTool);
      this.emit({ ...this.base('tools_list', nowMs), type: 'tools_list', tools, ...(this.cutting ? { cut: [CUT_RESPONSE] } : {}) });
      return;
    }
    // tools/call
    if (p.progressToken !== undefined && this.progressTokens.get(p.progressToken) === p) this.progressTokens.delete(p.progressToken);
    if (result && !error && this.awaitInput(p, result, nowMs)) return;
    if (error) {
      const message = typeof error.message === 'string' ? error.message : null;
      this.emitCall(
        p,
        nowMs,
        {
          status: 'rpc_error',
          responseBytes: Buffer.byteLength(JSON.stringify(error)),
          isError: true,
          code: typeof error.code === 'number' && Number.isInteger(error.code) ? error.code : null,
          // An error message can quote a credential back ("invalid token ghp_…"): masked below `full`.
          message: message === null ? null : this.capture === 'full' ? message.slice(0, 1024) : this.mask(message, 1024),
        },
        this.inspect(() => inspectError(error)),
        this.cutting,
      );
      return;
    }
    const isError = result?.isError === true;
    const serialized = result ? JSON.stringify(result) : '';
    this.emitCall(
      p,
      nowMs,
      {
        status: isError ? 'tool_error' : 'ok',
        responseBytes: Buffer.byteLength(serialized),
        isError,
        code: null,
        message: null,
      },
      result ? this.inspect(() => inspectResult(result, this.capture, serialized)) : undefined,
      this.cutting,
    );
  }

  /** Runs one inspection; a failure costs only the content fields. */
  private inspect<T extends { uninspectedChars: number }>(run: () => T): T | undefined {
    try {
      return run();
    } catch {
      this.inspection.errors++;
      return undefined;
    }
  }

  /** Secrets in `s` masked, cut to `max`; if masking itself fails, nothing of `s` ships. */
  private mask(s: string, max: number): string {
    try {
      return redactText(s, max);
    } catch {
      this.inspection.errors++;
      return '[REDACTED]';
    }
  }

  private emitCall(
    p: PendingCall,
    nowMs: number,
    outcome: { status: ToolCallEvent['status']; responseBytes: number; isError: boolean; code: number | null; message: string | null },
    result: ResultInspection | undefined,
    responseCut = false,
  ): void {
    this.ensureStarted(nowMs);
    this.stats.calls++;
    const args: ArgumentInspection | undefined = this.inspect(() => inspectArguments(p.args, this.capture));
    const uninspected = (args?.uninspectedChars ?? 0) + (result?.uninspectedChars ?? 0);
    if (uninspected > 0) {
      this.inspection.truncatedCalls++;
      this.inspection.uninspectedChars += uninspected;
    }
    const findings = mergeFindings(args?.findings ?? [], result?.findings ?? []);
    const masked = this.capture !== 'full';
    this.emit({
      ...this.base('tool_call', nowMs),
      type: 'tool_call',
      tool: p.tool,
      requestId: p.requestId,
      startedAt: new Date(p.startedMs).toISOString(),
      durationMs: Math.max(0, nowMs - p.startedMs),
      requestBytes: p.requestBytes,
      responseBytes: outcome.responseBytes,
      status: outcome.status,
      isError: outcome.isError,
      errorCode: outcome.code,
      errorMessage: outcome.message,
      argumentKeys: masked ? p.argumentKeys.map((k) => this.mask(k, 512)) : p.argumentKeys,
      argumentsHash: p.argumentsHash,
      capture: this.capture,
      ...(args?.arguments !== undefined ? { arguments: args.arguments } : {}),
      ...(result?.resultPreview !== undefined ? { resultPreview: result.resultPreview } : {}),
      ...(findings.length > 0 ? { findings } : {}),
      ...(result && result.resultDigests.length > 0 ? { resultDigests: result.resultDigests } : {}),
      ...(args && args.argumentDigests.length > 0 ? { argumentDigests: args.argumentDigests } : {}),
      ...(args && args.destinations.length > 0 ? { destinations: args.destinations } : {}),
      ...(p.progress > 0 ? { progressNotifications: p.progress } : {}),
      ...(p.rounds > 1 ? { rounds: p.rounds } : {}),
      ...(p.serverRequests > 0 ? { serverRequests: p.serverRequests } : {}),
      ...cutField(p.cut, responseCut),
    });
  }

  private closeIncomplete(p: PendingCall, nowMs: number): void {
    this.stats.incomplete++;
    this.emitCall(p, nowMs, { status: 'incomplete', responseBytes: 0, isError: false, code: null, message: null }, undefined);
  }

  /**
   * An `input_required` result (2026-07-28, multi round-trip requests) does not
   * end the call: the client gathers the input and retries. Returns true when
   * `result` is one and the call now waits for its retry.
   */
  private awaitInput(p: PendingCall, result: Record<string, unknown>, nowMs: number): boolean {
    const state = result.requestState;
    const requests = result.inputRequests;
    const flagged = result.resultType === 'input_required';
    const entries = inputRequestEntries(requests);
    if (typeof state !== 'string' || state.length === 0 || (!flagged && entries.length === 0)) return false;
    if (this.awaitingInput.size >= MAX_FOLLOWED) {
      const [oldestState, oldest] = this.awaitingInput.entries().next().value as [string, AwaitingInput];
      this.awaitingInput.delete(oldestState);
      this.closeIncomplete(oldest.call, nowMs);
    }
    p.serverRequests += entries.length;
    this.awaitingInput.set(state, { call: p, inputs: entries, sinceMs: nowMs });
    return true;
  }

  private emitServerRequest(
    r: PendingServerRequest,
    nowMs: number,
    status: ServerRequestEvent['status'],
    responseBytes: number,
    errorCode: number | null,
    action: string | undefined,
    responseCut = false,
  ): void {
    this.ensureStarted(nowMs);
    this.emit({
      ...this.base('server_request', nowMs),
      type: 'server_request',
      method: r.method,
      requestId: r.requestId,
      startedAt: new Date(r.startedMs).toISOString(),
      durationMs: Math.max(0, nowMs - r.startedMs),
      requestBytes: r.requestBytes,
      responseBytes,
      status,
      errorCode,
      ...(action !== undefined ? { action: action.slice(0, 32) } : {}),
      ...(r.related ? { relatedTool: r.related.tool, relatedRequestId: r.related.requestId } : {}),
      ...cutField(r.cut, responseCut),
    });
  }

  /** Emits `session_start` once, when the server has answered `initialize` (or at the first thing that needs it). */
  private ensureStarted(nowMs: number = this.now()): void {
    if (this.started) return;
    this.started = true;
    this.emit({
      ...this.base('session_start', nowMs),
      type: 'session_start',
      // A server's command line can carry a token (`--token ghp_…`): masked below `full`.
      ...(this.identity.target !== undefined
        ? { target: this.capture === 'full' ? this.identity.target.slice(0, 4096) : this.mask(this.identity.target, 4096) }
        : {}),
    });
  }

  private base<T extends TapEvent['type']>(_type: T, nowMs: number) {
    return {
      v: EVENT_SCHEMA_VERSION,
      id: randomUUID(),
      time: new Date(nowMs).toISOString(),
      session: this.identity.session,
      agent: this.agent.slice(0, 512),
      server: this.server.slice(0, 512),
      transport: this.identity.transport,
      ...(this.protocolVersion !== undefined ? { protocolVersion: this.protocolVersion.slice(0, 64) } : {}),
      ...(this.client ? { client: this.client } : {}),
      ...(this.serverInfo ? { serverInfo: this.serverInfo } : {}),
    };
  }
}

/** The `cut` field of an event: what parsing cut from its request and its response. */
function cutField(requestCut: string[] | undefined, responseCut: boolean): { cut?: string[] } {
  const cut = responseCut ? [...(requestCut ?? []), CUT_RESPONSE] : requestCut;
  return cut && cut.length > 0 ? { cut } : {};
}

/** Serializes a JSON-RPC id so distinct ids stay distinct (`0` vs `"0"`). */
export function idKey(id: unknown): string {
  return JSON.stringify(id ?? null);
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The input requests of an `input_required` result, as (key, method): a map keyed by id, or an array of `{id, …}`. */
function inputRequestEntries(requests: unknown): { key: string; method: string }[] {
  const method = (r: unknown): string => (isObject(r) && typeof r.method === 'string' ? r.method.slice(0, 512) : 'input_request');
  if (Array.isArray(requests)) {
    return requests
      .slice(0, 256)
      .map((r, i) => ({ key: isObject(r) && (typeof r.id === 'string' || typeof r.id === 'number') ? String(r.id) : String(i), method: method(r) }));
  }
  if (isObject(requests))
    return Object.entries(requests)
      .slice(0, 256)
      .map(([key, r]) => ({ key, method: method(r) }));
  return [];
}

/** The client's answer to one input request in a retry's `inputResponses` (a map, or an array of `{id, …}`). */
function inputResponse(responses: unknown, key: string): unknown {
  if (Array.isArray(responses)) return responses.find((r) => isObject(r) && String(r.id) === key);
  if (isObject(responses) && Object.prototype.hasOwnProperty.call(responses, key)) return responses[key];
  return undefined;
}

function peer(v: Record<string, unknown>): PeerInfo {
  const out: PeerInfo = { name: String(v.name).slice(0, 512) };
  if (typeof v.version === 'string') out.version = v.version.slice(0, 512);
  return out;
}

function isToolDefinition(v: unknown): v is ToolDefinition {
  return isObject(v) && typeof v.name === 'string' && v.name.length > 0;
}

/** Keeps the fields detection needs, bounded, and nothing else a server might stuff in. */
function boundTool(t: ToolDefinition): ToolDefinition {
  const out: ToolDefinition = { name: t.name.slice(0, 512) };
  if (typeof t.title === 'string') out.title = t.title.slice(0, 512);
  if (typeof t.description === 'string') out.description = t.description.slice(0, 64 * 1024);
  if (t.inputSchema !== undefined) out.inputSchema = t.inputSchema as Json;
  if (t.outputSchema !== undefined) out.outputSchema = t.outputSchema as Json;
  if (t.annotations !== undefined) out.annotations = t.annotations as Json;
  return out;
}
