/**
 * Storage facts for `/healthz` and `tapwatch status`: rows and bytes on disk
 * per tapwatch table. Read with tapwatch's own fixed query (system.parts is
 * not open to user SQL).
 */
import type { Store } from '@tapwatch/analyzer';

export interface StorageSummary {
  rows: number;
  bytes: number;
  tables: Record<string, { rows: number; bytes: number }>;
}

export async function storageSummary(store: Store): Promise<StorageSummary> {
  const rows = await store.selectRows(
    `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
     WHERE database = '{db}' AND active GROUP BY table ORDER BY table`,
  );
  const summary: StorageSummary = { rows: 0, bytes: 0, tables: {} };
  for (const r of rows) {
    const t = { rows: Number(r.rows), bytes: Number(r.bytes) };
    summary.tables[String(r.table)] = t;
    summary.rows += t.rows;
    summary.bytes += t.bytes;
  }
  return summary;
}
