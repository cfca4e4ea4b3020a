/**
 * Structured logging: one JSON object a line on stderr (stdout may be the MCP
 * wire). Callers pass fields, never raw payloads, so secrets stay out of logs.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
/** `info` until a command sets the level from TAPWATCH_LOG_LEVEL (its config) with `setLogLevel`. */
let threshold = RANK.info;

/** Changes the level for the whole process. */
export function setLogLevel(level: LogLevel): void {
  threshold = RANK[level];
}

function write(level: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>): void {
  if (RANK[level] < threshold) return;
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  process.stderr.write(line + '\n');
}

export const log = Object.freeze({
  debug: (msg: string, fields?: Record<string, unknown>) => write('debug', msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write('info', msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write('warn', msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write('error', msg, fields),
  /** True when `debug` would print: guard costly field building on hot paths. */
  debugEnabled: () => RANK.debug >= threshold,
});
