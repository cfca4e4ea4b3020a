/**
 * What the commands for people (`tapwatch sql`, `alerts`, `status`, `token`)
 * share: `--url` and `--token` with their environment defaults, flag
 * parsing with positionals, calls to the API with errors that say what to
 * do, and whether to colour the output.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, TapwatchError, isLoopbackUrl, loadConfig, readLocalToken, setLogLevel } from '@tapwatch/schema';

export const DEFAULT_URL = 'http://127.0.0.1:8787';

export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CLIENT_HELP = `  --url URL      the tapwatch API (default $TAPWATCH_URL, else ${DEFAULT_URL})
  --token TOKEN  bearer token (default $TAPWATCH_TOKEN, $TAPWATCH_TOKEN_FILE, else
                 on loopback the local admin token of tapwatch up)
  -h, --help     show this help`;

export interface Target {
  url: string;
  token: string | undefined;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** An error the command prints as one line and exits 1 with. */
export class CliError extends TapwatchError {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(exitCode === 2 ? 'TAPWATCH_USAGE' : 'TAPWATCH_CLI_FAILED', message);
    this.name = 'CliError';
  }
}

/**
 * Parses flags and positionals; returns the exit code instead when the
 * command is done (0 after --help, 2 after a bad flag).
 */
export function parseCommand<const O extends Options>(
  command: string,
  argv: string[],
  options: O,
  help: string,
): { values: Record<string, unknown>; positionals: string[] } | number {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options }) as typeof parsed;
  } catch (err) {
    process.stderr.write(`tapwatch ${command}: ${(err as Error).message}\n\n${help}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return 0;
  }
  return parsed;
}

export function targetFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Target {
  const config = loadConfig(env);
  setLogLevel(config.TAPWATCH_LOG_LEVEL);
  const url = (typeof values.url === 'string' ? values.url : config.TAPWATCH_URL).replace(/\/+$/, '');
  // The local admin token (credentials.ts) is sent only to this machine's loopback.
  const token =
    typeof values.token === 'string'
      ? values.token
      : (config.TAPWATCH_TOKEN ??
        (isLoopbackUrl(url) ? readLocalToken('admin', { ...env, TAPWATCH_CREDENTIALS_DIR: config.TAPWATCH_CREDENTIALS_DIR }) : undefined));
  return { url, token };
}

export function authHeaders(target: Target): Record<string, string> {
  return target.token ? { authorization: `Bearer ${target.token}` } : {};
}

/** Calls the API; a refused connection becomes a CliError naming the URL and what to check. */
export async function request(target: Target, path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(`${target.url}${path}`, { ...init, headers: { ...authHeaders(target), ...(init.headers as Record<string, string> | undefined) } });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(
      `cannot reach tapwatch at ${target.url} (${cause?.code ?? cause?.message ?? (err as Error).message}): is \`tapwatch up\` running there? Set --url or TAPWATCH_URL`,
    );
  }
}

/** The error of a failed API answer, as one line: code and message. */
export async function apiFailure(res: Response): Promise<CliError> {
  const text = await res.text();
  let message = text.trim() || res.statusText;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = `${body.error.message} (${body.error.code ?? res.status})`;
  } catch {
    // Not JSON: keep the text.
  }
  if (res.status === 401) message += ' — pass --token or set TAPWATCH_TOKEN (or TAPWATCH_TOKEN_FILE)';
  return new CliError(message);
}

/**
 * The exit code of a command that failed with `err`: 2 for a usage or settings problem (a bad
 * flag, a bad environment variable, TAPWATCH_WEBHOOKS included), else 1 (or the CliError's own).
 */
export function exitCodeOf(err: TapwatchError): number {
  if (err instanceof CliError) return err.exitCode;
  return err instanceof ConfigError || err.code === 'TAPWATCH_BAD_CONFIG' || err.code === 'TAPWATCH_USAGE' ? 2 : 1;
}

/** Runs a command body, printing a TapwatchError as `tapwatch <command>: message`. */
export async function runCli(command: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof TapwatchError) {
      process.stderr.write(`tapwatch ${command}: ${err.message}\n`);
      return exitCodeOf(err);
    }
    throw err;
  }
}

/** Colour only for a terminal, never with NO_COLOR; FORCE_COLOR forces it. */
export function useColour(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function paint(on: boolean, code: string, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}
