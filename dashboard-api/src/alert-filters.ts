/**
 * The filters an alert-stream subscriber chooses (query string or a
 * subscribe message), and whether an alert passes them.
 */
import { SEVERITY_RANK, SeveritySchema, TapwatchError, type Alert, type Severity } from '@tapwatch/schema';

/** Server-side filters of one subscriber; an empty list means "any". */
export interface AlertFilters {
  /** Minimum severity. */
  severity?: Severity | undefined;
  server: string[];
  tool: string[];
  agent: string[];
  detector: string[];
}

export const FILTER_FIELDS = ['server', 'tool', 'agent', 'detector'] as const;

export function emptyFilters(): AlertFilters {
  return { server: [], tool: [], agent: [], detector: [] };
}

/** Splits repeated and comma-separated values: `["a,b", "c"]` → `["a", "b", "c"]`. */
function values(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list
    .flatMap((x) => String(x).split(','))
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
}

function badFilter(message: string): TapwatchError {
  return new TapwatchError('TAPWATCH_STREAM_BAD_FILTER', message, { httpStatus: 400 });
}

/**
 * Reads filters from query parameters or a subscribe message's `filters`
 * object (`severity`, `server`, `tool`, `agent`, `detector`; each a string,
 * a comma list or an array). A value ending in `*` matches by prefix.
 */
export function parseFilters(input: Record<string, unknown>): AlertFilters {
  const f = emptyFilters();
  for (const key of Object.keys(input)) {
    if (key !== 'severity' && !(FILTER_FIELDS as readonly string[]).includes(key)) {
      throw badFilter(`unknown filter ${JSON.stringify(key)}: use severity, ${FILTER_FIELDS.join(', ')}`);
    }
  }
  const sev = values(input.severity);
  if (sev.length > 1) throw badFilter('severity takes one value: the minimum severity (low, medium, high, critical)');
  if (sev[0] !== undefined) {
    const parsed = SeveritySchema.safeParse(sev[0].toLowerCase());
    if (!parsed.success) throw badFilter(`unknown severity ${JSON.stringify(sev[0])}: use low, medium, high or critical`);
    f.severity = parsed.data;
  }
  for (const field of FILTER_FIELDS) f[field] = values(input[field]);
  return f;
}

/** Filters from a URL's query string (`token` and `since` are not filters). */
export function filtersFromQuery(params: URLSearchParams): AlertFilters {
  const input: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (k === 'token' || k === 'since') continue;
    (input[k] ??= []).push(v);
  }
  return parseFilters(input);
}

function matchesOne(patterns: string[], value: string): boolean {
  if (patterns.length === 0) return true;
  return patterns.some((p) => (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : p === value));
}

export function matchesFilters(f: AlertFilters, a: Alert): boolean {
  if (f.severity && SEVERITY_RANK[a.severity] < SEVERITY_RANK[f.severity]) return false;
  return matchesOne(f.server, a.server) && matchesOne(f.tool, a.tool) && matchesOne(f.agent, a.agent) && matchesOne(f.detector, a.detector);
}
