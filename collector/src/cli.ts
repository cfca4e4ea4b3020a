/**
 * The `tapwatch` command. The collector handles `tap` itself; the server-side
 * commands live in @tapwatch/dashboard-api and are loaded only when asked for,
 * so a collector-only install stays small.
 */
import { proxyCommand } from './proxy/command.js';
import { tapCommand } from './tap/command.js';
import { wrapCommand } from './wrap/command.js';

const HELP = `Usage: tapwatch <command> [options]

Commands:
  tap       run an MCP server over stdio behind the tap
  proxy     put a remote MCP server (HTTP) behind the tap: a reverse proxy
  wrap      rewrite an MCP client's config (Claude Desktop, Cursor, VS Code) to run its servers behind the tap
  unwrap    undo wrap: restore the client's config
  up        everything in one process: ingest, analyzer, API (embedded ClickHouse, in-process bus)
  analyzer  consume events from Kafka, store them in ClickHouse, detect anomalies
  api       HTTP API: /healthz, /v1/ingest, /v1/sql, WebSocket /v1/alerts/stream
  ingest    HTTP ingest only, forwarding taps' events to Kafka
  backtest  replay stored history through the current detectors
  sql       run read-only SQL over the call history; prints a table
  alerts    print recent alerts, or follow them live (--follow)
  status    the pipeline's health: ingest, analyzer, lag, rate, storage, alerts
  token     create, list and revoke API tokens with roles (alerts, sql, ingest, admin)

Run \`tapwatch <command> --help\` for a command's options.
`;

const SERVER_COMMANDS = new Set(['up', 'analyzer', 'api', 'ingest', 'backtest', 'sql', 'alerts', 'status', 'token']);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === 'tap') return tapCommand(rest);
  if (command === 'proxy') return proxyCommand(rest);
  if (command === 'wrap' || command === 'unwrap') return wrapCommand(command, rest);
  if (SERVER_COMMANDS.has(command)) {
    let mod: { runCommand: (name: string, argv: string[]) => Promise<number> };
    try {
      mod = (await import('@tapwatch/dashboard-api/commands' as string)) as typeof mod;
    } catch (err) {
      process.stderr.write(
        `tapwatch ${command}: this install has the collector only (${(err as Error).message}).\n` +
          'Install the full tapwatch (the @tapwatch/dashboard-api package) to run the server side.\n',
      );
      return 1;
    }
    return mod.runCommand(command, rest);
  }
  process.stderr.write(`tapwatch: unknown command '${command}'\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A server command returns once it has shut down. A client library may still hold a
    // timer or socket (kafkajs reconnecting to a broker that came back): do not linger on it.
    if (SERVER_COMMANDS.has(process.argv[2] ?? '')) setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`tapwatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
