/**
 * Errors of `tapwatch wrap` / `unwrap`. Every one leaves the config file as it
 * was; the message names the file and what to do.
 *
 * | code | when |
 * | --- | --- |
 * | TAPWATCH_WRAP_NOT_FOUND | the config file does not exist or cannot be read |
 * | TAPWATCH_WRAP_BAD_JSON | the file is not JSON (or JSONC) |
 * | TAPWATCH_WRAP_UNKNOWN_SHAPE | no `mcpServers` / `servers` object, or not the format asked for |
 * | TAPWATCH_WRAP_NO_STATE | `unwrap` found no `<config>.tapwatch.json` next to the file |
 * | TAPWATCH_WRAP_BAD_STATE | that state file is not one tapwatch wrote |
 * | TAPWATCH_WRAP_WRITE_FAILED | the backup, state or config could not be written |
 */
import { TapwatchError } from '@tapwatch/schema';

export type WrapErrorCode =
  | 'TAPWATCH_WRAP_NOT_FOUND'
  | 'TAPWATCH_WRAP_BAD_JSON'
  | 'TAPWATCH_WRAP_UNKNOWN_SHAPE'
  | 'TAPWATCH_WRAP_NO_STATE'
  | 'TAPWATCH_WRAP_BAD_STATE'
  | 'TAPWATCH_WRAP_WRITE_FAILED';

export class WrapError extends TapwatchError {
  constructor(code: WrapErrorCode, message: string, cause?: unknown) {
    super(code, message, cause !== undefined ? { cause } : {});
    this.name = 'WrapError';
  }
}
