/**
 * Silences between the analyzer and everything that pushes alerts to people
 * (WebSocket hub, Kafka alerts topic, webhooks). A silenced alert is stored as
 * usual and flagged silenced in `alert_state`; it is not published.
 *
 * Silences live in ClickHouse, so every analyzer instance sees the same ones;
 * this filter keeps a copy refreshed every `refreshMs`, and `refresh()` lets
 * the API of the same process apply a change at once.
 */
import { log, type Alert } from '@tapwatch/schema';
import type { AlertPublisher } from '@tapwatch/bus';
import { silenceMatches, type Silence, type Store } from '@tapwatch/store';

export interface SilenceFilterStats {
  published: number;
  silenced: number;
  /** Alerts seen, by detector and severity (silenced ones included). */
  byDetector: Map<string, Map<string, number>>;
}

export class SilenceFilter implements AlertPublisher {
  readonly stats: SilenceFilterStats = { published: 0, silenced: 0, byDetector: new Map() };
  private active: Silence[] = [];
  private loaded: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Pick<Store, 'silences' | 'alerts'>,
    private readonly targets: AlertPublisher[],
    refreshMs = 10_000,
  ) {
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), refreshMs);
    this.timer.unref();
  }

  /** Reloads the silences in force from storage. */
  async refresh(): Promise<void> {
    try {
      this.active = await this.store.silences.list(new Date().toISOString());
    } catch (err) {
      log.warn('could not load silences; keeping the ones known', { error: (err as Error).message });
      throw err;
    }
  }

  async publish(alerts: Alert[]): Promise<void> {
    this.loaded ??= this.refresh().catch(() => undefined);
    await this.loaded;
    const out: Alert[] = [];
    const held: { alertId: string; silenceId: string }[] = [];
    for (const a of alerts) {
      const perSeverity = this.stats.byDetector.get(a.detector) ?? new Map<string, number>();
      perSeverity.set(a.severity, (perSeverity.get(a.severity) ?? 0) + 1);
      this.stats.byDetector.set(a.detector, perSeverity);
      const silence = this.active.find((s) => silenceMatches(s, a, a.time));
      if (silence) held.push({ alertId: a.id, silenceId: silence.id });
      else out.push(a);
    }
    if (held.length > 0) {
      await this.store.alerts.markSilenced(held);
      this.stats.silenced += held.length;
      log.info('alerts silenced', { alerts: held.length, silences: [...new Set(held.map((h) => h.silenceId))] });
    }
    if (out.length === 0) return;
    this.stats.published += out.length;
    // Each target on its own: one that fails must not make the others deliver twice on a retry.
    const results = await Promise.allSettled(this.targets.map((t) => t.publish(out)));
    for (const r of results) {
      if (r.status === 'rejected')
        log.error('an alert target failed; the alerts are stored and queryable', { error: (r.reason as Error)?.message, alerts: out.length });
    }
  }

  /** Stops reloading; the targets belong to the caller, who closes them. */
  async close(): Promise<void> {
    clearInterval(this.timer);
  }
}
