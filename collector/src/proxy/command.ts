/**
 * `tapwatch proxy --upstream URL [--listen HOST:PORT] [--name SERVER] [--agent ID] [--session ID] [--sink URL] [--capture LEVEL] [--observer MODE] [--idle-timeout S]`
 */
import { parseArgs } from 'node:util';
import { CaptureLevelSchema, loadConfig, log, setLogLevel } from '@tapwatch/schema';
import { createSink } from '../sinks/index.js';
import { startHttpProxy } from './http-proxy.js';

export const PROXY_HELP = `Usage: tapwatch proxy --upstream URL [options]

Runs a reverse proxy in front of a remote MCP server (Streamable HTTP, the
legacy HTTP+SSE transport, and the stateless 2026-07-28 revision): relays
requests and responses unchanged and reports every tool call to tapwatch.

Point the client at the upstream URL with its origin replaced by the proxy's
(paths pass through): --upstream https://mcp.example.com/mcp and the default
--listen make the client's URL http://127.0.0.1:8788/mcp.

Options:
  --upstream URL      the MCP server, http(s)://host[:port]/path (required)
  --listen HOST:PORT  where the proxy listens (default 127.0.0.1:8788; port 0
                      picks a free one)
  --name SERVER       server name on events (default: the server's
                      serverInfo.name, else the upstream host and path)
  --agent ID          agent id (default: $TAPWATCH_AGENT, else
                      host:parent-pid:client-name)
  --session ID        session id of the first MCP session; later ones get
                      ID.2, ID.3, … (default: a new UUID per session)
  --sink URL          http://host:port (a running tapwatch) or
                      kafka://host:port[,host:port]
                      (default: $TAPWATCH_SINK, else http://127.0.0.1:8787)
  --capture LEVEL     metadata, redacted or full, as for \`tapwatch tap\`
                      (default: $TAPWATCH_CAPTURE, else redacted)
  --observer MODE     where messages are parsed and inspected: worker (a
                      thread of its own, never delaying the relay; default)
                      or inline (the relay's thread; for comparison)
  --idle-timeout S    end a session with nothing in flight after S seconds
                      without traffic (default 1800; clients such as
                      mcp-remote never send DELETE)
  -h, --help          show this help

Sessions: one tapwatch session per Mcp-Session-Id (or legacy SSE stream);
requests without a session (stateless servers, 2026-07-28) share one session
per client name and version for the life of the proxy.
Accept-Encoding is dropped on requests that accept text/event-stream, so
events are observed and flushed one by one; Host names the upstream; other
headers pass unchanged. On a loopback address the proxy answers 403 to a
Host that is not a loopback name (DNS rebinding: the upstream cannot check
a Host the proxy rewrote).
The proxy sends $TAPWATCH_TOKEN to an http sink when it is set. Ctrl-C ends
every open session and flushes the sink.
`;

/** `host:port`, `[v6]:port` or `:port`. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Runs the proxy command until SIGINT/SIGTERM; resolves with the process exit code. */
export async function proxyCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: {
        upstream: { type: 'string' },
        listen: { type: 'string' },
        name: { type: 'string' },
        agent: { type: 'string' },
        session: { type: 'string' },
        sink: { type: 'string' },
        capture: { type: 'string' },
        observer: { type: 'string' },
        'idle-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`tapwatch proxy: ${(err as Error).message}\n\n${PROXY_HELP}`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(PROXY_HELP);
    return 0;
  }
  const usage = (msg: string) => {
    process.stderr.write(`tapwatch proxy: ${msg}\n\n${PROXY_HELP}`);
    return 2;
  };
  if (!values.upstream) return usage('--upstream URL is required');
  let upstream: URL;
  try {
    upstream = new URL(values.upstream);
  } catch {
    return usage(`--upstream is not a URL (got '${values.upstream}')`);
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') return usage(`--upstream must be http:// or https:// (got '${values.upstream}')`);
  const listen = parseListen(values.listen ?? '127.0.0.1:8788');
  if (!listen) return usage(`--listen must be HOST:PORT (got '${values.listen ?? ''}')`);
  const config = loadConfig();
  setLogLevel(config.TAPWATCH_LOG_LEVEL);
  const capture = CaptureLevelSchema.safeParse(values.capture ?? config.TAPWATCH_CAPTURE);
  if (!capture.success) return usage(`--capture must be one of ${CaptureLevelSchema.options.join(', ')} (got '${values.capture ?? ''}')`);

  const observer = values.observer ?? 'worker';
  if (observer !== 'worker' && observer !== 'inline') return usage(`--observer must be worker or inline (got '${observer}')`);

  const idle = values['idle-timeout'] === undefined ? 1800 : Number(values['idle-timeout']);
  if (!Number.isFinite(idle) || idle <= 0) return usage(`--idle-timeout must be a positive number of seconds (got '${values['idle-timeout']}')`);

  const sinkUrl = values.sink ?? config.TAPWATCH_SINK ?? 'http://127.0.0.1:8787';
  const sink = await createSink(sinkUrl, {
    token: config.TAPWATCH_TOKEN,
    credentialsDir: config.TAPWATCH_CREDENTIALS_DIR,
    eventsTopic: config.TAPWATCH_EVENTS_TOPIC,
    spool: { dir: config.TAPWATCH_SPOOL_DIR, maxBytes: config.TAPWATCH_SPOOL_MAX_BYTES },
  });
  let proxy;
  try {
    proxy = await startHttpProxy({
      upstream: upstream.href,
      host: listen.host,
      port: listen.port,
      serverName: values.name,
      agent: values.agent ?? config.TAPWATCH_AGENT,
      session: values.session,
      capture: capture.data,
      observer,
      sessionIdleMs: idle * 1000,
      emit: (e) => sink.send(e),
    });
  } catch (err) {
    await sink.close(1_000);
    process.stderr.write(`tapwatch proxy: cannot listen on ${values.listen ?? '127.0.0.1:8788'}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`tapwatch proxy listening on ${proxy.url} → ${proxy.upstream}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await proxy.close();
  const sent = await sink.close(5_000);
  log.info('proxy stopped', { ...proxy.stats, eventsSent: sent.sent, eventsDropped: sent.dropped });
  if (sent.dropped > 0) log.warn('proxy finished with undelivered events', { dropped: sent.dropped, sent: sent.sent });
  return 0;
}
