/**
 * The OpenAPI 3.1 document served at `GET /v1/openapi.json`. Request shapes
 * come from the same zod schemas the routes parse with (events, alerts,
 * silences, query parameters); response shapes are written here and checked
 * against live responses by test/integration/openapi.test.ts.
 */
import { z } from 'zod';
import { AlertSchema, TapEventSchema } from '@tapwatch/schema';
import { AlertActionBodySchema, AlertsQuerySchema, CallsQuerySchema, PurgeBodySchema, SilenceBodySchema, StatsQuerySchema } from './rest-api.js';
import { ApiErrors } from './errors.js';

type Json = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12 (what OpenAPI 3.1 schema objects are), without the `$schema` key. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const str = { type: 'string' };
const int = { type: 'integer', minimum: 0 };
const num = { type: 'number' };
const time = { type: 'string', format: 'date-time' };
const nullable = (s: Json) => ({ anyOf: [s, { type: 'null' }] });
const obj = (properties: Record<string, unknown>, extra: Json = {}) => ({ type: 'object', required: Object.keys(properties), properties, ...extra });

/** Query parameters from a zod object: one `in: query` parameter per key. */
function queryParams(schema: z.ZodObject, descriptions: Record<string, string> = {}): Json[] {
  return Object.entries(schema.shape).map(([key, field]) => ({
    name: key,
    in: 'query',
    required: false,
    description: descriptions[key],
    schema: queryParamSchema(field as z.ZodType),
  }));
}

function queryParamSchema(field: z.ZodType): Json {
  try {
    return jsonSchema(field, 'input');
  } catch {
    return { type: 'string' };
  }
}

function errorResponse(description: string) {
  return { description, content: { 'application/json': { schema: ref('Error') } } };
}

function ok(description: string, schema: Json, status = '200') {
  return { [status]: { description, content: { 'application/json': { schema } } } };
}

const auth = [{ bearer: [] }];
const standardErrors = {
  '400': errorResponse('bad parameter or cursor'),
  '401': errorResponse('missing or wrong token'),
  '503': errorResponse('storage unavailable (retriable)'),
};

const PAGE_DESCRIPTIONS = {
  limit: 'page size (1–1000, default 100)',
  cursor: 'nextCursor of the previous page',
  from: 'ISO 8601 time, inclusive',
  to: 'ISO 8601 time, exclusive',
};

const callSchema = obj({
  id: str,
  time,
  startedAt: time,
  agent: str,
  session: str,
  server: str,
  transport: str,
  tool: str,
  requestId: str,
  requestBytes: int,
  responseBytes: int,
  durationMs: num,
  status: str,
  isError: { type: 'boolean' },
  errorCode: nullable({ type: 'integer' }),
  errorMessage: nullable(str),
  argumentKeys: { type: 'array', items: str },
  capture: str,
});

const alertViewSchema = jsonSchema(
  AlertSchema.extend({
    status: z.enum(['open', 'acknowledged', 'resolved']),
    silenced: z.boolean(),
    silenceId: z.string().nullable(),
    note: z.string(),
    updatedAt: z.iso.datetime().nullable(),
  }),
);

const silenceSchema = obj({
  id: str,
  createdAt: time,
  until: time,
  detector: str,
  server: str,
  tool: str,
  agent: str,
  reason: str,
  active: { type: 'boolean' },
});

const diffLine = obj({ op: { enum: ['same', 'add', 'del'] }, text: str });

const timelineEntry = obj({
  kind: { enum: ['session_start', 'session_end', 'tool_call', 'server_request', 'alert'] },
  time,
  id: str,
  server: str,
  summary: str,
  detail: { type: 'object' },
});

const statsRow = { calls: int, errors: int, avgMs: num, p95Ms: num, responseBytes: int };

/** Builds the document; `version` is tapwatch's package version. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tapwatch API',
      version,
      description:
        'Runtime monitor for MCP tool calls. With TAPWATCH_TOKEN set, every /v1 route and /metrics need `Authorization: Bearer <token>`. ' +
        'Errors are `{"error": {"code", "message"}}` with the codes listed under components.schemas.Error. ' +
        'The live alert stream is a WebSocket at `/v1/alerts/stream` (see the path of that name).',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    security: [{}, ...auth],
    tags: [
      { name: 'ingest', description: 'events from taps' },
      { name: 'query', description: 'calls, SQL, sessions, stats' },
      { name: 'alerts', description: 'alerts, acknowledgement, silences' },
      { name: 'tools', description: 'tool definitions and their history' },
      { name: 'operations', description: 'health, metrics, this document' },
    ],
    paths: {
      '/healthz': {
        get: {
          tags: ['operations'],
          summary: 'Readiness and counters',
          security: [{}],
          responses: {
            ...ok('ready; storage answers', ref('Health')),
            '503': { description: 'storage unreachable', content: { 'application/json': { schema: ref('Health') } } },
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format 0.0.4)',
          responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: str } } }, '401': errorResponse('missing or wrong token') },
        },
      },
      '/v1/openapi.json': {
        get: { tags: ['operations'], summary: 'This document', responses: ok('OpenAPI 3.1 document', { type: 'object' }) },
      },
      '/v1/ingest': {
        post: {
          tags: ['ingest'],
          summary: 'Events from a tap: one event or an array; a request with any bad event is refused whole',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { anyOf: [ref('TapEvent'), { type: 'array', items: ref('TapEvent'), minItems: 1 }] } } },
          },
          responses: {
            ...ok('queued', obj({ accepted: int }), '202'),
            '400': errorResponse('not JSON'),
            '401': errorResponse('missing or wrong token'),
            '413': errorResponse('body over TAPWATCH_MAX_BODY_BYTES'),
            '422': errorResponse('not a valid event; says which event and field'),
            '503': errorResponse('bus unavailable, or TAPWATCH_INGEST_BUSY (TAPWATCH_INGEST_MAX_INFLIGHT bodies being read); retry'),
          },
        },
      },
      '/v1/sql': {
        post: {
          tags: ['query'],
          summary: 'Read-only SQL over the call history',
          description:
            "One SELECT over tapwatch's tables and views, checked by ClickHouse's own parser and run read-only. " +
            'Named parameters as `{name:Type}` with `params`. Role: `sql` or `admin`.',
          parameters: [
            {
              name: 'format',
              in: 'query',
              required: false,
              description: 'json (default) or csv; the body field `format` does the same',
              schema: { enum: ['json', 'csv'] },
            },
          ],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['sql'],
                  properties: { sql: { type: 'string', minLength: 1, maxLength: 100000 }, params: { type: 'object' }, format: { enum: ['json', 'csv'] } },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'result: JSON rows and columns, or CSV with a header row',
              content: { 'application/json': { schema: ref('SqlResult') }, 'text/csv': { schema: { type: 'string' } } },
            },
            '400': errorResponse(
              'TAPWATCH_SQL_BAD_QUERY: bad request or bad SQL (syntax error with position, unknown table with the allowed list); TAPWATCH_SQL_MULTI_STATEMENT: more than one statement',
            ),
            '401': errorResponse('missing or wrong token'),
            '403': errorResponse(
              'TAPWATCH_SQL_NOT_READ_ONLY (not a single SELECT), TAPWATCH_SQL_FORBIDDEN (other databases, table functions, file/dictionary functions, SETTINGS/FORMAT/INTO OUTFILE) or TAPWATCH_FORBIDDEN (the token lacks the role)',
            ),
            '422': errorResponse('TAPWATCH_SQL_LIMIT: a limit (rows, bytes, time, memory) was hit; the message names it'),
            '429': errorResponse('TAPWATCH_SQL_BUSY: this token already has a query running and four waiting; retry after an answer'),
          },
        },
      },
      '/v1/alerts/stream': {
        get: {
          tags: ['alerts'],
          summary: 'WebSocket: the live alert stream',
          description:
            'Upgrade to a WebSocket (`ws://host:port/v1/alerts/stream`). Each text message is one alert (schema Alert) as it is raised; silenced alerts are not sent. ' +
            'Filters (query parameters, comma lists, `prefix*`) or a message `{"type":"subscribe","filters":{…},"since":"…"}` that can change them later (answered `{"type":"subscribed"}`). ' +
            '`since=<alert id or ISO time>` first replays the stored alerts after it in order, then `{"type":"replay_end","replayed":n}`, then goes live with no gap and no duplicate. ' +
            'Messages with a `type` field are control messages (`subscribed`, `replay_end`, `pong`, `error`); alerts never have one. ' +
            'Auth: `Authorization: Bearer <token>` or `?token=<token>` (browsers); role alerts, sql or admin. The server pings; a client that does not answer is dropped; a subscriber that falls too far behind, ' +
            "or one past TAPWATCH_WS_MAX_CLIENTS or its token's TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN (admin tokens: the latter only), is closed with code 1013 and a reason.",
          parameters: [
            { name: 'token', in: 'query', required: false, schema: str },
            { name: 'severity', in: 'query', required: false, description: 'minimum severity', schema: { enum: ['low', 'medium', 'high', 'critical'] } },
            { name: 'server', in: 'query', required: false, schema: str },
            { name: 'tool', in: 'query', required: false, schema: str },
            { name: 'agent', in: 'query', required: false, schema: str },
            { name: 'detector', in: 'query', required: false, schema: str },
            { name: 'since', in: 'query', required: false, description: 'alert id or ISO time to resume after', schema: str },
          ],
          responses: {
            '101': { description: 'switching protocols; then one JSON alert (schema Alert) per message' },
            '400': { description: 'a bad filter or since value (plain HTTP answer to the upgrade)' },
            '401': { description: 'missing or wrong token (plain HTTP answer to the upgrade)' },
            '403': { description: 'the token lacks the role (plain HTTP answer to the upgrade)' },
          },
        },
      },
      '/v1/calls': {
        get: {
          tags: ['query'],
          summary: 'Tool calls, newest first',
          parameters: queryParams(CallsQuerySchema, PAGE_DESCRIPTIONS),
          responses: { ...ok('a page of calls', page('Call')), ...standardErrors },
        },
      },
      '/v1/alerts': {
        get: {
          tags: ['alerts'],
          summary: 'Alerts with their state, newest first',
          parameters: queryParams(AlertsQuerySchema, { ...PAGE_DESCRIPTIONS, severity: 'comma list of severities' }),
          responses: { ...ok('a page of alerts', page('AlertView')), ...standardErrors },
        },
      },
      '/v1/alerts/{id}': {
        get: {
          tags: ['alerts'],
          summary: 'One alert with its state',
          parameters: [pathParam('id')],
          responses: { ...ok('the alert', ref('AlertView')), '404': errorResponse('no such alert'), ...standardErrors },
        },
      },
      '/v1/alerts/{id}/ack': alertAction('Acknowledge an alert'),
      '/v1/alerts/{id}/resolve': alertAction('Resolve an alert'),
      '/v1/silences': {
        get: {
          tags: ['alerts'],
          summary: 'Silences (expired ones included, flagged inactive; deleted ones left out)',
          responses: { ...ok('silences', obj({ items: { type: 'array', items: ref('Silence') } })), ...standardErrors },
        },
        post: {
          tags: ['alerts'],
          summary: 'Silence alerts of a detector/server/tool/agent for a period: they are stored and flagged, not pushed',
          requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(SilenceBodySchema, 'input') } } },
          responses: { ...ok('created', ref('Silence'), '201'), '422': errorResponse('bad body'), ...standardErrors },
        },
      },
      '/v1/silences/{id}': {
        delete: {
          tags: ['alerts'],
          summary: 'End a silence now',
          parameters: [pathParam('id')],
          responses: { '204': { description: 'deleted' }, '404': errorResponse('no such silence'), ...standardErrors },
        },
      },
      '/v1/purges': {
        get: {
          tags: ['operations'],
          summary: 'Purges recorded, newest first (the subject as a SHA-256, never itself)',
          responses: { ...ok('purges', obj({ items: { type: 'array', items: ref('Purge') } })), ...standardErrors },
        },
        post: {
          tags: ['operations'],
          summary: 'Erase everything stored about one agent, session or server (privacy requests); waits for the deletes, records the purge',
          requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(PurgeBodySchema, 'input') } } },
          responses: { ...ok('erased', ref('Purge'), '201'), '422': errorResponse('bad body'), ...standardErrors },
        },
      },
      '/v1/webhooks/deadletters': {
        get: {
          tags: ['alerts'],
          summary: 'Webhook deliveries that failed after every attempt (TAPWATCH_WEBHOOK_MAX_ATTEMPTS), newest first',
          parameters: [
            { name: 'alert', in: 'query', required: false, description: 'only this alert id', schema: str },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          ],
          responses: { ...ok('dead letters', obj({ items: { type: 'array', items: ref('DeadLetter') } })), ...standardErrors },
        },
      },
      '/v1/tools': {
        get: {
          tags: ['tools'],
          summary: 'Every tool seen, with its current definition hash and how often it changed',
          parameters: [{ name: 'server', in: 'query', required: false, schema: str }],
          responses: { ...ok('tools', obj({ items: { type: 'array', items: ref('ToolSummary') } })), ...standardErrors },
        },
      },
      '/v1/tools/{server}/{tool}/history': {
        get: {
          tags: ['tools'],
          summary: 'Definitions of a tool over time, with a line diff from each version to the next',
          parameters: [pathParam('server'), pathParam('tool')],
          responses: { ...ok('history', ref('ToolHistory')), '404': errorResponse('no such tool'), ...standardErrors },
        },
      },
      '/v1/sessions/{id}': {
        get: {
          tags: ['query'],
          summary: 'A session timeline: start, calls, server requests, alerts and end in time order',
          parameters: [pathParam('id')],
          responses: { ...ok('timeline', ref('SessionTimeline')), '404': errorResponse('nothing stored for that session'), ...standardErrors },
        },
      },
      '/v1/stats': {
        get: {
          tags: ['query'],
          summary: 'Calls, errors, latency and alerts per server per hour, and per tool (default: the last 24 hours)',
          parameters: queryParams(StatsQuerySchema, PAGE_DESCRIPTIONS),
          responses: { ...ok('stats', ref('Stats')), ...standardErrors },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'TAPWATCH_TOKEN (admin) or a token from `tapwatch token create --role alerts|sql|ingest|admin`. alerts: the stream and alerts; sql: also SQL, calls, tools, sessions, stats; ingest: POST /v1/ingest; admin: everything. No token 401, wrong role 403.',
        },
      },
      schemas: {
        Error: obj({
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string', examples: Object.values(ApiErrors).map((e) => e.code) }, message: str },
          },
        }),
        Health: {
          type: 'object',
          required: ['status', 'store'],
          properties: { status: { enum: ['ok', 'degraded'] }, store: { enum: ['ok', 'unreachable', 'none'] }, ingest: { type: 'object' } },
        },
        TapEvent: jsonSchema(TapEventSchema, 'input'),
        SqlResult: obj(
          {
            rows: { type: 'array', items: { type: 'object' } },
            columns: { type: 'array', items: obj({ name: str, type: str }) },
            statistics: { type: 'object' },
          },
          { required: ['rows', 'columns'] },
        ),
        Alert: jsonSchema(AlertSchema),
        AlertView: alertViewSchema,
        AlertAction: jsonSchema(AlertActionBodySchema, 'input'),
        Call: callSchema,
        Silence: silenceSchema,
        Purge: obj({
          id: str,
          time,
          subject: { type: 'string', enum: ['agent', 'session', 'server'] },
          subjectHash: str,
          by: str,
          rows: { type: 'object', additionalProperties: int },
        }),
        DeadLetter: obj({ id: str, time, url: str, alertId: str, attempts: int, lastStatus: { type: 'integer' }, lastError: str, payload: str }),
        ToolSummary: obj({ server: str, tool: str, currentHash: str, firstSeen: time, lastSeen: time, versions: int, changes: int }),
        ToolHistory: obj({
          server: str,
          tool: str,
          versions: {
            type: 'array',
            items: obj({
              hash: str,
              firstSeen: time,
              lastSeen: time,
              agent: str,
              session: str,
              definition: str,
              diff: nullable({ type: 'array', items: diffLine }),
            }),
          },
        }),
        SessionTimeline: obj({
          session: str,
          server: str,
          agent: str,
          start: time,
          end: time,
          counts: obj({ calls: int, serverRequests: int, alerts: int }),
          timeline: { type: 'array', items: timelineEntry },
        }),
        Stats: obj({
          from: time,
          to: time,
          hourly: { type: 'array', items: obj({ hour: time, server: str, ...statsRow, alerts: int }) },
          servers: { type: 'array', items: obj({ server: str, ...statsRow, alerts: int }) },
          tools: { type: 'array', items: obj({ server: str, tool: str, ...statsRow }) },
        }),
      },
    },
  };
}

function page(item: string) {
  return obj({ items: { type: 'array', items: ref(item) }, nextCursor: nullable(str) });
}

function pathParam(name: string) {
  return { name, in: 'path', required: true, schema: str };
}

function alertAction(summary: string) {
  return {
    post: {
      tags: ['alerts'],
      summary,
      parameters: [pathParam('id')],
      requestBody: { required: false, content: { 'application/json': { schema: ref('AlertAction') } } },
      responses: {
        ...ok('the alert with its new state', ref('AlertView')),
        '404': errorResponse('no such alert'),
        '422': errorResponse('bad body'),
        ...standardErrors,
      },
    },
  };
}
