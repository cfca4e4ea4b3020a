/**
 * The base of every tapwatch error: a stable string code, whether retrying can
 * help, the HTTP status when it reaches the API, and the foreign error it wraps.
 * Each component keeps its own table of codes next to its code.
 */
export class TapwatchError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly options: { retriable?: boolean; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'TapwatchError';
  }
  get retriable(): boolean {
    return this.options.retriable ?? false;
  }
  get httpStatus(): number {
    return this.options.httpStatus ?? 500;
  }
}
