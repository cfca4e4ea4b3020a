/**
 * The HTTP routes: `GET /healthz`, `POST /v1/ingest` (taps' events),
 * `POST /v1/sql` (read-only SQL over the call history), and the REST routes
 * (rest-api.ts). With rest-api.ts, the only file that imports express (lint
 * enforces it).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { MAX_JSON_DEPTH, TapEventSchema, TapwatchError, log, parseBounded, type TapEvent } from '@tapwatch/schema';
import type { EventPublisher } from '@tapwatch/bus';
import type { Store } from '@tapwatch/store';
import { ApiError } from './errors.js';
import { toCsv } from './sql-format.js';
import { createAuthorizer, roleFor, type Authorizer } from './auth.js';
import { restRouter } from './rest-api.js';
import { openApiDocument } from './openapi.js';
import { checkBodyType, checkRequest, type RequestGuardOptions } from './request-guard.js';

/** The dashboard's static files (plain HTML/CSS/JS, no build step). */
const PUBLIC_DIR = new URL('../public/', import.meta.url);
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface IngestStats {
  accepted: number;
  requests: number;
  rejected: { notJson: number; badShape: number; tooLarge: number; unauthorized: number; unavailable: number; busy: number };
}

export interface AppOptions {
  token?: string | undefined;
  /** Token and role checks; default: TAPWATCH_TOKEN (`token`) alone, as admin. */
  authorizer?: Authorizer | undefined;
  maxBodyBytes: number;
  /** Most ingest bodies read at once; one more is answered 503 TAPWATCH_INGEST_BUSY before its body is read. Default 16. */
  maxIngestInFlight?: number | undefined;
  /** Where accepted events go; without it there is no ingest route. */
  publisher?: EventPublisher | undefined;
  /** Storage for /v1/sql; without it there is no SQL route. */
  store?: Store | undefined;
  /** Whether ingest can take events (the in-process bus with a full disk cannot): /healthz fails while it cannot. */
  ready?: (() => { ok: boolean; reason?: string; since?: string }) | undefined;
  /** Extra facts for /healthz (analyzer counters, bus depth…). */
  health?: () => Record<string, unknown>;
  /** Storage to ping in /healthz when the app serves no SQL (the analyzer's health port). */
  probeStore?: Store | undefined;
  /** Called after a silence changes through the REST API (the analyzer of this process reloads them). */
  onSilencesChanged?: (() => Promise<void>) | undefined;
  /** Prometheus text for GET /metrics; without it there is no metrics route. */
  metrics?: (() => string) | undefined;
  /** Hosts and origins answered besides loopback and the API's own (request-guard.ts). */
  guard?: RequestGuardOptions | undefined;
}

export interface AppHandle {
  app: express.Express;
  ingestStats: IngestStats;
}

export function createApp(options: AppOptions): AppHandle {
  const app = express();
  app.disable('x-powered-by');
  const auth = options.authorizer ?? createAuthorizer({ adminToken: options.token });
  const ingestStats: IngestStats = {
    accepted: 0,
    requests: 0,
    rejected: { notJson: 0, badShape: 0, tooLarge: 0, unauthorized: 0, unavailable: 0, busy: 0 },
  };

  // Before any route: requests a web page made (rebound Host, foreign Origin); bodies are checked after the token.
  const guard = options.guard ?? {};
  app.use((req, _res, next) => next(checkRequest(req.headers, guard, { body: false })));

  app.get('/healthz', async (req, res) => {
    const probed = options.store ?? options.probeStore;
    const storeOk = probed ? await probed.ping() : true;
    const ready = options.ready?.() ?? { ok: true };
    const status = !ready.ok ? 'failing' : storeOk ? 'ok' : 'degraded';
    const code = status === 'ok' ? 200 : 503;
    // Without a token only the status: counts, sizes and learning state are for token holders.
    if (auth.check(req, 'any', false) !== 'ok') {
      res.status(code).json({ status });
      return;
    }
    // Rows and bytes per table, for `tapwatch status`; only where this process serves the data.
    const storage = storeOk && options.store ? await options.store.stats.storage().catch(() => undefined) : undefined;
    res.status(code).json({
      status,
      store: probed ? (storeOk ? 'ok' : 'unreachable') : 'none',
      ingest: {
        accepted: ingestStats.accepted,
        rejected: ingestStats.rejected,
        ...(ready.ok ? {} : { refusing: { reason: ready.reason, since: ready.since } }),
      },
      ...(storage ? { storage } : {}),
      ...options.health?.(),
    });
  });

  if (options.metrics) {
    const render = options.metrics;
    app.get('/metrics', (req, res, next) => {
      const verdict = auth.check(req, 'admin', false);
      if (verdict !== 'ok') return next(new ApiError(verdict === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN', 'GET /metrics needs the admin role'));
      res.type('text/plain; version=0.0.4; charset=utf-8').send(render());
    });
  }

  // The dashboard is public static files; it asks for the token and sends it on every /v1 call.
  if (options.store) app.use(express.static(fileURLToPath(PUBLIC_DIR), { index: 'index.html', maxAge: 0 }));

  // Every /v1 route needs the token when one is configured.
  app.use('/v1', (req, _res, next) => {
    const need = roleFor(req.method, `/v1${req.path}`);
    const verdict = auth.check(req, need, false);
    if (verdict === 'ok') return next();
    if (req.path === '/ingest') ingestStats.rejected.unauthorized++;
    next(verdict === 401 ? new ApiError('UNAUTHORIZED') : new ApiError('FORBIDDEN', `${req.method} /v1${req.path} needs the ${need} role`));
  });

  // Bodies only as JSON: forms and text/plain are what a page can send without a preflight.
  app.use('/v1', (req, _res, next) => next(checkBodyType(req.headers)));

  const raw = express.raw({ type: () => true, limit: options.maxBodyBytes });

  if (options.publisher) {
    const publisher = options.publisher;
    app.post('/v1/ingest', inFlightCap(options.maxIngestInFlight ?? 16, ingestStats), countTooLarge(raw, ingestStats), async (req, res, next) => {
      ingestStats.requests++;
      const events = parseIngestBody(req.body, ingestStats);
      try {
        await publisher.publish(events);
      } catch (err) {
        ingestStats.rejected.unavailable++;
        return next(
          err instanceof TapwatchError
            ? err
            : new TapwatchError('TAPWATCH_BUS_UNAVAILABLE', `cannot queue events: ${(err as Error).message}`, { httpStatus: 503, retriable: true, cause: err }),
        );
      }
      ingestStats.accepted += events.length;
      res.status(202).json({ accepted: events.length });
    });
  }

  if (options.store) {
    const store = options.store;
    app.post('/v1/sql', raw, async (req, res, next) => {
      const { sql, params, format } = parseSqlBody(req.body, req.query.format);
      try {
        // Per-token turns (user-sql.ts): one token's slow queries wait for each other, not other tokens'.
        const client = auth.identify(req, false)?.id ?? 'anonymous';
        const result = await store.sql.query(sql, params, client);
        if (format === 'csv') res.type('text/csv; charset=utf-8').send(toCsv(result));
        else res.json({ rows: result.rows, columns: result.columns, statistics: result.statistics });
      } catch (err) {
        next(err);
      }
    });
  }

  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openApiDocument(VERSION));
  });

  if (options.store) {
    app.use(
      '/v1',
      restRouter({ store: options.store, onSilencesChanged: options.onSilencesChanged, identify: (req) => auth.identify(req, false)?.id ?? 'unknown' }),
    );
  }

  app.use((_req, _res, next) => next(new ApiError('NOT_FOUND')));
  app.use(errorHandler);
  return { app, ingestStats };
}

/** Deepest ingest body: the batch, the event and its fields around content a tap cut at MAX_JSON_DEPTH. */
const INGEST_MAX_DEPTH = MAX_JSON_DEPTH + 8;

/** Parses and validates an ingest body: all events valid, or the whole request is refused. */
function parseIngestBody(body: unknown, stats: IngestStats): TapEvent[] {
  let json: unknown;
  try {
    const parsed = parseBounded(Buffer.isBuffer(body) ? body : '', INGEST_MAX_DEPTH);
    if (parsed.cut) {
      stats.rejected.badShape++;
      throw new ApiError('BAD_EVENT', `nested deeper than ${INGEST_MAX_DEPTH} levels (a tap cuts what it observes at ${MAX_JSON_DEPTH})`);
    }
    json = parsed.value;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    stats.rejected.notJson++;
    throw new ApiError('NOT_JSON', (err as Error).message);
  }
  const items = Array.isArray(json) ? json : [json];
  if (items.length === 0) {
    stats.rejected.badShape++;
    throw new ApiError('BAD_EVENT', 'empty array');
  }
  const events: TapEvent[] = [];
  const problems: string[] = [];
  items.forEach((item, index) => {
    const parsed = TapEventSchema.safeParse(item);
    if (parsed.success) events.push(parsed.data);
    else {
      const first = parsed.error.issues[0];
      problems.push(`[${index}] ${first ? `${first.path.join('.') || '(event)'}: ${first.message}` : 'invalid'}`);
    }
  });
  if (problems.length > 0) {
    stats.rejected.badShape++;
    throw new ApiError('BAD_EVENT', problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : ''), {
      invalid: problems.length,
      total: items.length,
    });
  }
  return events;
}

function parseSqlBody(body: unknown, queryFormat: unknown): { sql: string; params: Record<string, unknown>; format: 'json' | 'csv' } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : '');
  } catch {
    throw new ApiError('BAD_SQL_REQUEST', 'body is not JSON');
  }
  if (typeof json !== 'object' || json === null) throw new ApiError('BAD_SQL_REQUEST');
  const { sql, params, format = queryFormat ?? 'json' } = json as { sql?: unknown; params?: unknown; format?: unknown };
  if (format !== 'json' && format !== 'csv') throw new ApiError('BAD_SQL_REQUEST', '"format" must be "json" or "csv"');
  if (typeof sql !== 'string' || sql.trim() === '') throw new ApiError('BAD_SQL_REQUEST', '"sql" must be a non-empty string');
  if (sql.length > 100_000) throw new ApiError('BAD_SQL_REQUEST', '"sql" is longer than 100000 characters');
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw new ApiError('BAD_SQL_REQUEST', '"params" must be an object of named query parameters');
  }
  return { sql, params: (params as Record<string, unknown> | undefined) ?? {}, format };
}

/**
 * Caps the ingest bodies being read at once: each may hold TAPWATCH_MAX_BODY_BYTES in memory
 * for up to TAPWATCH_REQUEST_TIMEOUT_S, so many slow senders could exhaust memory. One more is
 * answered before its body is read, and its connection closed (the unread body is left behind).
 */
function inFlightCap(max: number, stats: IngestStats): express.RequestHandler {
  let reading = 0;
  return (req, res, next) => {
    if (reading >= max) {
      stats.requests++;
      stats.rejected.busy++;
      res.set('connection', 'close');
      return next(
        new TapwatchError('TAPWATCH_INGEST_BUSY', `${max} ingest bodies are being read already (TAPWATCH_INGEST_MAX_INFLIGHT): retry shortly`, {
          httpStatus: 503,
          retriable: true,
        }),
      );
    }
    reading++;
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      reading--;
    };
    req.once('end', release);
    req.once('close', release);
    res.once('close', release);
    next();
  };
}

/** Counts oversized ingest bodies (express raises them before our handler runs). */
function countTooLarge(parser: express.RequestHandler, stats: IngestStats): express.RequestHandler {
  return (req, res, next) => {
    parser(req, res, (err?: unknown) => {
      if (err && (err as { type?: string }).type === 'entity.too.large') {
        stats.requests++;
        stats.rejected.tooLarge++;
      }
      next(err);
    });
  };
}

function errorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const e = err as { type?: string; status?: number };
  let status = 500;
  let code: string = 'TAPWATCH_INTERNAL';
  let message = 'internal error';
  let extra: Record<string, unknown> | undefined;
  if (e?.type === 'entity.too.large') {
    const tl = new ApiError('TOO_LARGE');
    [status, code, message] = [tl.httpStatus, tl.code, tl.message];
  } else if (err instanceof TapwatchError) {
    [status, code, message] = [err.httpStatus, err.code, err.message];
    if (err instanceof ApiError) extra = err.extra;
  } else if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    status = e.status;
    code = 'TAPWATCH_BAD_REQUEST';
    message = (err as Error).message;
  }
  if (status >= 500) log.error('request failed', { method: req.method, path: req.path, code, error: (err as Error)?.message });
  res.status(status).json({ error: { code, message, ...extra } });
}
