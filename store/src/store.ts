/**
 * What the analyzer, the delivery stage and the API need from storage: one
 * repository per concept, the user-SQL path, the migrator. Opened once per
 * process by `openStore`; nothing outside this package sees a connection or
 * writes SQL of its own.
 */
import type { Connection, SqlReader } from './connection/connection.js';
import { openConnections, type ConnectionOptions } from './connection/clickhouse.js';
import { migrate } from './migrate.js';
import { applyRetention, type RetentionDays } from './retention.js';
import { PurgeRepository } from './repositories/purges.js';
import { AlertRepository } from './repositories/alerts.js';
import { BaselineRepository } from './repositories/baselines.js';
import { DeadLetterRepository } from './repositories/dead-letters.js';
import { EventRepository } from './repositories/events.js';
import { HistoryRepository } from './repositories/history.js';
import { SilenceRepository } from './repositories/silences.js';
import { StatsRepository } from './repositories/stats.js';
import { MAX_RESULT_BYTES, UserSql } from './user-sql.js';

export interface Store {
  /** Creates or migrates the schema (idempotent; several analyzers may race on it). */
  migrate(): Promise<void>;
  readonly events: EventRepository;
  readonly alerts: AlertRepository;
  readonly silences: SilenceRepository;
  readonly history: HistoryRepository;
  readonly stats: StatsRepository;
  readonly deadLetters: DeadLetterRepository;
  readonly baselines: BaselineRepository;
  /** Erasure of one agent's, session's or server's data, and its record. */
  readonly purges: PurgeRepository;
  /** User SQL under the database's read-only guard and limits. */
  readonly sql: UserSql;
  /** True when the database answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export type StoreOptions = Omit<ConnectionOptions, 'sqlMaxResultBytes'> & {
  /** Retention set on the tables at every `migrate` (retention.ts); none: the tables are left as they are. */
  retention?: RetentionDays | undefined;
};

/** Opens the store (a ClickHouse server with `url`, else the embedded engine under `dataDir`); throws a TapwatchError that says what to do when it cannot. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const { writer, reader } = await openConnections({ ...options, sqlMaxResultBytes: MAX_RESULT_BYTES });
  return storeOn(writer, reader, options.sqlMaxRows, options.retention);
}

/** The store over two connections (tests of pure logic may pass fakes). */
export function storeOn(writer: Connection, reader: SqlReader, sqlMaxRows: number, retention?: RetentionDays): Store {
  return {
    async migrate() {
      await migrate(writer);
      if (retention) await applyRetention(writer, retention);
    },
    events: new EventRepository(writer),
    alerts: new AlertRepository(writer),
    silences: new SilenceRepository(writer),
    history: new HistoryRepository(writer),
    stats: new StatsRepository(writer),
    deadLetters: new DeadLetterRepository(writer),
    baselines: new BaselineRepository(writer),
    purges: new PurgeRepository(writer),
    sql: new UserSql(reader, sqlMaxRows),
    async ping() {
      try {
        await writer.select('SELECT 1 AS ok');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([reader.close(), writer.close()]);
    },
  };
}
