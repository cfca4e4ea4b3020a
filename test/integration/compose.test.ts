/**
 * Structural checks of the Docker deployment: docker-compose.yml, deploy/Dockerfile,
 * .dockerignore and deploy/clickhouse/. Nothing is started (there is no Docker
 * engine where the tests run); instead every claim the files make that can be
 * checked from here is checked against the real thing:
 *
 *  - the compose file against the official Compose Specification schema
 *    (fetched with `go mod download`, see test/support/compose-schema.mjs);
 *  - each service's command against the built `tapwatch` CLI;
 *  - each service's environment against tapwatch's ConfigSchema/loadConfig;
 *  - the wiring between services (Kafka listener, ClickHouse URL, users and
 *    passwords, published ports, healthchecks, depends_on);
 *  - the Dockerfile's ENTRYPOINT and COPY sources against the repository and
 *    .dockerignore.
 *
 * Run after `npm run build`: node --import tsx --test test/integration/compose.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import { ConfigSchema, loadConfig, type Config } from '@tapwatch/schema';
import { assertSafeBinding } from '@tapwatch/dashboard-api';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');
const DOCKERIGNORE = join(ROOT, '.dockerignore');
const TAPWATCH_BIN = join(ROOT, 'cli', 'bin', 'tapwatch.js');
// Plain JavaScript support modules, imported by a path TypeScript does not resolve for types.
const COMPOSE_SCHEMA_MODULE: string = '../support/compose-schema.mjs';
const KAFKA_MODULE: string = '../support/kafka.mjs';
/** The Dockerfile the tapwatch services are built from, relative to the repository root. */
const TAPWATCH_DOCKERFILE = 'deploy/Dockerfile';

/** The tapwatch services and the `tapwatch` command each runs. */
const EXPECTED_COMMANDS: Readonly<Record<string, string>> = { analyzer: 'analyzer', api: 'api', ingest: 'ingest' };
/** Services reachable from outside: their published port must be their TAPWATCH_PORT. */
const PUBLISHED_SERVICES = ['api', 'ingest'];
/** Values for the variables compose must be given (`${VAR:?…}`); every other variable takes its default. */
const TEST_ENV: Readonly<Record<string, string>> = { TAPWATCH_TOKEN: 'compose-test-token' };
const CLICKHOUSE_USERS_DIR = '/etc/clickhouse-server/users.d/';

// The Ajv build for JSON Schema draft 2020-12 (the draft the compose schema declares).
// It is a CommonJS module: under NodeNext its class is the `default` of the default import.
const Ajv2020 = Ajv2020Module.default;

// ---------------------------------------------------------------------------
// Compose file: the subset of the Compose Specification this test reads
// ---------------------------------------------------------------------------

type EnvValue = string | number | boolean | null;
type PortEntry = string | number | { target?: number | string; published?: number | string; host_ip?: string };
type VolumeEntry = string | { type?: string; source?: string; target?: string };

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  entrypoint?: string | string[];
  command?: string | string[];
  environment?: Record<string, EnvValue> | string[];
  ports?: PortEntry[];
  volumes?: VolumeEntry[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
}

interface LoadedCompose {
  /** The parsed file before interpolation (anchors and merge keys resolved). */
  raw: ComposeFile;
  /** After compose-style interpolation with TEST_ENV: what `docker compose` would run. */
  file: ComposeFile;
  /** Variables written `${VAR:?…}` / `${VAR?…}`: compose refuses to start without them. */
  required: Set<string>;
  /** Variables written `$VAR` / `${VAR}` with no default. */
  withoutDefault: Set<string>;
}

let loaded: LoadedCompose | undefined;

/** Parses docker-compose.yml once (YAML errors fail every test that needs it). */
function compose(): LoadedCompose {
  if (loaded) return loaded;
  // Compose files may use YAML merge keys (`<<: *anchor`), as docker compose's parser does.
  const doc = parseDocument(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true });
  if (doc.errors.length > 0) throw new Error(`docker-compose.yml is not valid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
  if (doc.warnings.length > 0) throw new Error(`docker-compose.yml has YAML warnings: ${doc.warnings.map((e) => e.message).join('; ')}`);
  const raw = doc.toJS() as ComposeFile;
  const required = new Set<string>();
  const withoutDefault = new Set<string>();
  const file = interpolateTree(raw, { env: TEST_ENV, required, withoutDefault }, '') as ComposeFile;
  loaded = { raw, file, required, withoutDefault };
  return loaded;
}

function service(name: string): ComposeService {
  const s = compose().file.services[name];
  assert.ok(s, `docker-compose.yml has no service '${name}'`);
  return s;
}

/** Services built from deploy/Dockerfile, i.e. running tapwatch. */
function tapwatchServices(): [string, ComposeService][] {
  return Object.entries(compose().file.services).filter(([, s]) => {
    const b = s.build;
    return typeof b === 'object' && b.dockerfile !== undefined && posix.normalize(b.dockerfile) === TAPWATCH_DOCKERFILE;
  });
}

function environmentOf(s: ComposeService): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (Array.isArray(s.environment)) {
    for (const entry of s.environment) {
      const eq = entry.indexOf('=');
      if (eq < 0) out[entry] = undefined;
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else {
    // A null value means "taken from the shell running compose": undefined here.
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = v === null ? undefined : String(v);
  }
  return out;
}

function configOf(name: string): Config {
  return loadConfig(environmentOf(service(name)));
}

// ---------------------------------------------------------------------------
// Compose-style interpolation
// ---------------------------------------------------------------------------

class MissingVariableError extends Error {}

interface InterpolationContext {
  env: Readonly<Record<string, string>>;
  required: Set<string>;
  withoutDefault: Set<string>;
}

/** Interpolates every string value (not keys) of a parsed compose file, as compose does before validating. */
function interpolateTree(value: unknown, ctx: InterpolationContext, path: string): unknown {
  if (typeof value === 'string') return interpolate(value, ctx, path);
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, ctx, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateTree(v, ctx, path ? `${path}.${k}` : k)]));
  }
  return value;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * One string: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?message}`, `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`. Nested
 * expressions inside a default are not supported (and not used).
 */
function interpolate(s: string, ctx: InterpolationContext, path: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c !== '$') {
      out += c;
      i += 1;
      continue;
    }
    const next = s[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = s.indexOf('}', i + 2);
      if (end < 0) throw new Error(`${path}: unterminated \${ in ${JSON.stringify(s)}`);
      out += expand(s.slice(i + 2, end), ctx, path);
      i = end + 1;
    } else {
      const m = NAME.exec(s.slice(i + 1));
      if (!m) throw new Error(`${path}: invalid interpolation in ${JSON.stringify(s)} (write $$ for a literal $)`);
      ctx.withoutDefault.add(m[0]);
      out += ctx.env[m[0]] ?? '';
      i += 1 + m[0].length;
    }
  }
  return out;
}

function expand(expr: string, ctx: InterpolationContext, path: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(expr);
  if (!m) throw new Error(`${path}: invalid interpolation \${${expr}}`);
  const name = m[1] as string;
  const op = m[2];
  const arg = m[3] ?? '';
  const value = ctx.env[name];
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (op) {
    case undefined:
      ctx.withoutDefault.add(name);
      return value ?? '';
    case ':-':
      return nonEmpty ? value : arg;
    case '-':
      return set ? value : arg;
    case ':?':
    case '?':
      ctx.required.add(name);
      if (op === ':?' ? !nonEmpty : !set) throw new MissingVariableError(`${path}: required variable ${name} is missing a value: ${arg}`);
      return value as string;
    case ':+':
      return nonEmpty ? arg : '';
    case '+':
      return set ? arg : '';
    default:
      throw new Error(`${path}: unsupported interpolation operator ${op}`);
  }
}

// ---------------------------------------------------------------------------
// Small parsers: ports, Kafka listeners, XML, Dockerfile, .dockerignore
// ---------------------------------------------------------------------------

interface Port {
  hostIp?: string | undefined;
  published?: number | undefined;
  target: number;
}

/** Short (`[ip:]host:container[/proto]`, `container`) or long port syntax; no ranges (none used). */
function parsePort(p: PortEntry): Port {
  if (typeof p === 'number') return { target: p };
  if (typeof p === 'object') {
    return { hostIp: p.host_ip, published: p.published === undefined ? undefined : Number(p.published), target: Number(p.target) };
  }
  const spec = p.replace(/\/(tcp|udp)$/, '');
  const parts = spec.split(':');
  assert.ok(
    parts.every((x) => /^[\d.]*$/.test(x) || x.includes('[')),
    `cannot read port ${p} (ranges and IPv6 literals are not supported here)`,
  );
  const target = Number(parts.at(-1));
  if (parts.length === 1) return { target };
  const published = parts.at(-2) ? Number(parts.at(-2)) : undefined;
  return { hostIp: parts.length > 2 ? parts.slice(0, -2).join(':') : undefined, published, target };
}

interface Listener {
  name: string;
  host: string;
  port: number;
}

/** `NAME://host:port,…` (Kafka's listeners / advertised.listeners). */
function parseListeners(value: string | undefined, what: string): Listener[] {
  assert.ok(value, `kafka: ${what} is not set`);
  return value.split(',').map((entry) => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*):\/\/([^:]*):(\d+)$/.exec(entry.trim());
    assert.ok(m, `kafka: cannot read ${what} entry '${entry}'`);
    return { name: m[1] as string, host: m[2] as string, port: Number(m[3]) };
  });
}

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const decodeXml = (s: string): string => s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => XML_ENTITIES[e] ?? '');

/** A minimal XML parser for ClickHouse config files: elements, attributes, text, comments. */
function parseXml(src: string, file: string): XmlElement {
  const body = src.replace(/<\?xml[\s\S]*?\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [root];
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  for (const m of body.matchAll(token)) {
    const top = stack.at(-1) as XmlElement;
    if (m[6]) throw new Error(`${file}: malformed markup at offset ${m.index}`);
    if (m[5] !== undefined) {
      top.text += decodeXml(m[5]).trim();
      continue;
    }
    const [, closing, name = '', attrSrc = '', selfClosing] = m;
    if (closing) {
      if (top.name !== name) throw new Error(`${file}: </${name}> closes <${top.name}>`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrSrc.matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) attrs[a[1] as string] = decodeXml(a[2] ?? a[3] ?? '');
    const el: XmlElement = { name, attrs, children: [], text: '' };
    top.children.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length !== 1) throw new Error(`${file}: <${stack.at(-1)?.name}> is never closed`);
  const [top, ...rest] = root.children;
  if (!top || rest.length > 0) throw new Error(`${file}: expected exactly one root element`);
  return top;
}

function xmlChild(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

interface DockerInstruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions grouped by stage (continuation lines joined, comments dropped). */
function parseDockerfile(text: string): DockerInstruction[][] {
  const stages: DockerInstruction[][] = [];
  let current = '';
  const flush = () => {
    const line = current.trim();
    current = '';
    if (!line) return;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) return;
    const instruction = { keyword: (m[1] ?? '').toUpperCase(), args: (m[2] ?? '').trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    const stage = stages.at(-1);
    if (stage) stage.push(instruction);
  };
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue; // comments, also inside continued instructions
    if (/\\\s*$/.test(line)) {
      current += `${line.replace(/\\\s*$/, '')} `;
    } else {
      current += line;
      flush();
    }
  }
  flush();
  return stages;
}

interface CopyInstruction {
  from?: string | undefined;
  sources: string[];
  dest: string;
}

function parseCopy(args: string): CopyInstruction {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  let from: string | undefined;
  const rest: string[] = [];
  for (const w of words) {
    if (w.startsWith('--from=')) from = w.slice('--from='.length);
    else if (!w.startsWith('--')) rest.push(w);
  }
  assert.ok(rest.length >= 2, `COPY ${args}: expected sources and a destination`);
  return { from, sources: rest.slice(0, -1), dest: rest.at(-1) as string };
}

/** .dockerignore rules, in order; `!` re-includes. */
function readDockerignore(): { pattern: RegExp; include: boolean }[] {
  if (!existsSync(DOCKERIGNORE)) return [];
  return readFileSync(DOCKERIGNORE, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const include = l.startsWith('!');
      const p = posix.normalize((include ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
      // Docker's patterns: `**` any number of directories, `*` and `?` within one path element.
      const re = p
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) => {
          if (part === '**/') return '(?:.*/)?';
          if (part === '**') return '.*';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { pattern: new RegExp(`^${re}$`), include };
    });
}

/** Whether Docker leaves `path` (relative to the context) out of the build context: last matching rule wins, parents count. */
function dockerignored(path: string): boolean {
  const parts = posix
    .normalize(path)
    .replace(/^\.\/|\/+$/g, '')
    .split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let excluded = false;
  for (const rule of readDockerignore()) {
    if (candidates.some((c) => rule.pattern.test(c))) excluded = !rule.include;
  }
  return excluded;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

test('docker-compose.yml follows the Compose Specification schema', async () => {
  const { loadComposeSchema, COMPOSE_GO_VERSION } = (await import(COMPOSE_SCHEMA_MODULE)) as {
    loadComposeSchema: () => { path: string; schema: Record<string, unknown> };
    COMPOSE_GO_VERSION: string;
  };
  const { schema, path } = loadComposeSchema();
  assert.match(String(schema['$schema']), /draft\/2020-12/, `${path}: expected a JSON Schema draft 2020-12 document`);
  // strict: false — Ajv's strict mode lints the schema itself, and the official
  // schema does not pass that lint (strictTypes); it does not change validation.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);

  const { file } = compose();
  const valid = validate(file);
  const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  assert.ok(valid, `docker-compose.yml does not follow the Compose Specification (compose-go ${COMPOSE_GO_VERSION}):\n${errors.join('\n')}`);

  // The validator is not vacuous: an unknown service attribute is rejected.
  const api = file.services['api'];
  assert.ok(api);
  const broken = { ...file, services: { ...file.services, api: { ...api, not_a_compose_attribute: true } } };
  assert.equal(validate(broken), false, 'the schema accepted an unknown service attribute');
});

test('TAPWATCH_TOKEN is the only variable compose requires; all others have defaults', () => {
  const { required, withoutDefault, raw } = compose();
  assert.deepEqual([...required].sort(), ['TAPWATCH_TOKEN']);
  assert.deepEqual([...withoutDefault], [], 'variables without a default would silently be empty');
  // Without it, interpolation fails as `docker compose up` does.
  assert.throws(
    () => interpolateTree(raw, { env: {}, required: new Set(), withoutDefault: new Set() }, ''),
    (err: unknown) => err instanceof MissingVariableError && /TAPWATCH_TOKEN/.test(err.message),
  );
});

test('the tapwatch services are analyzer, api and ingest, built from deploy/Dockerfile', () => {
  const names = tapwatchServices()
    .map(([n]) => n)
    .sort();
  assert.deepEqual(names, Object.keys(EXPECTED_COMMANDS).sort());
  for (const [name, s] of tapwatchServices()) {
    assert.equal(typeof s.build === 'object' ? posix.normalize(s.build.context ?? '.') : undefined, '.', `${name}: build context must be the repository root`);
    assert.equal(s.entrypoint, undefined, `${name}: must not override the image's ENTRYPOINT (the tapwatch CLI)`);
  }
  assert.ok(existsSync(join(ROOT, TAPWATCH_DOCKERFILE)), `${TAPWATCH_DOCKERFILE} is missing`);
});

test('every tapwatch service runs a real tapwatch command', () => {
  assert.ok(
    existsSync(join(ROOT, 'cli', 'dist', 'main.js')) && existsSync(join(ROOT, 'cli', 'dist', 'services', 'index.js')),
    'the CLI is not built: run `npm run build` first',
  );
  for (const [name, s] of tapwatchServices()) {
    const command = typeof s.command === 'string' ? s.command.trim().split(/\s+/) : (s.command ?? []);
    assert.equal(command[0], EXPECTED_COMMANDS[name], `${name}: command`);
    // The service's own flags go through the command's parser too (unknown flags exit 2).
    const res = spawnSync(process.execPath, [TAPWATCH_BIN, ...command, '--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(res.status, 0, `${name}: \`tapwatch ${command.join(' ')} --help\` exited ${res.status}: ${res.stderr}`);
    assert.match(res.stdout, new RegExp(`Usage: tapwatch ${command[0]}\\b`), `${name}: help does not name the command`);
  }
});

test('tapwatch services set only ConfigSchema settings, with values loadConfig accepts', () => {
  const known = new Set(Object.keys(ConfigSchema.shape));
  for (const [name, s] of tapwatchServices()) {
    const env = environmentOf(s);
    const unknown = Object.keys(env).filter((k) => !known.has(k));
    assert.deepEqual(unknown, [], `${name}: environment variables tapwatch does not read`);
    for (const [k, v] of Object.entries(env)) assert.notEqual(v, undefined, `${name}: ${k} has no value (would be taken from the host shell)`);
    const config = loadConfig(env); // throws ConfigError naming the bad variable
    // The commands refuse to listen beyond loopback without a token; so must this file.
    assert.doesNotThrow(() => assertSafeBinding(config.TAPWATCH_HOST, config.TAPWATCH_TOKEN), `${name}: would refuse to start`);
    const rawToken = environmentOf(compose().raw.services[name] ?? {})['TAPWATCH_TOKEN'];
    assert.match(String(rawToken), /^\$\{TAPWATCH_TOKEN:\?/, `${name}: TAPWATCH_TOKEN must be required (\${TAPWATCH_TOKEN:?…})`);
  }
});

test('api and ingest publish their TAPWATCH_PORT', () => {
  for (const name of PUBLISHED_SERVICES) {
    const config = configOf(name);
    const ports = (service(name).ports ?? []).map(parsePort);
    assert.ok(ports.length > 0, `${name}: no published port`);
    for (const p of ports) {
      assert.equal(p.target, config.TAPWATCH_PORT, `${name}: container port vs TAPWATCH_PORT`);
      assert.equal(p.published, config.TAPWATCH_PORT, `${name}: published port vs TAPWATCH_PORT`);
    }
  }
  // Services without published ports still listen on their TAPWATCH_PORT (healthcheck), which must be set.
  for (const [name, s] of tapwatchServices()) assert.ok(environmentOf(s)['TAPWATCH_PORT'], `${name}: TAPWATCH_PORT not set`);
});

test("KAFKA_BROKERS points at the kafka service's internal listener", () => {
  const kafkaEnv = environmentOf(service('kafka'));
  const listeners = parseListeners(kafkaEnv['KAFKA_LISTENERS'], 'KAFKA_LISTENERS');
  const advertised = parseListeners(kafkaEnv['KAFKA_ADVERTISED_LISTENERS'], 'KAFKA_ADVERTISED_LISTENERS');
  const internalName = kafkaEnv['KAFKA_INTER_BROKER_LISTENER_NAME'];
  assert.ok(internalName, 'kafka: KAFKA_INTER_BROKER_LISTENER_NAME is not set');
  const internal = advertised.find((l) => l.name === internalName);
  assert.ok(internal, `kafka: the inter-broker listener ${internalName} is not advertised`);
  assert.equal(internal.host, 'kafka', 'kafka: the internal listener must advertise the service name');
  assert.equal(listeners.find((l) => l.name === internalName)?.port, internal.port, 'kafka: internal listener port vs advertised port');

  for (const [name, s] of tapwatchServices()) {
    const brokers = loadConfig(environmentOf(s)).KAFKA_BROKERS;
    assert.deepEqual(brokers, [`${internal.host}:${internal.port}`], `${name}: KAFKA_BROKERS`);
  }

  // Whatever the host can reach on a published port is an advertised, listening listener.
  for (const p of (service('kafka').ports ?? []).map(parsePort)) {
    const l = listeners.find((x) => x.port === p.target);
    assert.ok(l, `kafka: published port ${p.target} has no listener`);
    assert.ok(
      advertised.some((a) => a.name === l.name),
      `kafka: listener ${l.name} on a published port is not advertised`,
    );
  }
  // The healthcheck asks a listener that exists.
  const hc = service('kafka').healthcheck?.test;
  const hcArgs = Array.isArray(hc) ? hc : [String(hc)];
  const bootstrap = hcArgs[hcArgs.indexOf('--bootstrap-server') + 1] ?? '';
  assert.ok(
    listeners.some((l) => bootstrap.endsWith(`:${l.port}`)),
    `kafka: healthcheck bootstrap server ${bootstrap} is no listener`,
  );
});

test('the Kafka image is the version the test broker runs', async () => {
  const { KAFKA_VERSION } = (await import(KAFKA_MODULE)) as { KAFKA_VERSION: string };
  const image = service('kafka').image ?? '';
  const m = /^apache\/kafka:(.+)$/.exec(image);
  assert.ok(m, `kafka: expected the official apache/kafka image, got '${image}'`);
  assert.equal(m[1], KAFKA_VERSION, 'kafka image tag vs KAFKA_VERSION in test/support/kafka.mjs');
  assert.match(service('clickhouse').image ?? '', /^clickhouse\/clickhouse-server:26\.\d+/, 'clickhouse: expected a pinned 26.x official image');
});

test('ClickHouse: URL, users, grants, passwords and the read-only profile match the services', () => {
  const ch = service('clickhouse');
  const chEnv = environmentOf(ch);
  // The image's entrypoint would create its own user (and drop `default`) from these.
  for (const k of ['CLICKHOUSE_USER', 'CLICKHOUSE_PASSWORD', 'CLICKHOUSE_DB']) assert.equal(chEnv[k], undefined, `clickhouse: ${k} must not be set`);

  // Users and profiles from every file mounted into users.d.
  const usersFiles = (ch.volumes ?? []).flatMap((v) => {
    const [source, target] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
    return source && target?.startsWith(CLICKHOUSE_USERS_DIR) ? [source] : [];
  });
  assert.ok(usersFiles.length > 0, `clickhouse: nothing is mounted into ${CLICKHOUSE_USERS_DIR}`);
  const users = new Map<string, XmlElement>();
  const profiles = new Map<string, XmlElement>();
  for (const source of usersFiles) {
    assert.match(source, /^\.\/deploy\/clickhouse\//, `clickhouse: ${source} should live in deploy/clickhouse/`);
    const path = join(ROOT, source);
    assert.ok(existsSync(path), `clickhouse: mounted file ${source} does not exist`);
    const root = parseXml(readFileSync(path, 'utf8'), source);
    assert.equal(root.name, 'clickhouse', `${source}: root element`);
    for (const u of xmlChild(root, 'users')?.children ?? []) users.set(u.name, u);
    for (const p of xmlChild(root, 'profiles')?.children ?? []) profiles.set(p.name, p);
  }

  /** The password ClickHouse will give `user`: its from_env variable looked up in the container's environment. */
  const passwordOf = (user: XmlElement): string | undefined => {
    const pw = xmlChild(user, 'password');
    assert.ok(pw, `users.d: ${user.name} has no <password>`);
    const from = pw.attrs['from_env'];
    assert.ok(from, `users.d: ${user.name}'s password must come from the environment (from_env), not the file`);
    return chEnv[from];
  };
  const grantsOf = (user: XmlElement): string[] =>
    (xmlChild(user, 'grants')?.children ?? []).filter((q) => q.name === 'query').map((q) => q.text.replace(/\s+/g, ' ').trim());

  let readonlyChecked = false;
  for (const [name, s] of tapwatchServices()) {
    const env = environmentOf(s);
    if (env['CLICKHOUSE_URL'] === undefined) continue;
    const config = loadConfig(env);
    const url = new URL(config.CLICKHOUSE_URL ?? '');
    assert.equal(url.hostname, 'clickhouse', `${name}: CLICKHOUSE_URL host must be the clickhouse service`);
    assert.equal(url.protocol, 'http:', `${name}: CLICKHOUSE_URL protocol`);
    assert.equal(url.port, '8123', `${name}: CLICKHOUSE_URL must use ClickHouse's HTTP port`);
    const db = config.CLICKHOUSE_DATABASE;

    const writer = users.get(config.CLICKHOUSE_USER);
    assert.ok(writer, `${name}: CLICKHOUSE_USER ${config.CLICKHOUSE_USER} is not defined in users.d`);
    assert.equal(passwordOf(writer), config.CLICKHOUSE_PASSWORD, `${name}: CLICKHOUSE_PASSWORD vs the password ClickHouse gets`);
    assert.ok(grantsOf(writer).includes(`GRANT ALL ON ${db}.*`), `${name}: ${writer.name} needs ALL on ${db}.* (it runs the migrations)`);

    if (config.CLICKHOUSE_READONLY_USER === undefined) continue;
    const reader = users.get(config.CLICKHOUSE_READONLY_USER);
    assert.ok(reader, `${name}: CLICKHOUSE_READONLY_USER ${config.CLICKHOUSE_READONLY_USER} is not defined in users.d`);
    assert.equal(passwordOf(reader), config.CLICKHOUSE_READONLY_PASSWORD, `${name}: CLICKHOUSE_READONLY_PASSWORD vs the password ClickHouse gets`);
    assert.deepEqual(grantsOf(reader), [`GRANT SELECT ON ${db}.*`], `${name}: ${reader.name} may only SELECT from ${db}`);
    const profileName = xmlChild(reader, 'profile')?.text ?? '';
    const profile = profiles.get(profileName);
    assert.ok(profile, `${name}: ${reader.name}'s profile '${profileName}' is not defined in users.d`);
    const setting = (k: string) => xmlChild(profile, k)?.text;
    assert.equal(setting('readonly'), '1', `${profileName}: readonly`);
    assert.equal(setting('result_overflow_mode'), 'throw', `${profileName}: result_overflow_mode`);
    for (const k of ['max_memory_usage', 'max_result_bytes']) assert.match(setting(k) ?? '', /^[1-9]\d*$/, `${profileName}: ${k} must be a positive limit`);
    // tapwatch sends this user no settings, so the profile carries tapwatch's own limits.
    assert.equal(setting('max_execution_time'), String(config.TAPWATCH_SQL_TIMEOUT_S), `${profileName}: max_execution_time vs TAPWATCH_SQL_TIMEOUT_S`);
    assert.equal(setting('max_result_rows'), String(config.TAPWATCH_SQL_MAX_ROWS), `${profileName}: max_result_rows vs TAPWATCH_SQL_MAX_ROWS`);
    readonlyChecked = true;
  }
  assert.ok(readonlyChecked, 'no service runs user SQL as a read-only ClickHouse user (CLICKHOUSE_READONLY_USER)');
  assert.ok(environmentOf(service('api'))['CLICKHOUSE_READONLY_USER'], 'api: CLICKHOUSE_READONLY_USER must be set');
});

test('depends_on service_healthy targets have healthchecks', () => {
  const services = compose().file.services;
  let conditions = 0;
  for (const [name, s] of Object.entries(services)) {
    const deps = Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d) => [d, {}])) : (s.depends_on ?? {});
    for (const [dep, { condition }] of Object.entries(deps) as [string, { condition?: string }][]) {
      const target = services[dep];
      assert.ok(target, `${name}: depends on unknown service ${dep}`);
      if (condition !== 'service_healthy') continue;
      conditions += 1;
      assert.ok(target.healthcheck?.test && !target.healthcheck.disable, `${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
    }
  }
  assert.ok(conditions > 0, 'no depends_on uses condition: service_healthy');
  for (const [name, s] of tapwatchServices()) {
    const deps = s.depends_on;
    assert.ok(deps && !Array.isArray(deps) && deps['kafka']?.condition === 'service_healthy', `${name}: must wait for a healthy kafka`);
  }
});

test('the tapwatch healthcheck passes on a 200 /healthz and fails otherwise', async () => {
  const checks = new Map(tapwatchServices().map(([name, s]) => [JSON.stringify(s.healthcheck?.test), name]));
  for (const [json, name] of checks) {
    const testCmd = JSON.parse(json ?? 'null') as string[] | null;
    assert.ok(Array.isArray(testCmd) && testCmd[0] === 'CMD' && testCmd[1] === 'node', `${name}: expected a CMD healthcheck run with node`);
    let status = 200;
    const server: Server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const run = () =>
        new Promise<number | null>((r) => {
          const child = spawn(process.execPath, testCmd.slice(2), {
            env: { ...environmentOf(service(name)), PATH: process.env['PATH'], TAPWATCH_PORT: String(port) },
            stdio: 'ignore',
          });
          child.on('exit', (code) => r(code));
        });
      assert.equal(await run(), 0, `${name}: healthcheck failed against a healthy /healthz`);
      status = 503;
      assert.equal(await run(), 1, `${name}: healthcheck passed against a 503 /healthz`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }
});

test("the Dockerfile's ENTRYPOINT runs the tapwatch CLI, and its COPY sources reach the build context", () => {
  const stages = parseDockerfile(readFileSync(join(ROOT, TAPWATCH_DOCKERFILE), 'utf8'));
  const final = stages.at(-1);
  assert.ok(final, `${TAPWATCH_DOCKERFILE}: no stage`);

  const entrypoint = final.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  assert.ok(entrypoint, `${TAPWATCH_DOCKERFILE}: the final stage has no ENTRYPOINT`);
  // Exec form, so that node is PID 1 and receives SIGTERM (shell form would wrap it in sh -c).
  assert.ok(entrypoint.args.startsWith('['), `ENTRYPOINT must use the exec form, got: ${entrypoint.args}`);
  const argv = JSON.parse(entrypoint.args) as string[];
  assert.equal(argv[0], 'node');
  const script = argv[1] ?? '';
  assert.ok(existsSync(join(ROOT, script)), `ENTRYPOINT runs ${script}, which is not in the repository`);
  assert.ok(!dockerignored(script), `ENTRYPOINT runs ${script}, which .dockerignore leaves out of the build context`);

  // The final stage copies the script from the context to where ENTRYPOINT looks for it.
  const workdir = final.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
  const inImage = posix.resolve(workdir, script);
  const copied = final
    .filter((i) => i.keyword === 'COPY')
    .map((i) => parseCopy(i.args))
    .some((c) => {
      if (c.from !== undefined || c.sources.length !== 1) return false;
      const src = posix.normalize(c.sources[0] ?? '').replace(/\/+$/, '');
      if (script !== src && !script.startsWith(`${src}/`)) return false;
      return posix.join(posix.resolve(workdir, c.dest), posix.relative(src, script)) === inImage;
    });
  assert.ok(copied, `the final stage does not COPY ${script} to ${inImage}`);

  for (const stage of stages) {
    for (const i of stage.filter((x) => x.keyword === 'COPY')) {
      const c = parseCopy(i.args);
      if (c.from !== undefined) continue;
      for (const src of c.sources) {
        assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
        assert.ok(!dockerignored(src), `COPY ${src}: left out of the build context by .dockerignore`);
      }
    }
  }
  // Local state and build output stay out of the context (and the matcher above is not vacuous).
  for (const p of ['.env', 'node_modules', 'schema/dist', '.tapwatch', 'collector/test']) {
    assert.ok(dockerignored(p), `.dockerignore lets ${p} into the build context`);
  }
});

test('the image carries every file each package ships (package.json "files")', () => {
  const stages = parseDockerfile(readFileSync(join(ROOT, TAPWATCH_DOCKERFILE), 'utf8'));
  const final = stages.at(-1);
  assert.ok(final, `${TAPWATCH_DOCKERFILE}: no stage`);
  const workdir = final.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '/';
  // Everything the final stage puts into the image, as paths relative to WORKDIR.
  // A file copied into a directory covers only itself; a directory (or a build-stage path) covers its destination.
  const inImage = final
    .filter((i) => i.keyword === 'COPY')
    .map((i) => parseCopy(i.args))
    .flatMap((c) =>
      c.sources.map((src) => {
        const isFile = c.from === undefined && existsSync(join(ROOT, src)) && statSync(join(ROOT, src)).isFile();
        const dest = isFile && c.dest.endsWith('/') ? posix.join(c.dest, posix.basename(src)) : c.dest;
        return posix.relative(workdir, posix.resolve(workdir, dest)).replace(/\/+$/, '');
      }),
    );
  for (const pkg of ['schema', 'bus', 'collector', 'store', 'analyzer', 'dashboard-api', 'cli']) {
    const files = (JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')) as { files?: string[] }).files ?? [];
    assert.ok(files.length > 0, `${pkg}/package.json lists no files`);
    for (const f of files) {
      const wanted = posix.join(pkg, f);
      assert.ok(
        inImage.some((d) => d === wanted || wanted.startsWith(`${d}/`)),
        `${wanted} (in ${pkg}/package.json "files") is not copied into the final image`,
      );
    }
  }
});
