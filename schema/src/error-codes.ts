/**
 * Every error code tapwatch raises, in one table: the HTTP status when it
 * reaches the API, whether retrying can help, and what to do about it. The
 * README's "Error codes" table is checked against this one (schema's unit
 * tests), and `TapwatchError` accepts no code that is not here.
 *
 * `retriable` is the default; an error may say otherwise where it is raised
 * (a delivery the endpoint refused is not worth retrying, one it timed out is).
 */
export interface ErrorSpec {
  httpStatus: number;
  retriable: boolean;
  /** What to do, for the README and for people reading a log line. */
  remedy: string;
}

export const ERROR_CODES = Object.freeze({
  // Settings and the command line
  TAPWATCH_BAD_CONFIG: { httpStatus: 500, retriable: false, remedy: 'A setting has a bad value: fix the variable the message names (see Settings).' },
  TAPWATCH_USAGE: { httpStatus: 400, retriable: false, remedy: 'A command was called wrongly: see `tapwatch <command> --help`.' },
  TAPWATCH_UNKNOWN_COMMAND: { httpStatus: 400, retriable: false, remedy: 'No such command or service: see `tapwatch --help`.' },
  TAPWATCH_CLI_FAILED: { httpStatus: 500, retriable: false, remedy: 'A client command failed: the message says why (often: is the API at --url running?).' },
  TAPWATCH_TOKEN_REQUIRED: {
    httpStatus: 500,
    retriable: false,
    remedy: 'Listening beyond loopback needs a token: set TAPWATCH_TOKEN or create one with `tapwatch token create`.',
  },
  TAPWATCH_KAFKA_REQUIRED: { httpStatus: 500, retriable: false, remedy: 'This service runs on Kafka: set KAFKA_BROKERS, or run `tapwatch up`.' },
  TAPWATCH_BAD_TOKENS_FILE: {
    httpStatus: 500,
    retriable: false,
    remedy: 'The tokens file cannot be read or is not one tapwatch wrote: fix or remove it (TAPWATCH_TOKENS_FILE).',
  },
  TAPWATCH_BAD_TOKEN_NAME: { httpStatus: 400, retriable: false, remedy: 'Token names are 1–64 letters, digits, or _ . @ -.' },
  TAPWATCH_TOKEN_EXISTS: { httpStatus: 409, retriable: false, remedy: 'A token of that name exists: revoke it first or pick another name.' },
  TAPWATCH_UNSAFE_CREDENTIALS: {
    httpStatus: 500,
    retriable: false,
    remedy: 'A local token file (TAPWATCH_CREDENTIALS_DIR) is readable by others or not one tapwatch wrote: remove it and restart tapwatch.',
  },
  TAPWATCH_BAD_TOKEN_FILE: {
    httpStatus: 500,
    retriable: false,
    remedy: 'TAPWATCH_TOKEN_FILE names a file that cannot be read or holds no token: fix the path or the file.',
  },
  // Taps and sinks
  TAPWATCH_BAD_SINK_URL: { httpStatus: 400, retriable: false, remedy: 'Use --sink http://host:port or kafka://host:port[,host:port…] (TAPWATCH_SINK).' },
  TAPWATCH_DELIVERY_FAILED: {
    httpStatus: 503,
    retriable: true,
    remedy: 'The sink did not take a batch: check that it is reachable; taps retry and spool meanwhile.',
  },
  // Bus
  TAPWATCH_BACKPRESSURE: {
    httpStatus: 503,
    retriable: true,
    remedy: 'The analyzer is behind: taps retry; if it lasts, give the analyzer more CPU or run more of them on Kafka.',
  },
  TAPWATCH_SHUTTING_DOWN: { httpStatus: 503, retriable: true, remedy: 'The service is stopping: taps retry against the next one.' },
  TAPWATCH_DISK_FULL: {
    httpStatus: 503,
    retriable: true,
    remedy: 'The data directory is full: free space (or move TAPWATCH_DATA_DIR); taps keep events in their spools meanwhile.',
  },
  TAPWATCH_BUS_UNAVAILABLE: { httpStatus: 503, retriable: true, remedy: 'Events could not be queued (Kafka down?): taps retry; check KAFKA_BROKERS.' },
  TAPWATCH_BATCH_ABANDONED: {
    httpStatus: 503,
    retriable: false,
    remedy: "None: the consumer lost the batch to a rebalance or shutdown, and its partition's next owner stores it.",
  },
  // Storage and SQL
  TAPWATCH_STORE_UNAVAILABLE: {
    httpStatus: 503,
    retriable: true,
    remedy: 'ClickHouse failed or cannot be reached: check CLICKHOUSE_URL, or that no other process holds the embedded data directory.',
  },
  TAPWATCH_NO_EMBEDDED_ENGINE: {
    httpStatus: 500,
    retriable: false,
    remedy: 'The embedded engine is not installed: `npm install chdb`, or set CLICKHOUSE_URL.',
  },
  TAPWATCH_SQL_NOT_READ_ONLY: { httpStatus: 403, retriable: false, remedy: 'Only read-only queries run: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE.' },
  TAPWATCH_SQL_FORBIDDEN: { httpStatus: 403, retriable: false, remedy: "The query reaches outside tapwatch's tables and views: see the list in the message." },
  TAPWATCH_SQL_BAD_QUERY: {
    httpStatus: 400,
    retriable: false,
    remedy: "The query is not valid SQL or names something unknown: ClickHouse's message says what.",
  },
  TAPWATCH_SQL_LIMIT: { httpStatus: 422, retriable: false, remedy: 'The query hit a limit (time, rows, bytes, memory): add a LIMIT or narrow the time range.' },
  TAPWATCH_SQL_MULTI_STATEMENT: {
    httpStatus: 400,
    retriable: false,
    remedy: 'The body holds more than one statement: send one SELECT per request (a trailing ";" is fine).',
  },
  TAPWATCH_SQL_BUSY: {
    httpStatus: 429,
    retriable: true,
    remedy: 'This token has a query running and others waiting: wait for their answers before sending more.',
  },
  TAPWATCH_SQL_BAD_REQUEST: { httpStatus: 400, retriable: false, remedy: 'Send a JSON body {"sql": "SELECT …", "params": {…}}.' },
  // Rules
  TAPWATCH_RULES_INVALID: {
    httpStatus: 400,
    retriable: false,
    remedy: 'A rules file is not a valid rules document: fix each problem listed (file, rule, field).',
  },
  TAPWATCH_RULES_UNREADABLE: {
    httpStatus: 500,
    retriable: false,
    remedy: 'A rules file cannot be read: check the path in TAPWATCH_RULES and its permissions.',
  },
  // Client configs (wrap)
  TAPWATCH_WRAP_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'The client config does not exist or cannot be read: pass its path or --client.' },
  TAPWATCH_WRAP_BAD_JSON: { httpStatus: 400, retriable: false, remedy: 'The client config is not JSON (or JSONC): fix the line and column named.' },
  TAPWATCH_WRAP_UNKNOWN_SHAPE: { httpStatus: 400, retriable: false, remedy: 'No mcpServers or servers object, or not the --format asked for.' },
  TAPWATCH_WRAP_NO_STATE: {
    httpStatus: 404,
    retriable: false,
    remedy: 'unwrap found no <config>.tapwatch.json beside the config: it was not wrapped by tapwatch.',
  },
  TAPWATCH_WRAP_BAD_STATE: { httpStatus: 400, retriable: false, remedy: 'The .tapwatch.json state file is not one tapwatch wrote: restore it or the backup.' },
  TAPWATCH_WRAP_WRITE_FAILED: {
    httpStatus: 500,
    retriable: false,
    remedy: 'The backup, state or config could not be written: check permissions and space; the config is unchanged.',
  },
  // API
  TAPWATCH_UNAUTHORIZED: {
    httpStatus: 401,
    retriable: false,
    remedy: 'Send Authorization: Bearer <token> (TAPWATCH_TOKEN or one from `tapwatch token create`).',
  },
  TAPWATCH_FORBIDDEN: { httpStatus: 403, retriable: false, remedy: "This token's role does not allow the route: use a token of the role it needs." },
  TAPWATCH_INGEST_NOT_JSON: { httpStatus: 400, retriable: false, remedy: 'Send events as JSON.' },
  TAPWATCH_INGEST_BAD_EVENT: { httpStatus: 422, retriable: false, remedy: 'Send tapwatch events (schema version 1): the message names the index and field.' },
  TAPWATCH_INGEST_BUSY: {
    httpStatus: 503,
    retriable: true,
    remedy: 'Too many ingest bodies are being read at once: taps retry; if it lasts, raise TAPWATCH_INGEST_MAX_INFLIGHT.',
  },
  TAPWATCH_BODY_TOO_LARGE: { httpStatus: 413, retriable: false, remedy: 'Send smaller batches, or raise TAPWATCH_MAX_BODY_BYTES.' },
  TAPWATCH_BAD_REQUEST: { httpStatus: 400, retriable: false, remedy: 'The request could not be read: check its body and headers.' },
  TAPWATCH_FOREIGN_HOST: {
    httpStatus: 421,
    retriable: false,
    remedy: 'The Host header names another site (DNS rebinding?): use a loopback address, or list the name in TAPWATCH_ALLOWED_HOSTS.',
  },
  TAPWATCH_FOREIGN_ORIGIN: {
    httpStatus: 403,
    retriable: false,
    remedy: "The request came from another site's page: list its origin in TAPWATCH_ALLOWED_ORIGINS to allow it.",
  },
  TAPWATCH_UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, retriable: false, remedy: 'Send the body with Content-Type: application/json.' },
  TAPWATCH_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'No such route: see /v1/openapi.json.' },
  TAPWATCH_BAD_PARAMETER: { httpStatus: 400, retriable: false, remedy: 'A query parameter is not valid: see /v1/openapi.json.' },
  TAPWATCH_BAD_BODY: { httpStatus: 422, retriable: false, remedy: 'The JSON body does not have the expected shape: see /v1/openapi.json.' },
  TAPWATCH_BAD_CURSOR: { httpStatus: 400, retriable: false, remedy: 'The cursor is not one this API returned: start again without it.' },
  TAPWATCH_ALERT_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'No alert has that id.' },
  TAPWATCH_SILENCE_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'No silence has that id (it may be deleted already).' },
  TAPWATCH_SESSION_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'Nothing is stored for that session id.' },
  TAPWATCH_TOOL_NOT_FOUND: { httpStatus: 404, retriable: false, remedy: 'No definition is stored for that server and tool.' },
  TAPWATCH_INTERNAL: { httpStatus: 500, retriable: false, remedy: "A bug: the service's log has the details; please report it." },
  // Alert stream
  TAPWATCH_STREAM_BAD_FILTER: {
    httpStatus: 400,
    retriable: false,
    remedy: 'A stream filter is not valid: severity is low|medium|high|critical; server, tool, agent, detector take names or globs.',
  },
  TAPWATCH_STREAM_BAD_MESSAGE: { httpStatus: 400, retriable: false, remedy: 'Send {"type": "subscribe", …} or {"type": "ping"} as JSON text.' },
  TAPWATCH_STREAM_NO_HISTORY: { httpStatus: 400, retriable: false, remedy: 'This server keeps no alert history: connect without since=.' },
  TAPWATCH_STREAM_UNKNOWN_SINCE: { httpStatus: 400, retriable: false, remedy: 'since= takes a stored alert id or an ISO time.' },
  TAPWATCH_STREAM_REFUSED: {
    httpStatus: 400,
    retriable: false,
    remedy: 'The API refused the stream (token, role or too many clients): its message says which.',
  },
  TAPWATCH_STREAM_ERROR: { httpStatus: 500, retriable: false, remedy: 'The stream failed on the server: its log has the details.' },
} satisfies Record<string, ErrorSpec>);

export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is one of tapwatch's codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}
