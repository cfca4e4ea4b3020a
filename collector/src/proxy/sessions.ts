/**
 * The HTTP tap's sessions: which tracker (one tapwatch session) sees a
 * message.
 * - a request with `Mcp-Session-Id`: the tracker of that session (the upstream
 *   assigned the id in its answer to `initialize`; an id first seen later gets
 *   a tracker then). DELETE answered 2xx, or an answer 404 for the session,
 *   ends it;
 * - legacy HTTP+SSE: the tracker created when the `GET` stream announced its
 *   endpoint; POSTs to that endpoint (path and query, i.e. its `sessionId`)
 *   and messages on that stream go to it; the stream closing ends it;
 * - an `initialize` without a session id starts a new tracker; when the
 *   upstream answers without a session id (a stateless server) it becomes
 *   that client's stateless tracker;
 * - any other request without a session id (a stateless server, or the
 *   2026-07-28 revision that has no sessions): one tracker per client, keyed
 *   by the client info in the request (`_meta`
 *   `io.modelcontextprotocol/clientInfo`, else the last `initialize`), for the
 *   life of the proxy.
 * Every tracker still open when the proxy closes is ended.
 */
import { randomUUID } from 'node:crypto';
import type { Observer } from '../observe/observer.js';
import type { Direction, TrackerIdentity } from '../observe/tracker.js';
import { clientKeyOf, hasInitialize } from './jsonrpc-peek.js';

export type SessionKind = 'session' | 'legacy' | 'stateless' | 'pending';

export interface ProxySession {
  /** The observer's number for this session's tracker. */
  key: number;
  kind: SessionKind;
  /** Created for a session id the proxy had not seen: dropped silently if the upstream says it does not exist. */
  lazy: boolean;
  /** The upstream sent a message in this session. */
  answered: boolean;
  /** Exchanges (requests, open streams) currently attached to it. */
  open: number;
  lastActive: number;
  ended: boolean;
  clientKey: string | undefined;
}

/** What a request's head says about its session. */
export interface RequestHead {
  method: string;
  /** `Mcp-Session-Id`. */
  sessionId: string | undefined;
  /** Path and query of the request target (a legacy endpoint is keyed by them). */
  pathAndQuery: string;
}

/** The session a request was given, and for an `initialize` the client it names. */
export interface Choice {
  session: ProxySession | undefined;
  initializeKey?: string | undefined;
}

export interface SessionCounters {
  sessionsStarted: number;
  sessionsEnded: number;
}

export class Sessions {
  private readonly bySessionId = new Map<string, ProxySession>();
  private readonly byLegacyEndpoint = new Map<string, ProxySession>();
  private readonly byClient = new Map<string, ProxySession>();
  private readonly all = new Set<ProxySession>();
  private count = 0;
  /** The client of the last `initialize` a stateless server answered. */
  private lastInitializeKey: string | undefined;

  constructor(
    private readonly observer: Observer,
    private readonly stats: SessionCounters,
    /** Session id of the first tracker; later ones get `<id>.2`, `<id>.3`, … (default: a UUID each). */
    private readonly firstSession: string | undefined,
    /** The identity of a new tracker, given its session id. */
    private readonly identityOf: (session: string) => TrackerIdentity,
  ) {}

  start(kind: SessionKind, lazy: boolean, clientKey?: string): ProxySession {
    this.count++;
    const n = this.count;
    const session = this.firstSession === undefined ? randomUUID() : n === 1 ? this.firstSession : `${this.firstSession}.${n}`;
    this.observer.open(n, this.identityOf(session), 'messages');
    const m: ProxySession = { key: n, kind, lazy, answered: false, ended: false, clientKey, open: 0, lastActive: Date.now() };
    this.all.add(m);
    this.stats.sessionsStarted++;
    return m;
  }

  /** Ends a session; `silently` drops it without a `session_end`. */
  end(m: ProxySession, silently = false): void {
    if (m.ended) return;
    m.ended = true;
    this.all.delete(m);
    for (const [k, v] of this.bySessionId) if (v === m) this.bySessionId.delete(k);
    for (const [k, v] of this.byLegacyEndpoint) if (v === m) this.byLegacyEndpoint.delete(k);
    if (m.clientKey !== undefined && this.byClient.get(m.clientKey) === m) this.byClient.delete(m.clientKey);
    if (!silently) this.stats.sessionsEnded++;
    if (silently) this.observer.drop(m.key);
    else this.observer.end(m.key);
  }

  /** Hands a message (a JSON body's bytes, or an SSE event's data) to the session's tracker. */
  observe(m: ProxySession, direction: Direction, message: Buffer | string): void {
    if (m.ended) return;
    if (direction === 'server') m.answered = true;
    m.lastActive = Date.now();
    this.observer.message(m.key, direction, message);
  }

  /** A legacy stream announced its endpoint (path and query): a new session for it. */
  startLegacy(endpoint: string): ProxySession {
    const m = this.start('legacy', false);
    this.byLegacyEndpoint.set(endpoint, m);
    return m;
  }

  isLegacyEndpoint(pathAndQuery: string): boolean {
    return this.byLegacyEndpoint.has(pathAndQuery);
  }

  /** Which tracker, decided from the request head and (for a POST without a session) its parsed body. */
  choose(head: RequestHead, parsed: unknown): Choice {
    if (head.sessionId) {
      let m = this.bySessionId.get(head.sessionId);
      if (!m) {
        m = this.start('session', true);
        this.bySessionId.set(head.sessionId, m);
      }
      return { session: m };
    }
    const legacy = this.byLegacyEndpoint.get(head.pathAndQuery);
    if (legacy) return { session: legacy };
    if (head.method !== 'POST') return { session: undefined };
    const info = clientKeyOf(parsed);
    if (hasInitialize(parsed)) return { session: this.start('pending', false, undefined), initializeKey: info ?? 'anonymous' };
    // A 2025 stateless client names itself only in `initialize`.
    return { session: this.statelessFor(info ?? this.lastInitializeKey ?? 'anonymous') };
  }

  /**
   * The upstream answered the `initialize` of a pending session: with a
   * session id it becomes that session; 2xx without one (a stateless
   * server), the client's stateless session, replacing the previous one;
   * otherwise it ends.
   */
  answerPending(m: ProxySession, responseSessionId: string | null | undefined, status: number, initializeKey: string | undefined): void {
    if (responseSessionId) {
      m.kind = 'session';
      this.bySessionId.set(responseSessionId, m);
    } else if (status < 300) {
      m.kind = 'stateless';
      const key = initializeKey ?? 'anonymous';
      const previous = this.byClient.get(key);
      if (previous && previous !== m) this.end(previous);
      m.clientKey = key;
      this.byClient.set(key, m);
      this.lastInitializeKey = key;
    } else {
      this.end(m, !m.answered);
    }
  }

  /** Ends the sessions with nothing in flight and no traffic for `idleMs`. */
  sweep(idleMs: number): void {
    const now = Date.now();
    for (const m of [...this.all]) if (m.kind !== 'pending' && m.open <= 0 && now - m.lastActive > idleMs) this.end(m);
  }

  /** Ends every session (a pending one the upstream never answered silently). */
  endAll(): void {
    for (const m of [...this.all]) this.end(m, m.kind === 'pending' && !m.answered);
  }

  /** The stateless tracker of a client; an `initialize` answered without a session id replaces the previous one. */
  private statelessFor(key: string): ProxySession {
    let m = this.byClient.get(key);
    if (!m) {
      m = this.start('stateless', false, key);
      this.byClient.set(key, m);
    }
    return m;
  }
}
