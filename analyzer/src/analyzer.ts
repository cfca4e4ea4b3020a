/**
 * The analyzer stage: takes batches of raw records from a source, parses them
 * at the edge, stores them, runs the detectors and stores and publishes the
 * alerts. A batch resolves only when it is stored, so the source commits
 * nothing that could be lost; while storage is down it retries and does not
 * move on.
 */
import { AlertSchema, TapEventSchema, log, retry, type Alert, type TapEvent } from '@tapwatch/schema';
import { BatchAbandoned, type AlertPublisher, type BatchOutcome, type EventRecord, type RejectedRecord } from '@tapwatch/bus';
import { DetectionEngine, type DetectionConfig, type LearningState } from './detectors/index.js';
import { alertId } from './detectors/types.js';
import { corroborate, createCorroborationState, type CorroborationState } from './detectors/corroborate.js';
import { closeExpired, createMergeState, mergeAlerts, type MergeState } from './detectors/merge.js';
import { eventFingerprint, type Store, type StoredClaim, type ToolDefinitionRow } from '@tapwatch/store';
import { collisionAlert, dedupByContent, type IdCollision } from './dedup.js';

export interface AnalyzerStats {
  batches: number;
  eventsIn: number;
  eventsStored: number;
  invalidRecords: number;
  alerts: number;
  storeRetries: number;
  publishFailures: number;
  /** Events seen again (a tap re-sent them, Kafka redelivered them) and skipped. */
  duplicates: number;
  /** Events whose id was taken by an event of other content, stored apart (alert `event_id_collision`). */
  idCollisions: number;
}

export interface AnalyzerOptions {
  store: Store;
  publishers: AlertPublisher[];
  detection: DetectionConfig;
  /** Longest pause between storage retries. */
  maxRetryDelayMs?: number;
  /** Window in which repeated alerts (same detector, server, tool, agent) merge into one summary. */
  mergeWindowMs?: number;
  /** How often shared baselines are reloaded from storage (0: only at start). */
  baselineRefreshMs?: number;
  /** Largest record taken as an event; a bigger one is rejected as `too_big` (default 8 MiB, as TAPWATCH_MAX_BODY_BYTES). */
  maxRecordBytes?: number;
}

export class Analyzer {
  readonly stats: AnalyzerStats = {
    batches: 0,
    eventsIn: 0,
    eventsStored: 0,
    invalidRecords: 0,
    alerts: 0,
    storeRetries: 0,
    publishFailures: 0,
    duplicates: 0,
    idCollisions: 0,
  };
  private readonly engine: DetectionEngine;
  private readonly corroboration: CorroborationState = createCorroborationState();
  private readonly merge: MergeState;
  private mergeTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The emission in progress; the next waits for it (see emitAlerts). */
  private emitting: Promise<void> = Promise.resolve();
  /** Time of the last alert stamped (ms), so alert times strictly increase. */
  private lastAlertMs = 0;
  private stopping = false;

  constructor(private readonly options: AnalyzerOptions) {
    this.engine = new DetectionEngine(options.detection);
    this.merge = createMergeState(options.mergeWindowMs);
  }

  /** Migrates the schema and warms detector state from storage. */
  async init(): Promise<void> {
    await this.options.store.migrate();
    // Alert times keep increasing across restarts too (stamp): start after the last one stored.
    this.lastAlertMs = await this.options.store.alerts.lastTimeMs();
    const warmed = await this.engine.warm(this.options.store.baselines);
    log.info('analyzer ready', warmed);
    // Summaries of merged repeats go out when their window closes, even if no traffic comes.
    this.mergeTimer = setInterval(
      () => {
        const due = closeExpired(this.merge, Date.now());
        if (due.length > 0) void this.emitAlerts(due, async () => {}).catch(() => undefined);
      },
      Math.min(30_000, Math.max(1_000, (this.options.mergeWindowMs ?? 600_000) / 4)),
    );
    this.mergeTimer.unref();
    const every = this.options.baselineRefreshMs ?? 0;
    if (every > 0) {
      this.refreshTimer = setInterval(() => {
        this.refreshBaselines().then(
          (n) => log.debug('baselines reloaded', n),
          (err: unknown) => log.warn('could not reload baselines; keeping the current ones', { error: (err as Error).message }),
        );
      }, every);
      this.refreshTimer.unref();
    }
  }

  /** What the detectors have learned so far (see DetectionEngine.learningState). */
  learning(): LearningState {
    return this.engine.learningState();
  }

  /** Reloads the baselines shared through storage (what other analyzer instances learned). */
  refreshBaselines(): Promise<{ tools: number; definitions: number; servers: number }> {
    return this.engine.refresh(this.options.store.baselines);
  }

  /** Makes in-flight retries give up so a shutdown does not hang on a dead database. */
  stop(): void {
    this.stopping = true;
    clearInterval(this.mergeTimer);
    clearInterval(this.refreshTimer);
  }

  /** The batch handler a source calls. */
  readonly handleBatch = async (records: EventRecord[], heartbeat: () => Promise<void>): Promise<BatchOutcome> => {
    this.stats.batches++;
    let events: TapEvent[] = [];
    const rejected: RejectedRecord[] = [];
    const maxBytes = this.options.maxRecordBytes ?? 8 * 1024 * 1024;
    records.forEach((r, index) => {
      const parsed = parseRecord(r, maxBytes);
      if ('event' in parsed) events.push(parsed.event);
      else {
        this.stats.invalidRecords++;
        rejected.push({ index, ...parsed });
      }
    });
    this.stats.eventsIn += events.length;
    const outcome: BatchOutcome = { rejected };
    const { fresh, collisions } = events.length === 0 ? { fresh: events, collisions: [] } : await this.unseen(events, heartbeat);
    if (fresh.length === 0) return outcome;
    events = fresh;

    // Detection runs while storage takes the insert (the engine works on its own threads), and
    // nothing it found leaves before the events are stored. Should the insert never succeed
    // (the batch abandoned to a partition's new owner, a shutdown), only this instance's
    // detector state has seen the events; no alert of theirs is stored or published here.
    const stored = this.retry('store events', heartbeat, () => this.options.store.events.insert(events));
    stored.catch(() => undefined);

    const now = new Date().toISOString();
    const alerts: Alert[] = [];
    const definitions: ToolDefinitionRow[] = [];
    for (const event of events) {
      const outcome = this.engine.process(event);
      if (outcome.definitions.length > 0) {
        const fingerprint = eventFingerprint(event);
        for (const d of outcome.definitions) definitions.push({ ...d, fingerprint });
      }
      for (const f of corroborate(this.corroboration, outcome.findings, Date.parse(event.time))) {
        alerts.push(AlertSchema.parse({ ...f, id: alertId(f.detector, event.id, `${f.tool}\u0000${f.title}`), time: now }));
      }
    }
    for (const c of collisions) alerts.push(AlertSchema.parse(collisionAlert(c, now)));
    await stored;
    this.stats.eventsStored += events.length;
    if (definitions.length > 0) {
      await this.retry('store tool definitions', heartbeat, () => this.options.store.events.insertDefinitions(definitions));
    }
    await this.emitAlerts(mergeAlerts(this.merge, alerts, Date.now()), heartbeat);
    return outcome;
  };

  /**
   * The events of a batch not stored yet, each once. Upstream delivery is at
   * least once (a tap re-sends a batch it got no answer for; Kafka redelivers
   * what was stored but not committed before a crash): skipping what is stored
   * keeps storage, detector state and alerts from seeing an event twice. The
   * one loss this accepts: after a crash between storing a batch's events and
   * its alerts, a replay does not raise those alerts again. Stored means the
   * same id and the same content (dedup.ts): an event whose id is taken by
   * other content is kept, under a derived id, and reported as a collision.
   */
  private async unseen(events: TapEvent[], heartbeat: () => Promise<void>): Promise<{ fresh: TapEvent[]; collisions: IdCollision[] }> {
    let stored: StoredClaim[] = [];
    await this.retry('check stored events', heartbeat, async () => {
      stored = await this.options.store.events.storedClaims(events);
    });
    const { fresh, duplicates, collisions } = dedupByContent(events, stored);
    this.stats.duplicates += duplicates;
    this.stats.idCollisions += collisions.length;
    if (duplicates > 0) log.debug('skipping events already stored', { duplicates });
    const [c] = collisions;
    if (c) {
      log.warn('events reuse the ids of events of other content; stored apart (alert event_id_collision)', {
        collisions: collisions.length,
        id: c.event.id,
        storedAs: c.storedAs,
        server: c.event.server,
      });
    }
    return { fresh, collisions };
  }

  /** Stores, logs and publishes alerts (each id once: one already stored is neither stored nor published again). */
  private emitAlerts(raised: Alert[], heartbeat: () => Promise<void>): Promise<void> {
    if (raised.length === 0) return Promise.resolve();
    // One emission at a time (batches and the merge timer both emit), so the order alerts are
    // stamped in is the order they are published in.
    const run = this.emitting.then(() => this.emitAlertsNow(raised, heartbeat));
    this.emitting = run.catch(() => undefined);
    return run;
  }

  /**
   * Gives alerts strictly increasing times in the order they are published: a subscriber
   * resuming with `since=<the last alert it saw>` gets exactly what came after it, since the
   * stream replays stored alerts in (time, id) order.
   */
  private stamp(alerts: Alert[]): Alert[] {
    return alerts.map((a) => {
      const ms = Math.max(Date.now(), this.lastAlertMs + 1);
      this.lastAlertMs = ms;
      return { ...a, time: new Date(ms).toISOString() };
    });
  }

  private async emitAlertsNow(raised: Alert[], heartbeat: () => Promise<void>): Promise<void> {
    let stored = new Set<string>();
    await this.retry('check stored alerts', heartbeat, async () => {
      stored = await this.options.store.alerts.storedIds(raised.map((a) => a.id));
    });
    const fresh = [...new Map(raised.filter((a) => !stored.has(a.id)).map((a) => [a.id, a])).values()];
    if (fresh.length === 0) return;
    const alerts = this.stamp(fresh);
    await this.retry('store alerts', heartbeat, () => this.options.store.alerts.insert(alerts));
    this.stats.alerts += alerts.length;
    for (const a of alerts) {
      log.info('alert', { id: a.id, severity: a.severity, detector: a.detector, server: a.server, tool: a.tool, session: a.session });
    }
    await Promise.all(
      this.options.publishers.map((p) =>
        this.retry('publish alerts', heartbeat, () => p.publish(alerts), 5).catch((err: unknown) => {
          // Alerts are stored; a publisher that keeps failing must not stall the pipeline.
          this.stats.publishFailures++;
          log.error('could not publish alerts; they are stored and queryable', { error: (err as Error).message, alerts: alerts.length });
        }),
      ),
    );
  }

  private async retry(what: string, heartbeat: () => Promise<void>, fn: () => Promise<void>, maxAttempts = Infinity): Promise<void> {
    await retry(fn, {
      attempts: maxAttempts,
      initialDelayMs: 200,
      maxDelayMs: this.options.maxRetryDelayMs ?? 5_000,
      bail: () => this.stopping,
      onRetry: (err, attempt) => {
        this.stats.storeRetries++;
        if (attempt === 1 || attempt % 10 === 0) log.warn(`analyzer cannot ${what}; retrying`, { attempt, error: (err as Error).message });
      },
      // After each wait, a heartbeat: a source that lost the batch (rebalance, shutdown) throws
      // BatchAbandoned and the retries end (the partition's new owner stores it). Other heartbeat
      // failures (broker briefly away) do not end them.
      sleep: async (ms) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        await heartbeat().catch((hbErr: unknown) => {
          if (hbErr instanceof BatchAbandoned) throw hbErr;
        });
      },
    });
  }
}

/** Parses one bus record: the event, or why the record is not one (logged as a warning). */
function parseRecord(r: EventRecord, maxBytes: number): { event: TapEvent } | { reason: string; detail: string } {
  if (Buffer.byteLength(r.value, 'utf8') > maxBytes) {
    const detail = `record of ${Buffer.byteLength(r.value, 'utf8')} bytes is larger than ${maxBytes} (TAPWATCH_MAX_BODY_BYTES)`;
    log.warn('skipping a record that is too big', { key: r.key, detail });
    return { reason: 'too_big', detail };
  }
  let json: unknown;
  try {
    json = JSON.parse(r.value);
  } catch (err) {
    log.warn('skipping a record that is not JSON', { key: r.key, bytes: r.value.length });
    return { reason: 'not_json', detail: (err as Error).message };
  }
  const parsed = TapEventSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`);
    log.warn('skipping a record that is not a valid event', { key: r.key, issues });
    return { reason: 'invalid_event', detail: issues.join('; ') };
  }
  return { event: parsed.data };
}
