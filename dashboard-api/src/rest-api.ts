/**
 * The REST routes under /v1: calls, alerts (with acknowledge, resolve),
 * silences, tools (definition history with diffs), sessions (timeline) and
 * stats. Query parameters and bodies are parsed with zod at this edge; the
 * queries themselves are the store's repositories. Every route is described
 * in openapi.ts.
 */
import { randomUUID } from 'node:crypto';
import express, { type Request } from 'express';
import { z } from 'zod';
import { CallStatusSchema, SeveritySchema } from '@tapwatch/schema';
import type { Store } from '@tapwatch/store';
import { ApiError } from './errors.js';
import { lineDiff, prettyDefinition } from './rest-diff.js';

export interface RestOptions {
  store: Pick<Store, 'history' | 'alerts' | 'silences' | 'deadLetters' | 'stats' | 'purges'>;
  /** Called after a silence is created or deleted (the analyzer of this process reloads them). */
  onSilencesChanged?: (() => Promise<void>) | undefined;
  /** Who sent a request (a token id, never the token), for the record of purges. */
  identify?: ((req: Request) => string) | undefined;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

const isoTime = z.iso.datetime({ offset: true });
const name = z.string().min(1).max(512);
const limit = z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT);
const cursor = z.string().max(1024).optional();

export const CallsQuerySchema = z.strictObject({
  server: name.optional(),
  tool: name.optional(),
  agent: name.optional(),
  session: name.optional(),
  status: CallStatusSchema.optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit,
  cursor,
});

const severityList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()))
  .pipe(z.array(SeveritySchema).min(1));

export const AlertsQuerySchema = z.strictObject({
  server: name.optional(),
  tool: name.optional(),
  agent: name.optional(),
  session: name.optional(),
  detector: name.optional(),
  severity: severityList.optional(),
  status: z.enum(['open', 'acknowledged', 'resolved']).optional(),
  silenced: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit,
  cursor,
});

export const AlertActionBodySchema = z.strictObject({ note: z.string().max(2000).optional() });

/** `POST /v1/purges`: exactly one subject. */
export const PurgeBodySchema = z
  .strictObject({ agent: name.optional(), session: name.optional(), server: name.optional() })
  .refine((b) => [b.agent, b.session, b.server].filter((v) => v !== undefined).length === 1, {
    message: 'name exactly one of agent, session and server',
  });

export const SilenceBodySchema = z
  .strictObject({
    detector: name.optional(),
    server: name.optional(),
    tool: name.optional(),
    agent: name.optional(),
    until: isoTime.optional(),
    durationMinutes: z
      .number()
      .positive()
      .max(60 * 24 * 366)
      .optional(),
    reason: z.string().trim().min(1).max(2000),
  })
  .refine((b) => (b.until === undefined) !== (b.durationMinutes === undefined), { message: 'give exactly one of "until" and "durationMinutes"' })
  .refine((b) => b.detector || b.server || b.tool || b.agent, {
    message: 'name at least one of detector, server, tool, agent (a silence of everything is refused)',
  })
  .refine((b) => b.until === undefined || Date.parse(b.until) > Date.now(), { message: '"until" is in the past' });

export const StatsQuerySchema = z.strictObject({
  from: isoTime.optional(),
  to: isoTime.optional(),
  server: name.optional(),
});

/** Parses query parameters; an unknown or repeated parameter is refused with its name. */
function parseQuery<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const query: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v !== 'string') throw new ApiError('BAD_PARAMETER', `${k}: give it once, as a plain value`);
    query[k] = v;
  }
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new ApiError('BAD_PARAMETER', issues(parsed.error));
  return parsed.data;
}

function parseBody<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const body: unknown =
    req.body === undefined || (typeof req.body === 'object' && req.body !== null && Object.keys(req.body as object).length === 0 && !req.is('json'))
      ? {}
      : req.body;
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new ApiError('BAD_BODY', issues(parsed.error));
  return parsed.data;
}

function issues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message))
    .join('; ');
}

/** Keyset cursor: the (time, id) of the last row of a page. Opaque to clients. */
export function encodeCursor(last: { time: string; id: string }): string {
  return Buffer.from(JSON.stringify([last.time, last.id]), 'utf8').toString('base64url');
}

export function decodeCursor(c: string | undefined): { time: string; id: string } | undefined {
  if (c === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && isoTime.safeParse(v[0]).success) {
      return { time: v[0], id: v[1] };
    }
  } catch {
    // falls through to the error
  }
  throw new ApiError('BAD_CURSOR');
}

function page<T extends { time: string; id: string }>(rows: T[], size: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, size);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > size && last ? encodeCursor(last) : null };
}

/** Wraps an async handler so its rejection reaches the error handler. */
function route(fn: (req: Request, res: express.Response) => Promise<void>): express.RequestHandler {
  return (req, res, next) => {
    fn(req, res).catch(next);
  };
}

export function restRouter(options: RestOptions): express.Router {
  const { store } = options;
  const r = express.Router();
  const json = express.json({ limit: '64kb', type: () => true });

  r.get(
    '/calls',
    route(async (req, res) => {
      const q = parseQuery(CallsQuerySchema, req);
      const rows = await store.history.calls({ ...q, before: decodeCursor(q.cursor) });
      res.json(page(rows, q.limit));
    }),
  );

  r.get(
    '/alerts',
    route(async (req, res) => {
      const q = parseQuery(AlertsQuerySchema, req);
      const rows = await store.alerts.list({ ...q, before: decodeCursor(q.cursor) });
      res.json(page(rows, q.limit));
    }),
  );

  r.get(
    '/alerts/:id',
    route(async (req, res) => {
      const alert = await store.alerts.get(String(req.params['id']));
      if (!alert) throw new ApiError('ALERT_NOT_FOUND');
      res.json(alert);
    }),
  );

  for (const [action, status] of [
    ['ack', 'acknowledged'],
    ['resolve', 'resolved'],
  ] as const) {
    r.post(
      `/alerts/:id/${action}`,
      json,
      route(async (req, res) => {
        const body = parseBody(AlertActionBodySchema, req);
        const updated = await store.alerts.setState(String(req.params['id']), { status, note: body.note });
        if (!updated) throw new ApiError('ALERT_NOT_FOUND');
        res.json(updated);
      }),
    );
  }

  r.get(
    '/purges',
    route(async (_req, res) => {
      res.json({ items: await store.purges.list() });
    }),
  );

  r.post(
    '/purges',
    json,
    route(async (req, res) => {
      const b = parseBody(PurgeBodySchema, req);
      const subject = b.agent !== undefined ? 'agent' : b.session !== undefined ? 'session' : 'server';
      const value = (b.agent ?? b.session ?? b.server)!;
      const record = await store.purges.purge(subject, value, options.identify?.(req) ?? 'unknown');
      res.status(201).json(record);
    }),
  );

  r.get(
    '/silences',
    route(async (_req, res) => {
      const now = new Date().toISOString();
      const all = await store.silences.list();
      res.json({ items: all.map((s) => ({ ...s, active: Date.parse(s.until) > Date.parse(now) })) });
    }),
  );

  r.post(
    '/silences',
    json,
    route(async (req, res) => {
      const b = parseBody(SilenceBodySchema, req);
      const now = new Date();
      const until = b.until ?? new Date(now.getTime() + (b.durationMinutes ?? 0) * 60_000).toISOString();
      const silence = await store.silences.create({
        id: randomUUID(),
        createdAt: now.toISOString(),
        until: new Date(until).toISOString(),
        detector: b.detector ?? '',
        server: b.server ?? '',
        tool: b.tool ?? '',
        agent: b.agent ?? '',
        reason: b.reason,
      });
      await options.onSilencesChanged?.();
      res.status(201).json({ ...silence, active: true });
    }),
  );

  r.delete(
    '/silences/:id',
    route(async (req, res) => {
      if (!(await store.silences.delete(String(req.params['id'])))) throw new ApiError('SILENCE_NOT_FOUND');
      await options.onSilencesChanged?.();
      res.status(204).end();
    }),
  );

  r.get(
    '/webhooks/deadletters',
    route(async (req, res) => {
      const q = parseQuery(z.strictObject({ alert: z.string().min(1).max(128).optional(), limit }), req);
      res.json({ items: await store.deadLetters.list(q.limit, q.alert) });
    }),
  );

  r.get(
    '/tools',
    route(async (req, res) => {
      const q = parseQuery(z.strictObject({ server: name.optional() }), req);
      res.json({ items: await store.history.tools(q.server) });
    }),
  );

  r.get(
    '/tools/:server/:tool/history',
    route(async (req, res) => {
      const server = String(req.params['server']);
      const tool = String(req.params['tool']);
      const versions = await store.history.toolHistory(server, tool);
      if (versions.length === 0) throw new ApiError('TOOL_NOT_FOUND');
      let previous = '';
      const items = versions.map((v, i) => {
        const pretty = prettyDefinition(v.definition);
        const diff = i === 0 ? null : lineDiff(previous, pretty);
        previous = pretty;
        return { ...v, definition: pretty, diff };
      });
      res.json({ server, tool, versions: items });
    }),
  );

  r.get(
    '/sessions/:id',
    route(async (req, res) => {
      const session = String(req.params['id']);
      const timeline = await store.history.sessionTimeline(session);
      if (timeline.length === 0) throw new ApiError('SESSION_NOT_FOUND');
      const first = timeline.find((e) => e.kind === 'session_start');
      const start = timeline[0]!;
      res.json({
        session,
        server: first?.server ?? start.server,
        agent: typeof first?.detail['agent'] === 'string' ? first.detail['agent'] : typeof start.detail['agent'] === 'string' ? start.detail['agent'] : '',
        start: start.time,
        end: timeline[timeline.length - 1]!.time,
        counts: {
          calls: timeline.filter((e) => e.kind === 'tool_call').length,
          serverRequests: timeline.filter((e) => e.kind === 'server_request').length,
          alerts: timeline.filter((e) => e.kind === 'alert').length,
        },
        timeline,
      });
    }),
  );

  r.get(
    '/stats',
    route(async (req, res) => {
      const q = parseQuery(StatsQuerySchema, req);
      const to = q.to ?? new Date(Date.now() + 60_000).toISOString();
      const from = q.from ?? new Date(Date.parse(to) - 24 * 3600_000).toISOString();
      if (Date.parse(from) >= Date.parse(to)) throw new ApiError('BAD_PARAMETER', '"from" must be before "to"');
      res.json(await store.stats.traffic({ from, to, server: q.server }));
    }),
  );

  return r;
}
