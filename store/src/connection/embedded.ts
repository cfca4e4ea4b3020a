/** Loads the embedded ClickHouse engine (chDB) only when no server is configured: the only importer of chdb. */
import { TapwatchError } from '@tapwatch/schema';
import { StoreErrorCode } from '../errors.js';

export async function loadChdb(): Promise<typeof import('chdb/connection')> {
  try {
    return await import('chdb/connection');
  } catch (err) {
    throw new TapwatchError(
      StoreErrorCode.NO_EMBEDDED_ENGINE,
      'the embedded ClickHouse engine (npm package chdb) is not installed: run `npm install chdb`, or set CLICKHOUSE_URL to use a ClickHouse server',
      { cause: err },
    );
  }
}
