/**
 * The base of every tapwatch error: a stable string code from the one table
 * (error-codes.ts), whether retrying can help, the HTTP status when it
 * reaches the API, and the foreign error it wraps. Status and retriable
 * default to the table's; a raise site may say otherwise.
 */
import { ERROR_CODES, type ErrorCode } from './error-codes.js';

export interface TapwatchErrorOptions {
  retriable?: boolean | undefined;
  httpStatus?: number | undefined;
  cause?: unknown;
}

export class TapwatchError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: TapwatchErrorOptions = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'TapwatchError';
  }
  get retriable(): boolean {
    return this.options.retriable ?? ERROR_CODES[this.code].retriable;
  }
  get httpStatus(): number {
    return this.options.httpStatus ?? ERROR_CODES[this.code].httpStatus;
  }
  /** What to do about it (the table's remedy). */
  get remedy(): string {
    return ERROR_CODES[this.code].remedy;
  }
}
