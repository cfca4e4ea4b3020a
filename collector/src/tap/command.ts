/**
 * `tapwatch tap [--name SERVER] [--agent ID] [--session ID] [--sink URL] [--capture LEVEL] -- CMD ARGS…`
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CaptureLevelSchema, loadConfig, log, setLogLevel } from '@tapwatch/schema';
import { createSink } from '../sinks/index.js';
import { scrubSecrets } from './environment.js';
import { runStdioTap } from './stdio.js';

export const TAP_HELP = `Usage: tapwatch tap [options] -- COMMAND [ARGS…]

Runs an MCP server over stdio behind the tap: relays the client's and the
server's bytes unchanged and reports every tool call to tapwatch.

Options:
  --name SERVER    server name on events (default: the server's serverInfo.name)
  --agent ID       agent id (default: $TAPWATCH_AGENT, else host:parent-pid:client-name)
  --session ID     session id (default: a new UUID)
  --sink URL       http://host:port (a running tapwatch) or kafka://host:port[,host:port]
                   (default: $TAPWATCH_SINK, else http://127.0.0.1:8787)
  --capture LEVEL  how much of arguments and results events carry:
                     metadata  names, sizes, hashes, findings and digests only
                     redacted  also arguments and a 4 KB result preview, secrets
                               masked
                     full      arguments and a 16 KB preview as sent, unmasked
                   (default: $TAPWATCH_CAPTURE, else redacted)
                   Content checks (secrets, sensitive paths, injection) run at
                   every level.
  -h, --help       show this help

The tap sends $TAPWATCH_TOKEN (or the token in $TAPWATCH_TOKEN_FILE) to an
http sink; without one, a sink on loopback gets the local ingest token that
\`tapwatch up\` created. The server gets no TAPWATCH_* variable, and the
token's value is wiped from the tap's own environment once read.
Example (Claude Desktop config "command"/"args"):
  tapwatch tap --name files -- npx -y @modelcontextprotocol/server-filesystem /home/me/docs
`;

/** Runs the tap command; resolves with the process exit code. */
export async function tapCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        name: { type: 'string' },
        agent: { type: 'string' },
        session: { type: 'string' },
        sink: { type: 'string' },
        capture: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`tapwatch tap: ${(err as Error).message}\n\n${TAP_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(TAP_HELP);
    return 0;
  }
  const config = loadConfig();
  setLogLevel(config.TAPWATCH_LOG_LEVEL);
  const capture = CaptureLevelSchema.safeParse(values.capture ?? config.TAPWATCH_CAPTURE);
  if (!capture.success) {
    process.stderr.write(`tapwatch tap: --capture must be one of ${CaptureLevelSchema.options.join(', ')} (got '${values.capture ?? ''}')\n\n${TAP_HELP}`);
    return 2;
  }
  const [command, ...args] = positionals;
  if (!command) {
    process.stderr.write(`tapwatch tap: no server command given (put it after --)\n\n${TAP_HELP}`);
    return 2;
  }
  const sinkUrl = values.sink ?? config.TAPWATCH_SINK ?? 'http://127.0.0.1:8787';
  const sink = await createSink(sinkUrl, {
    token: config.TAPWATCH_TOKEN,
    credentialsDir: config.TAPWATCH_CREDENTIALS_DIR,
    eventsTopic: config.TAPWATCH_EVENTS_TOPIC,
    spool: { dir: config.TAPWATCH_SPOOL_DIR, maxBytes: config.TAPWATCH_SPOOL_MAX_BYTES },
  });
  // Settings are read: the secrets among them leave this process's environment (environment.ts).
  const scrub = scrubSecrets();
  if (scrub.failed) {
    log.warn('the wrapped server can read these settings in /proc of the tap; keep the token in TAPWATCH_TOKEN_FILE instead', {
      settings: scrub.scrubbed.join(','),
      reason: scrub.failed,
    });
  }
  const result = await runStdioTap({
    command,
    args,
    session: values.session ?? randomUUID(),
    serverName: values.name,
    agent: values.agent ?? config.TAPWATCH_AGENT,
    capture: capture.data,
    observer: config.TAPWATCH_TAP_OBSERVER,
    emit: (e) => sink.send(e),
  });
  const stats = await sink.close(5_000);
  if (stats.dropped > 0) log.warn('tap finished with undelivered events', { dropped: stats.dropped, sent: stats.sent });
  return result.exitCode;
}
