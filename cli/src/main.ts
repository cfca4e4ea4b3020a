/**
 * The `tapwatch` command. `tap`, `proxy` and `wrap` come from the collector;
 * every other command is loaded only when asked for, so a tap starts without
 * the server side and an install without it (`--omit=optional`) still taps.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyCommand, tapCommand, wrapCommand } from '@tapwatch/collector/commands';

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
  purge     erase everything stored about one agent, session or server (privacy requests)

Run \`tapwatch <command> --help\` for a command's options.
`;

type Command = (argv: string[]) => Promise<number>;

/** The server side and the API clients, each loaded on first use. */
const LAZY: Record<string, () => Promise<Command>> = {
  up: () => service('up'),
  analyzer: () => service('analyzer'),
  api: () => service('api'),
  ingest: () => service('ingest'),
  backtest: async () => (await import('./commands/backtest.js')).backtestCommand,
  sql: async () => (await import('./commands/sql.js')).sqlCommand,
  alerts: async () => (await import('./commands/alerts.js')).alertsCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  token: async () => (await import('./commands/token.js')).tokenCommand,
  purge: async () => (await import('./commands/purge.js')).purgeCommand,
};

async function service(name: 'up' | 'analyzer' | 'api' | 'ingest'): Promise<Command> {
  const { serviceCommand } = await import('./commands/serve.js');
  return (argv) => serviceCommand(name, argv);
}

/** This node and this tapwatch's bin, absolute, for the client configs `wrap` writes. */
function launcher(): string[] {
  // dist/main.js → ../bin/tapwatch.js
  return [process.execPath, resolve(fileURLToPath(new URL('../bin/tapwatch.js', import.meta.url)))];
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === 'tap') return tapCommand(rest);
  if (command === 'proxy') return proxyCommand(rest);
  if (command === 'wrap' || command === 'unwrap') return wrapCommand(command, rest, launcher());
  const load = LAZY[command];
  if (!load) {
    process.stderr.write(`tapwatch: unknown command '${command}'\n\n${HELP}`);
    return 2;
  }
  let run: Command;
  try {
    run = await load();
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write(
      `tapwatch ${command}: this install has the collector only (${(err as Error).message}).\n` +
        'Install tapwatch with its optional dependencies (the server side) to run this command.\n',
    );
    return 1;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A server command returns once it has shut down. A client library may still hold a
    // timer or socket (kafkajs reconnecting to a broker that came back): do not linger on it.
    if (LAZY[process.argv[2] ?? ''] !== undefined) setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`tapwatch: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
