/**
 * The one retrier: runs `fn` until it resolves, `bail` says an error is final,
 * or the attempts run out. Delays grow exponentially with ±`jitter` unless a
 * `delayMs(attempt)` function gives them.
 */
export interface RetryOptions {
  /** Most attempts in all (default: no limit). */
  attempts?: number;
  /** First delay (default 200 ms); each next one is `factor` (default 2) times longer, at most `maxDelayMs`. */
  initialDelayMs?: number;
  factor?: number;
  maxDelayMs?: number;
  /** Spread of each delay, as a fraction (default 0: none). */
  jitter?: number;
  /** The delay before attempt `attempt + 1`, instead of the exponential one. */
  delayMs?: (attempt: number) => number;
  /** True when an error must not be retried: it is thrown at once. */
  bail?: (err: unknown) => boolean;
  /** Called before each wait, with the error and the attempt that failed (1-based). */
  onRetry?: (err: unknown, attempt: number) => void | Promise<void>;
  /** Waits (default: a timer; tests and heartbeating callers pass their own). */
  sleep?: (ms: number) => Promise<void>;
}

const timer = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The exponential delay before attempt `attempt + 1` (jitter applied). */
export function backoffDelay(attempt: number, options: Pick<RetryOptions, 'initialDelayMs' | 'factor' | 'maxDelayMs' | 'jitter'> = {}): number {
  const base = Math.min((options.initialDelayMs ?? 200) * (options.factor ?? 2) ** (attempt - 1), options.maxDelayMs ?? Number.POSITIVE_INFINITY);
  const jitter = options.jitter ?? 0;
  return jitter > 0 ? base * (1 - jitter + Math.random() * 2 * jitter) : base;
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? Number.POSITIVE_INFINITY;
  const sleep = options.sleep ?? timer;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= attempts || options.bail?.(err)) throw err;
      await options.onRetry?.(err, attempt);
      await sleep(options.delayMs ? options.delayMs(attempt) : backoffDelay(attempt, options));
    }
  }
}
