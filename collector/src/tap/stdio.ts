/**
 * The stdio tap: spawns the real MCP server and sits between it and the client.
 *
 * Bytes are relayed first, untouched, with backpressure (`pipe`); a copy is
 * framed and observed afterwards. Whatever happens to observation or to the
 * sink, the relay goes on and the server's exit code comes back to the client.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { log, type CaptureLevel, type TapEvent } from '@tapwatch/schema';
import { childEnvironment } from './environment.js';
import { applyLeanHeap } from './lean-heap.js';
import { createObserver, type ObserverMode } from '../observe/session-observer.js';
import type { Direction } from '../observe/tracker.js';

export interface StdioTapOptions {
  command: string;
  args: string[];
  session: string;
  serverName?: string | undefined;
  agent?: string | undefined;
  /** How much argument and result content events carry (default `redacted`). */
  capture?: CaptureLevel | undefined;
  emit: (event: TapEvent) => void;
  /** `worker` (default): observation runs on a thread of its own, never delaying the relay; `inline`: on the relay's thread. */
  observer?: ObserverMode | undefined;
  /** Longest wait at exit for observation to report the last events (default 2 s). */
  observerTimeoutMs?: number;
  /** Defaults to the process's own streams. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  env?: NodeJS.ProcessEnv;
  /**
   * Keep this process's V8 heap small (`LEAN_HEAP_FLAGS` of lean-heap.ts). Default: when the
   * tap relays the process's own stdio, i.e. the process is the tap's.
   */
  leanHeap?: boolean;
}

export interface StdioTapResult {
  /** The exit code to give our own caller: the server's, or 128+signal. */
  exitCode: number;
  signal: NodeJS.Signals | null;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs the server behind the tap until it exits. */
export function runStdioTap(options: StdioTapOptions): Promise<StdioTapResult> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const leanHeap = options.leanHeap ?? options.stdin === undefined;
  if (leanHeap) applyLeanHeap();

  const observer = createObserver(
    options.observer ?? 'worker',
    {
      session: options.session,
      transport: 'stdio',
      serverName: options.serverName,
      fallbackServerName: commandName(options.command, options.args),
      agent: options.agent,
      hostname: hostname(),
      parentPid: process.ppid,
      target: [options.command, ...options.args].join(' '),
      capture: options.capture,
    },
    (event) => {
      try {
        options.emit(event);
      } catch (err) {
        log.warn('tap could not hand an event to its sink', { error: (err as Error).message });
      }
    },
    // The worker's start resets one of the flags (see lean-heap.ts).
    leanHeap ? { onOnline: applyLeanHeap } : {},
  );

  return new Promise<StdioTapResult>((resolve) => {
    const child = spawn(options.command, options.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Nothing of tapwatch's settings for the server being watched (environment.ts).
      env: childEnvironment(options.env ?? process.env),
    });

    const observe = (direction: Direction) => (chunk: Buffer) => observer.data(direction, chunk);

    // client → server
    stdin.pipe(child.stdin);
    stdin.on('data', observe('client'));
    child.stdin.on('error', (err) => {
      // EPIPE when the server exits while the client still writes: nothing to do but stop writing.
      log.debug('server stdin closed', { error: err.message });
    });

    // server → client
    child.stdout.pipe(stdout, { end: false });
    child.stdout.on('data', observe('server'));
    child.stderr.pipe(stderr, { end: false });

    const onSignal = (sig: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal);

    let spawnFailed = false;
    child.on('error', (err) => {
      spawnFailed = true;
      stderr.write(`tapwatch tap: cannot start ${options.command}: ${err.message}\n`);
    });

    child.on('close', (code, signal) => {
      for (const sig of FORWARDED_SIGNALS) process.off(sig, onSignal);
      stdin.unpipe(child.stdin);
      stdin.pause();
      const exitCode = spawnFailed ? 127 : (code ?? 128 + signalNumber(signal));
      void observer.end(code, signal, options.observerTimeoutMs ?? 2_000).then(({ inspection, skippedChunks, skippedBytes }) => {
        if (inspection.truncatedCalls > 0 || inspection.errors > 0) {
          // Only the first 1 MB of text per side of a call is inspected (INSPECTION_LIMITS.maxInspectedChars).
          log.info('tap content inspection left text out', { ...inspection });
        }
        if (skippedChunks > 0) log.warn('tap left traffic out of observation while its observer was behind', { skippedChunks, skippedBytes });
        resolve({ exitCode, signal });
      });
    });
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  if (!signal) return 0;
  return (osConstants.signals as Record<string, number>)[signal] ?? 0;
}

/** A readable server name from the command line, e.g. `npx -y @x/server-foo` → `server-foo`. */
export function commandName(command: string, args: string[]): string {
  const words = [command, ...args].filter((w) => !w.startsWith('-'));
  const launchers = new Set(['node', 'npx', 'uvx', 'uv', 'python', 'python3', 'deno', 'bun', 'docker', 'run', 'exec', 'pipx', 'tsx']);
  const meaningful = words.find((w) => !launchers.has(baseName(w)));
  return baseName(meaningful ?? command).replace(/\.(m?js|ts|py)$/, '') || 'unknown';
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}
