/**
 * Every setting tapwatch reads from the environment, with its default, in one
 * schema. Services parse `process.env` once at start (`loadConfig`) and get a
 * frozen object; a bad value fails fast with the variable's name.
 *
 * The README's settings table is checked against `SETTINGS_DOC` by a test.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CaptureLevelSchema } from './events.js';
import { TapwatchError } from './errors.js';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
/** `a, b,,c` → `['a', 'b', 'c']`; unset or blank → `[]`. */
const commaList = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x.length > 0),
  );
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** `a:9092,b:9092` → `['a:9092', 'b:9092']`; also accepts `kafka://` URLs. */
export const BrokerListSchema = z
  .string()
  .transform((s) =>
    s
      .replace(/^kafka:\/\//, '')
      .split(',')
      .map((b) => b.trim().replace(/^kafka:\/\//, ''))
      .filter((b) => b.length > 0),
  )
  .pipe(z.array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port')).min(1));

export const ConfigSchema = z.object({
  TAPWATCH_HOST: z.string().default('127.0.0.1'),
  TAPWATCH_PORT: port.default(8787),
  TAPWATCH_DATA_DIR: z.string().default('.tapwatch'),
  TAPWATCH_TOKEN: optionalString,
  TAPWATCH_TOKEN_FILE: optionalString,
  TAPWATCH_CREDENTIALS_DIR: optionalString,
  TAPWATCH_ALLOWED_HOSTS: commaList,
  TAPWATCH_ALLOWED_ORIGINS: commaList,
  TAPWATCH_SINK: optionalString,
  TAPWATCH_URL: z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined), z.string().url().default('http://127.0.0.1:8787')),
  TAPWATCH_AGENT: optionalString,
  TAPWATCH_CAPTURE: CaptureLevelSchema.default('redacted'),
  TAPWATCH_TAP_OBSERVER: z.enum(['worker', 'inline']).default('worker'),
  TAPWATCH_SPOOL_DIR: optionalString,
  TAPWATCH_SPOOL_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024),
  TAPWATCH_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  KAFKA_BROKERS: optionalString.pipe(BrokerListSchema.optional()),
  KAFKA_CLIENT_ID: z.string().default('tapwatch'),
  TAPWATCH_EVENTS_TOPIC: z.string().min(1).default('tapwatch.events'),
  TAPWATCH_ALERTS_TOPIC: z.string().min(1).default('tapwatch.alerts'),
  TAPWATCH_DLQ_TOPIC: z.string().min(1).default('tapwatch.events.dlq'),
  TAPWATCH_CONSUMER_GROUP: z.string().min(1).default('tapwatch-analyzer'),
  TAPWATCH_TOPIC_PARTITIONS: positiveInt.default(6),
  CLICKHOUSE_URL: optionalString.pipe(z.url().optional()),
  CLICKHOUSE_USER: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a plain identifier')
    .default('tapwatch'),
  CLICKHOUSE_READONLY_USER: optionalString,
  CLICKHOUSE_READONLY_PASSWORD: z.string().default(''),
  TAPWATCH_BATCH_SIZE: positiveInt.default(500),
  TAPWATCH_MAX_BODY_BYTES: positiveInt.default(8 * 1024 * 1024),
  TAPWATCH_REQUEST_TIMEOUT_S: positiveInt.default(30),
  TAPWATCH_INGEST_MAX_INFLIGHT: positiveInt.default(16),
  TAPWATCH_SQL_MAX_ROWS: positiveInt.default(10_000),
  TAPWATCH_SQL_TIMEOUT_S: positiveInt.default(10),
  TAPWATCH_RETENTION_CONTENT_DAYS: z.coerce.number().int().nonnegative().default(30),
  TAPWATCH_RETENTION_CALLS_DAYS: z.coerce.number().int().nonnegative().default(180),
  TAPWATCH_RETENTION_HISTORY_DAYS: z.coerce.number().int().nonnegative().default(730),
  TAPWATCH_WS_MAX_CLIENTS: positiveInt.default(100),
  TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN: positiveInt.default(10),
  TAPWATCH_TOKENS_FILE: optionalString,
  TAPWATCH_OUTLIER_MIN_SAMPLES: positiveInt.default(20),
  TAPWATCH_OUTLIER_THRESHOLD: z.coerce.number().positive().default(4.5),
  TAPWATCH_RULES: optionalString,
  TAPWATCH_BASELINE_REFRESH_S: z.coerce.number().int().min(0).default(300),
  TAPWATCH_WEBHOOKS: optionalString,
  TAPWATCH_WEBHOOK_SECRET: optionalString,
  TAPWATCH_WEBHOOK_MAX_ATTEMPTS: positiveInt.default(6),
  TAPWATCH_WEBHOOK_BACKOFF_MS: positiveInt.default(2000),
});
export type Config = Readonly<z.infer<typeof ConfigSchema>>;

/** One line of documentation per setting; the README table is checked against it. */
export const SETTINGS_DOC: Readonly<Record<keyof z.infer<typeof ConfigSchema>, string>> = Object.freeze({
  TAPWATCH_HOST: 'Address `up`, `api` and `ingest` listen on.',
  TAPWATCH_PORT: 'Port `up`, `api` and `ingest` listen on.',
  TAPWATCH_DATA_DIR: 'Where `up` keeps the embedded ClickHouse data.',
  TAPWATCH_TOKEN:
    'The admin token of a service (then no local tokens are created); the token a tap or the CLI sends. Visible to same-user processes in `/proc`: prefer TAPWATCH_TOKEN_FILE.',
  TAPWATCH_TOKEN_FILE: 'A file holding the token, read at start, instead of TAPWATCH_TOKEN in the environment.',
  TAPWATCH_CREDENTIALS_DIR:
    'Where the local `admin.token` and `ingest.token` are created (0600) when no token is configured; taps on loopback send the ingest one, the CLI the admin one.',
  TAPWATCH_ALLOWED_HOSTS:
    'Host names the API answers besides loopback names and IP addresses (comma-separated; `*`: any). Other `Host` headers get 421 (DNS rebinding).',
  TAPWATCH_ALLOWED_ORIGINS:
    "Browser origins allowed besides the API's own (comma-separated, e.g. `https://dash.example`; `*`: any). Requests from other pages get 403.",
  TAPWATCH_SINK: 'Default sink of `tapwatch tap` (`http://host:port` or `kafka://host:port[,…]`).',
  TAPWATCH_URL: 'The API that `tapwatch sql`, `alerts` and `status` talk to (their --url).',
  TAPWATCH_AGENT: 'Default agent id of `tapwatch tap`.',
  TAPWATCH_CAPTURE: 'Default capture level of `tapwatch tap`: metadata, redacted or full.',
  TAPWATCH_SPOOL_DIR:
    'Where taps keep events their sink cannot take yet (default `$XDG_STATE_HOME/tapwatch/spool`, else `~/.local/state/tapwatch/spool`); a later tap of the same sink delivers what a dead one left.',
  TAPWATCH_TAP_OBSERVER:
    "Where the stdio tap inspects traffic: `worker` (a thread of its own, never delaying the relay) or `inline` (the relay's thread; for comparison).",
  TAPWATCH_SPOOL_MAX_BYTES:
    'Most bytes one tap keeps in its spool; past it the oldest events are dropped and reported as a delivery_gap event. 0: no spool (memory only).',
  TAPWATCH_LOG_LEVEL: 'debug, info, warn, error or silent (read by every command at start; a library user calls `setLogLevel`).',
  KAFKA_BROKERS: 'Kafka bootstrap brokers (`host:port,…`); unset means the in-process bus.',
  KAFKA_CLIENT_ID: 'kafkajs client id.',
  TAPWATCH_EVENTS_TOPIC: 'Topic taps write events to.',
  TAPWATCH_ALERTS_TOPIC: 'Topic the analyzer writes alerts to.',
  TAPWATCH_DLQ_TOPIC:
    'Dead-letter topic of the analyzer: records of the events topic that are not valid events (not JSON, wrong shape, larger than TAPWATCH_MAX_BODY_BYTES), with the reason and source topic/partition/offset in headers.',
  TAPWATCH_CONSUMER_GROUP: 'Consumer group of the analyzers.',
  TAPWATCH_TOPIC_PARTITIONS: 'Partitions of the topics when tapwatch creates them.',
  CLICKHOUSE_URL: 'ClickHouse server URL; unset means the embedded engine (chDB) under TAPWATCH_DATA_DIR.',
  CLICKHOUSE_USER: 'ClickHouse user for writes.',
  CLICKHOUSE_PASSWORD: 'Password of CLICKHOUSE_USER.',
  CLICKHOUSE_DATABASE: 'Database holding the tapwatch tables.',
  CLICKHOUSE_READONLY_USER: 'ClickHouse user (readonly profile) for /v1/sql; falls back to CLICKHOUSE_USER with readonly=1.',
  CLICKHOUSE_READONLY_PASSWORD: 'Password of CLICKHOUSE_READONLY_USER.',
  TAPWATCH_BATCH_SIZE: 'Most events the in-process bus hands the analyzer at once (with Kafka, a batch is what one fetch returns).',
  TAPWATCH_MAX_BODY_BYTES: 'Largest body the ingest endpoint accepts.',
  TAPWATCH_REQUEST_TIMEOUT_S:
    'Longest a client may take to send a whole request, headers and body; past it the HTTP server answers 408 and closes the connection.',
  TAPWATCH_INGEST_MAX_INFLIGHT:
    'Most ingest bodies read at once (each up to TAPWATCH_MAX_BODY_BYTES in memory); one more gets 503 `TAPWATCH_INGEST_BUSY`, which taps retry.',
  TAPWATCH_SQL_MAX_ROWS: "Most rows /v1/sql returns (embedded engine; with a server, the read-only user's profile sets it).",
  TAPWATCH_SQL_TIMEOUT_S: "Longest a /v1/sql query may run (embedded engine; with a server, the read-only user's profile sets it).",
  TAPWATCH_RETENTION_CONTENT_DAYS: 'Days the arguments and result previews of calls are kept (a column TTL; the call itself stays); 0: for ever.',
  TAPWATCH_RETENTION_CALLS_DAYS: 'Days calls, sessions, server requests and gaps are kept (a table TTL); 0: for ever.',
  TAPWATCH_RETENTION_HISTORY_DAYS:
    'Days alerts and their state, dead letters, silences, the tool definition history and the record of purges are kept; 0: for ever.',
  TAPWATCH_WS_MAX_CLIENTS: 'Most open subscribers of the alert stream (WebSocket); one more is closed at once with code 1013 and a reason.',
  TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN:
    "Most open alert-stream subscribers of one token; one more is closed with 1013. Admin tokens' subscribers count only against this, so other tokens filling TAPWATCH_WS_MAX_CLIENTS never lock the operator out.",
  TAPWATCH_TOKENS_FILE: 'Where API tokens with roles are kept, hashed (`tapwatch token`); default `tokens.json` in TAPWATCH_DATA_DIR.',
  TAPWATCH_OUTLIER_MIN_SAMPLES: 'Results seen per (server, tool) before the size outlier detector judges.',
  TAPWATCH_OUTLIER_THRESHOLD: 'Robust z-score (median/MAD of log sizes) above which a result is an outlier.',
  TAPWATCH_RULES: 'Comma-separated paths of rules files (YAML or JSON) loaded after the built-in rules; a rule with a built-in id replaces it.',
  TAPWATCH_BASELINE_REFRESH_S: 'How often an analyzer reloads the baselines shared through ClickHouse (what other instances learned); 0: only at start.',
  TAPWATCH_WEBHOOKS:
    "Webhooks for alerts: comma list of URLs (`slack+https://…` for Slack's shape), a JSON array of {url, format, secret}, or the path of a JSON file holding it.",
  TAPWATCH_WEBHOOK_SECRET: 'HMAC-SHA256 key of the `X-Tapwatch-Signature: sha256=<hex>` header on every webhook POST.',
  TAPWATCH_WEBHOOK_MAX_ATTEMPTS: 'Attempts per webhook delivery before it is written to `webhook_deadletters`.',
  TAPWATCH_WEBHOOK_BACKOFF_MS: 'First webhook retry delay; each next one doubles (±20% jitter, at most 5 minutes).',
});

/** Raised when the environment holds a bad setting; names the variable. */
export class ConfigError extends TapwatchError {
  constructor(message: string) {
    super('TAPWATCH_BAD_CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** Parses settings from `env` (default `process.env`) with `overrides` (from flags) on top. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<keyof z.infer<typeof ConfigSchema>, string | number | undefined>> = {},
): Config {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const o = (overrides as Record<string, unknown>)[key];
    input[key] = o !== undefined ? String(o) : env[key];
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`bad setting: ${issues}`);
  }
  const config = parsed.data;
  // A token in a file stays out of the environment (which same-user processes can read in /proc).
  if (config.TAPWATCH_TOKEN === undefined && config.TAPWATCH_TOKEN_FILE !== undefined) config.TAPWATCH_TOKEN = readTokenFile(config.TAPWATCH_TOKEN_FILE);
  return Object.freeze(config);
}

function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new TapwatchError('TAPWATCH_BAD_TOKEN_FILE', `cannot read TAPWATCH_TOKEN_FILE ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text === '' || /\s/.test(text)) throw new TapwatchError('TAPWATCH_BAD_TOKEN_FILE', `TAPWATCH_TOKEN_FILE ${path} holds no token (expected one line)`);
  return text;
}
