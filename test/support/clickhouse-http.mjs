/**
 * A ClickHouse server for tests, as far as tapwatch's @clickhouse/client needs
 * one: ClickHouse's HTTP interface in front of the real engine (chDB, embedded
 * in this process). The front only carries requests; the engine runs all SQL.
 *
 * Why: no ClickHouse server can be installed here, yet the deployment shape
 * (several analyzers sharing one store through CLICKHOUSE_URL) and storage
 * outages need one. `stop()` closes the port (connections refused, in-flight
 * requests cut) while the engine and its data stay; `start()` listens again on
 * the same port.
 *
 * Protocol as the client speaks it: POST or GET on `/`, SQL in the `query`
 * URL parameter and/or the body (an INSERT's rows follow its query), `database`,
 * `query_id`, `default_format`, `param_<name>` (query parameters in the HTTP
 * text form), every other parameter a setting; answers carry X-ClickHouse-*
 * headers, errors are `Code: N. DB::Exception: …` with a non-200 status.
 * `GET /ping` answers `Ok.`.
 *
 * chDB sessions keep settings (and `readonly=1` cannot be undone), so each
 * distinct (database, settings) combination gets its own session, its settings
 * applied once when it opens: like a server applying them to each query.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Session } from 'chdb';

/** Parameters of the HTTP interface that are not settings. */
const NOT_SETTINGS = new Set([
  'query',
  'database',
  'query_id',
  'default_format',
  'session_id',
  'session_timeout',
  'session_check',
  'user',
  'password',
  'role',
  'compress',
  'decompress',
]);
/** Settings of the HTTP layer only; the engine would refuse them. */
const HTTP_ONLY = new Set([
  'wait_end_of_query',
  'send_progress_in_http_headers',
  'http_response_buffer_size',
  'http_headers_progress_interval_ms',
  'http_send_progress_interval_ms',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_response_compression_method',
  'http_native_compression_disable_checksumming_on_decompress',
  'cancel_http_readonly_queries_on_client_close',
]);

/** TSV-unescapes a parameter given as text (the client escapes top-level strings so). */
function unescapeParam(text) {
  if (text === '\\N') return null;
  // Arrays, tuples and maps are literals the engine parses itself.
  if (/^[[({]/.test(text)) return text;
  return text.replace(/\\(.)/gs, (_, c) => ({ t: '\t', n: '\n', r: '\r', 0: '\0', b: '\b', f: '\f' })[c] ?? c);
}

function exceptionCode(message) {
  const m = /Code:\s*(\d+)/.exec(message);
  return m ? m[1] : '1000';
}

/**
 * Starts the front on 127.0.0.1:`port` (0: any free port) over the engine's data
 * in `dataDir`. Resolves once it listens.
 */
export async function startClickHouseHttp({ port = 0, dataDir }) {
  const path = join(dataDir, 'clickhouse');
  mkdirSync(path, { recursive: true });
  const sessions = new Map();
  const stats = { requests: 0 };

  function sessionFor(database, settings) {
    const key = JSON.stringify([database ?? '', settings]);
    let s = sessions.get(key);
    if (!s) {
      const session = new Session(path);
      // Settings in the order given (e.g. final before readonly, which then locks them).
      for (const [k, v] of settings) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`Code: 115. DB::Exception: Unknown setting ${k}. (UNKNOWN_SETTING)`);
        session.query(`SET ${k} = '${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`, 'TabSeparated');
      }
      if (database) session.query(`USE ${database.replace(/[^A-Za-z0-9_]/g, '')}`, 'TabSeparated');
      s = { session };
      sessions.set(key, s);
    }
    return s.session;
  }

  async function readBody(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let body = Buffer.concat(chunks);
    if ((req.headers['content-encoding'] ?? '').includes('gzip')) body = gunzipSync(body);
    return body;
  }

  async function handle(req, res) {
    stats.requests++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/ping') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('Ok.\n');
      return;
    }
    const queryId = url.searchParams.get('query_id') || randomUUID();
    const settings = [];
    const params = {};
    for (const [k, v] of url.searchParams) {
      if (k.startsWith('param_')) params[k.slice(6)] = unescapeParam(v);
      else if (!NOT_SETTINGS.has(k) && !HTTP_ONLY.has(k)) settings.push([k, v]);
    }
    const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    const inUrl = url.searchParams.get('query');
    // An INSERT's query comes in the URL and its rows in the body; otherwise the body is the query.
    let sql = inUrl ? (body.length > 0 ? `${inUrl}\n${body.toString('utf8')}` : inUrl) : body.toString('utf8');
    const format = url.searchParams.get('default_format') ?? 'TabSeparated';
    const headers = {
      'x-clickhouse-query-id': queryId,
      'x-clickhouse-format': format,
      'x-clickhouse-timezone': 'UTC',
      'x-clickhouse-server-display-name': 'tapwatch-test-chdb',
    };
    try {
      if (sql.trim().length === 0) throw new Error('Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)');
      const session = sessionFor(url.searchParams.get('database'), settings);
      const result = Object.keys(params).length > 0 ? await session.queryBindAsync(sql, params, { format }) : await session.queryAsync(sql, { format });
      const bytes = Buffer.from(result.bytes());
      const summary = {
        read_rows: String(result.rowsRead ?? 0),
        read_bytes: String(result.bytesRead ?? 0),
        written_rows: '0',
        written_bytes: '0',
        total_rows_to_read: '0',
        result_rows: '0',
        result_bytes: String(bytes.length),
        elapsed_ns: String(Math.round((result.elapsed ?? 0) * 1e9)),
      };
      res.writeHead(200, { ...headers, 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-summary': JSON.stringify(summary) });
      res.end(bytes);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      res.writeHead(500, { ...headers, 'content-type': 'text/plain; charset=UTF-8', 'x-clickhouse-exception-code': exceptionCode(message) });
      res.end(message.includes('Code:') ? `${message}\n` : `Code: 1000. DB::Exception: ${message}. (UNKNOWN_EXCEPTION)\n`);
    }
  }

  const sockets = new Set();
  let server;
  let boundPort = port;

  async function listen() {
    // ClickHouse takes URIs up to 1 MiB (http_max_uri_size); query parameters travel in the URL.
    server = createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
      handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500).end(`Code: 1000. DB::Exception: ${err?.message ?? err}. (UNKNOWN_EXCEPTION)\n`);
      });
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(boundPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    boundPort = server.address().port;
  }

  async function close() {
    if (!server) return;
    const s = server;
    server = undefined;
    const closed = new Promise((resolve) => s.close(() => resolve()));
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    await closed;
  }

  await listen();
  return {
    get port() {
      return boundPort;
    },
    get url() {
      return `http://127.0.0.1:${boundPort}`;
    },
    get running() {
      return server !== undefined;
    },
    stats,
    /** Makes storage unavailable: the port refuses connections; data stays. */
    stop: close,
    /** Storage is back, on the same port. */
    start: async () => {
      if (!server) await listen();
    },
    /** Runs SQL directly on the engine (FORMAT JSON rows), e.g. to count what was stored. */
    async query(sql) {
      const s = sessionFor(undefined, [['final', '1']]);
      const r = await s.queryAsync(sql, { format: 'JSON' });
      return JSON.parse(Buffer.from(r.bytes()).toString('utf8')).data;
    },
    /** Stops listening and closes the engine's sessions. */
    async shutdown() {
      await close();
      for (const { session } of sessions.values()) {
        try {
          session.close();
        } catch {
          // already closed
        }
      }
      sessions.clear();
    },
  };
}
