/**
 * Backtest: replays stored history through the current detectors and reports
 * what would have fired, without storing or publishing anything. History is
 * read in time slices, so memory stays bounded by one slice.
 */
import { AlertSchema, SEVERITY_RANK, type Alert, type Severity } from '@tapwatch/schema';
import { DetectionEngine, type DetectionConfig } from './detectors/index.js';
import { corroborate, createCorroborationState } from './detectors/corroborate.js';
import { alertId } from './detectors/types.js';
import { closeExpired, createMergeState, mergeAlerts } from './detectors/merge.js';
import type { Store } from '@tapwatch/store';

export interface BacktestOptions {
  from?: string | undefined;
  to?: string | undefined;
  /** Length of one slice of history read at a time. */
  sliceMs?: number;
  /** Called after each slice with events replayed so far and the estimate of the total. */
  onProgress?: (done: number, total: number) => void;
  /** Keep at most this many alerts in the report (counts stay exact). */
  maxAlerts?: number;
}

export interface BacktestReport {
  from: string | null;
  to: string | null;
  events: number;
  alerts: Alert[];
  alertCount: number;
  byDetector: Record<string, Partial<Record<Severity, number>>>;
}

export async function backtest(store: Store, detection: DetectionConfig, options: BacktestOptions = {}): Promise<BacktestReport> {
  const bounds = await store.events.bounds();
  const report: BacktestReport = { from: null, to: null, events: 0, alerts: [], alertCount: 0, byDetector: {} };
  if (!bounds) return report;
  const fromMs = Math.max(Date.parse(options.from ?? bounds.from), Date.parse(bounds.from));
  const toMs = Math.min(Date.parse(options.to ?? bounds.to) + 1, Date.parse(bounds.to) + 1);
  report.from = new Date(fromMs).toISOString();
  report.to = new Date(toMs).toISOString();
  if (!(toMs > fromMs)) return report;
  const engine = new DetectionEngine(detection);
  const corroboration = createCorroborationState();
  // Repeats merge as they would live, on event time.
  const merge = createMergeState();
  const record = (alerts: Alert[]) => {
    for (const a of alerts) {
      report.alertCount++;
      const perSeverity = (report.byDetector[a.detector] ??= {});
      perSeverity[a.severity] = (perSeverity[a.severity] ?? 0) + 1;
      if (report.alerts.length < maxAlerts) report.alerts.push(a);
    }
  };
  const slice = options.sliceMs ?? 10 * 60_000;
  const maxAlerts = options.maxAlerts ?? 10_000;
  for (let t = fromMs; t < toMs; t += slice) {
    const events = await store.events.slice(new Date(t).toISOString(), new Date(Math.min(t + slice, toMs)).toISOString());
    for (const event of events) {
      const { findings } = engine.process(event);
      const alerts = corroborate(corroboration, findings, Date.parse(event.time)).map((f) =>
        AlertSchema.parse({ ...f, id: alertId(f.detector, event.id, `${f.tool}\u0000${f.title}`), time: event.time }),
      );
      record(mergeAlerts(merge, alerts, Date.parse(event.time)));
    }
    report.events += events.length;
    options.onProgress?.(report.events, Math.max(bounds.events, report.events));
  }
  record(closeExpired(merge, Number.POSITIVE_INFINITY));
  report.alerts.sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || a.time.localeCompare(b.time));
  return report;
}
