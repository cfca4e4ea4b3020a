/**
 * The OpenAPI document at /v1/openapi.json: structurally a valid OpenAPI 3.1
 * document (no copy of the official 3.1 meta-schema is available offline, so
 * the parts that matter are checked with ajv: document skeleton, operations,
 * parameters, path templates, `$ref`s, and every schema object against JSON
 * Schema 2020-12's own meta-schema); every route the app registers is in it;
 * and live responses of a real `tapwatch up` validate against the documented
 * response schemas.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { createApp } from '@tapwatch/dashboard-api';
import type { Store } from '@tapwatch/store';
import {
  EVERYTHING,
  EVERYTHING_2025,
  connectThroughTap,
  startUp,
  subscribeAlerts,
  waitFor,
  type AlertCollector,
  type RunningTapwatch,
} from '../support/helpers.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
const auth = { authorization: `Bearer ${TOKEN}` };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
let tw: RunningTapwatch;
let stream: AlertCollector;
let doc: any;
let session = '';

/** The skeleton of an OpenAPI 3.1 document (the parts tapwatch uses), as JSON Schema. */
const OPENAPI_31_SKELETON = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['openapi', 'info', 'paths'],
  properties: {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: {
      type: 'object',
      required: ['title', 'version'],
      properties: { title: { type: 'string' }, version: { type: 'string' }, description: { type: 'string' }, license: { type: 'object', required: ['name'] } },
    },
    servers: { type: 'array', items: { type: 'object', required: ['url'] } },
    security: { type: 'array', items: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } },
    tags: { type: 'array', items: { type: 'object', required: ['name'] } },
    paths: {
      type: 'object',
      propertyNames: { pattern: '^/' },
      additionalProperties: {
        type: 'object',
        propertyNames: { enum: [...METHODS, 'summary', 'description', 'parameters', 'servers'] },
        additionalProperties: { $ref: '#/$defs/operation' },
      },
    },
    components: {
      type: 'object',
      properties: {
        schemas: { type: 'object', additionalProperties: { type: ['object', 'boolean'] } },
        securitySchemes: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            required: ['type'],
            properties: { type: { enum: ['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'] } },
          },
        },
      },
    },
  },
  $defs: {
    operation: {
      type: 'object',
      required: ['responses'],
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        summary: { type: 'string' },
        description: { type: 'string' },
        operationId: { type: 'string' },
        parameters: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'in'],
            properties: {
              name: { type: 'string' },
              in: { enum: ['query', 'header', 'path', 'cookie'] },
              required: { type: 'boolean' },
              schema: { type: ['object', 'boolean'] },
            },
            if: { properties: { in: { const: 'path' } } },
            then: { required: ['required'], properties: { required: { const: true } } },
          },
        },
        requestBody: { type: 'object', required: ['content'], properties: { content: { $ref: '#/$defs/content' } } },
        responses: {
          type: 'object',
          minProperties: 1,
          propertyNames: { pattern: '^([1-5](\\d\\d|XX)|default)$' },
          additionalProperties: {
            type: 'object',
            required: ['description'],
            properties: { description: { type: 'string' }, content: { $ref: '#/$defs/content' } },
          },
        },
        security: { type: 'array' },
      },
    },
    content: { type: 'object', additionalProperties: { type: 'object', properties: { schema: { type: ['object', 'boolean'] } } } },
  },
};

function schemaValidator(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({
    $id: 'tapwatch-openapi',
    $defs: JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', 'tapwatch-openapi#/$defs/')),
  });
  return ajv;
}

/** The documented schema of a response (with refs pointing into the registered components). */
function responseSchema(path: string, method: string, status: number): unknown {
  const op = doc.paths[path]?.[method];
  assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
  const res = op.responses[String(status)];
  assert.ok(res, `${method.toUpperCase()} ${path} documents status ${status}`);
  const schema = res.content?.['application/json']?.schema;
  return schema === undefined ? undefined : JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', 'tapwatch-openapi#/$defs/'));
}

let checked = 0;
/** Calls the live server and validates the body against the documented schema for the status it answered. */
async function call(method: string, docPath: string, url: string, body?: unknown, expectStatus?: number): Promise<any> {
  const r = await fetch(`${tw.url}${url}`, {
    method: method.toUpperCase(),
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (expectStatus !== undefined) assert.equal(r.status, expectStatus, `${method} ${url}: ${text.slice(0, 300)}`);
  const schema = responseSchema(docPath, method, r.status);
  const json = text === '' ? undefined : JSON.parse(text);
  if (schema !== undefined) {
    const validate = schemaValidator().compile(schema as object);
    assert.ok(validate(json), `${method.toUpperCase()} ${url} → ${r.status} matches the documented schema: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    checked++;
  }
  return json;
}

before(async () => {
  tw = await startUp({ token: TOKEN });
  stream = await subscribeAlerts(tw.url, TOKEN);
  doc = await (await fetch(`${tw.url}/v1/openapi.json`, { headers: auth })).json();
  const tapped = await connectThroughTap({
    sink: tw.url,
    name: 'oa-everything',
    agent: 'agent-oa',
    server: [process.execPath, EVERYTHING, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  session = tapped.session;
  await tapped.client.listTools();
  for (let i = 0; i < 5; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
  await tapped.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
  await tapped.close();
  const first = await connectThroughTap({
    sink: tw.url,
    name: 'oa-docs',
    server: [process.execPath, EVERYTHING_2025, 'stdio'],
    env: { TAPWATCH_TOKEN: TOKEN },
  });
  await first.client.listTools();
  await first.close();
  const second = await connectThroughTap({ sink: tw.url, name: 'oa-docs', server: [process.execPath, EVERYTHING, 'stdio'], env: { TAPWATCH_TOKEN: TOKEN } });
  await second.client.listTools();
  await second.close();
  await stream.waitForAlert((a) => a.detector === 'tool_definition_changed' && a.server === 'oa-docs', 'definition change', 30_000);
  await waitFor(
    'session stored',
    async () => ((await (await fetch(`${tw.url}/v1/calls?session=${session}`, { headers: auth })).json()) as any).items.length === 6,
  );
});

after(async () => {
  stream?.close();
  await tw?.stop();
});

test('the document is a structurally valid OpenAPI 3.1 document whose schemas are valid JSON Schema 2020-12', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(OPENAPI_31_SKELETON);
  assert.ok(validate({ ...doc }), JSON.stringify(validate.errors?.slice(0, 5)));

  // Every schema object (components, parameters, bodies, responses) against the 2020-12 meta-schema.
  const schemas: [string, unknown][] = Object.entries(doc.components.schemas).map(([k, v]) => [`components.schemas.${k}`, v]);
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      for (const p of op.parameters ?? []) schemas.push([`${method} ${path} parameter ${p.name}`, p.schema]);
      for (const [type, c] of Object.entries<any>(op.requestBody?.content ?? {})) schemas.push([`${method} ${path} body ${type}`, c.schema]);
      for (const [status, r] of Object.entries<any>(op.responses))
        for (const [type, c] of Object.entries<any>(r.content ?? {})) schemas.push([`${method} ${path} ${status} ${type}`, c.schema]);
      // Path templates and path parameters agree.
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? [])
        .filter((p: any) => p.in === 'path')
        .map((p: any) => p.name)
        .sort();
      assert.deepEqual(declared, templated, `${method} ${path}: path parameters match the template`);
    }
  }
  assert.ok(schemas.length > 50);
  for (const [where, schema] of schemas) assert.ok(ajv.validateSchema(schema as object), `${where}: ${JSON.stringify(ajv.errors?.slice(0, 3))}`);
  // Every $ref points at a component that exists.
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.length > 10);
  for (const r of refs) {
    assert.match(r, /^#\/components\/schemas\//);
    assert.ok(doc.components.schemas[r.split('/').pop()!], `${r} exists`);
  }
  // And the component schemas compile together (refs resolve).
  const withRefs = schemaValidator();
  for (const name of Object.keys(doc.components.schemas)) assert.ok(withRefs.getSchema(`tapwatch-openapi#/$defs/${name}`), name);
});

test('every route the app registers is in the document, and every documented route is registered', () => {
  const { app } = createApp({
    maxBodyBytes: 1024,
    store: {} as Store,
    publisher: { publish: async () => {}, close: async () => {} },
    metrics: () => '',
  });
  const registered = new Set<string>();
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) registered.add(`${m} ${prefix}${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack, prefix + (typeof layer.rawPath === 'string' ? layer.rawPath : ''));
      }
    }
  };
  walk((app as any).router.stack, '');
  assert.ok(registered.size >= 15, [...registered].join(', '));
  const documented = new Set<string>();
  for (const [path, item] of Object.entries<any>(doc.paths)) for (const m of METHODS) if (item[m]) documented.add(`${m} ${path}`);
  for (const r of registered) assert.ok(documented.has(r), `${r} is documented`);
  // The WebSocket is served on the upgrade, not by express.
  for (const d of documented) if (d !== 'get /v1/alerts/stream') assert.ok(registered.has(d), `${d} is registered`);
});

test('live responses match the documented schemas, errors included', async () => {
  const alerts = await call('get', '/v1/alerts', '/v1/alerts?limit=5', undefined, 200);
  const alert = alerts.items.find((a: any) => a.server === 'oa-docs');
  assert.ok(alert);
  await call('get', '/v1/alerts/{id}', `/v1/alerts/${encodeURIComponent(alert.id)}`, undefined, 200);
  await call('post', '/v1/alerts/{id}/ack', `/v1/alerts/${encodeURIComponent(alert.id)}/ack`, { note: 'seen' }, 200);
  await call('post', '/v1/alerts/{id}/resolve', `/v1/alerts/${encodeURIComponent(alert.id)}/resolve`, undefined, 200);
  await call('post', '/v1/alerts/{id}/ack', '/v1/alerts/nope/ack', {}, 404);
  await call('get', '/v1/alerts/{id}', '/v1/alerts/nope', undefined, 404);
  const calls = await call('get', '/v1/calls', `/v1/calls?session=${session}&limit=2`, undefined, 200);
  assert.ok(calls.nextCursor);
  await call('get', '/v1/calls', `/v1/calls?session=${session}&limit=2&cursor=${calls.nextCursor}`, undefined, 200);
  await call('get', '/v1/calls', '/v1/calls?limit=-1', undefined, 400);
  const silence = await call('post', '/v1/silences', '/v1/silences', { tool: 'echo', durationMinutes: 5, reason: 'doc check' }, 201);
  await call('post', '/v1/silences', '/v1/silences', { reason: 'everything' }, 422);
  await call('get', '/v1/silences', '/v1/silences', undefined, 200);
  const del = await fetch(`${tw.url}/v1/silences/${silence.id}`, { method: 'DELETE', headers: auth });
  assert.equal(del.status, 204);
  assert.ok(doc.paths['/v1/silences/{id}'].delete.responses['204']);
  await call('delete', '/v1/silences/{id}', `/v1/silences/${silence.id}`, undefined, 404);
  await call('get', '/v1/tools', '/v1/tools', undefined, 200);
  await call('get', '/v1/webhooks/deadletters', '/v1/webhooks/deadletters?limit=10', undefined, 200);
  await call('get', '/v1/tools/{server}/{tool}/history', '/v1/tools/oa-docs/echo/history', undefined, 200);
  await call('get', '/v1/tools/{server}/{tool}/history', '/v1/tools/oa-docs/none/history', undefined, 404);
  await call('get', '/v1/sessions/{id}', `/v1/sessions/${session}`, undefined, 200);
  await call('get', '/v1/sessions/{id}', '/v1/sessions/none', undefined, 404);
  await call('get', '/v1/stats', '/v1/stats', undefined, 200);
  await call('get', '/v1/stats', '/v1/stats?from=x', undefined, 400);
  await call('post', '/v1/sql', '/v1/sql', { sql: 'SELECT count() AS n FROM tool_calls' }, 200);
  await call('post', '/v1/sql', '/v1/sql', { nope: 1 }, 400);
  await call('post', '/v1/ingest', '/v1/ingest', [{ type: 'nope' }], 422);
  await call('get', '/healthz', '/healthz', undefined, 200);
  await call('get', '/v1/openapi.json', '/v1/openapi.json', undefined, 200);
  const unauthorized = await fetch(`${tw.url}/v1/calls`);
  assert.equal(unauthorized.status, 401);
  const body = await unauthorized.json();
  const validate = schemaValidator().compile(responseSchema('/v1/calls', 'get', 401) as object);
  assert.ok(validate(body));
  const metrics = await fetch(`${tw.url}/metrics`, { headers: auth });
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  assert.ok(checked >= 25, `validated ${checked} responses`);
});
