/**
 * Output of `/v1/sql` and `tapwatch sql`: CSV (RFC 4180, header row) and an
 * aligned text table. Pure functions over the query's columns and rows.
 */
import { printable } from '@tapwatch/schema';

export interface Columns {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
}

/** One cell as text: strings as they are, arrays/objects/tuples as JSON, null as empty. */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV with a header row of column names; CRLF line ends as RFC 4180 says. */
export function toCsv(result: Columns): string {
  const names = result.columns.map((c) => c.name);
  const lines = [names.map(csvField).join(',')];
  for (const row of result.rows) lines.push(names.map((n) => csvField(cellText(row[n]))).join(','));
  return lines.join('\r\n') + '\r\n';
}

const NUMERIC = /^(Nullable\()?(LowCardinality\()?(U?Int|Float|Decimal)/;

/** Characters a cell may show before it is cut with `…` (tables are for reading, --json/--csv for everything). */
const MAX_CELL = 80;

/**
 * An aligned table for a terminal: header, rule, rows; numbers right-aligned,
 * control characters shown escaped, long cells cut.
 */
export function toTable(result: Columns): string {
  const names = result.columns.map((c) => c.name);
  if (names.length === 0) return '(no columns)\n';
  const heads = names.map(printable);
  const numeric = result.columns.map((c) => NUMERIC.test(c.type));
  const cells = result.rows.map((row) =>
    names.map((n) => {
      const t = printable(cellText(row[n]));
      return t.length > MAX_CELL ? `${t.slice(0, MAX_CELL - 1)}…` : t;
    }),
  );
  const widths = heads.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(heads), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  out.push(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
  return out.join('\n') + '\n';
}
