/**
 * Prometheus `/metrics` in the text exposition format (0.0.4), written by
 * hand from the counters the stages already keep: nothing is counted twice
 * and scraping costs a few string joins.
 */
import type { AnalyzerStats, SilenceFilterStats, WebhookStats } from '@tapwatch/analyzer';
import type { IngestStats } from './app.js';

type Labels = Record<string, string>;

/** One metric family: HELP, TYPE and its samples. */
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: [Labels, number][];
}

/** Escapes a label value as the exposition format requires. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
    for (const [labels, value] of f.samples) {
      const keys = Object.keys(labels);
      const l = keys.length > 0 ? `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}` : '';
      out.push(`${f.name}${l} ${formatValue(value)}`);
    }
  }
  return out.join('\n') + '\n';
}

/** What a service has to report; each part is optional (not every service runs every stage). */
export interface MetricSources {
  service: 'up' | 'api' | 'analyzer' | 'ingest';
  ingest?: IngestStats | undefined;
  analyzer?: AnalyzerStats | undefined;
  alerts?: SilenceFilterStats | undefined;
  stream?: { readonly clients: number; readonly sent: number } | undefined;
  webhooks?: WebhookStats | undefined;
  /** Events accepted but not yet handed to the analyzer (in-process bus). */
  queued?: (() => number | undefined) | undefined;
  /** Kafka consumer of the analyzer: lag per owned partition and records sent to the dead-letter topic. */
  consumer?: (() => { lag: { total: number; partitions: Record<string, number> }; deadLettered: number }) | undefined;
}

/** Builds the /metrics renderer of a service. */
export function metricsRenderer(src: MetricSources): () => string {
  const started = Date.now() / 1000;
  return () => {
    const families: Family[] = [
      { name: 'tapwatch_up', help: 'Always 1 while the service answers.', type: 'gauge', samples: [[{ service: src.service }, 1]] },
      { name: 'tapwatch_start_time_seconds', help: 'Start time of the process since the Unix epoch.', type: 'gauge', samples: [[{}, Math.floor(started)]] },
    ];
    if (src.ingest) {
      const i = src.ingest;
      families.push(
        { name: 'tapwatch_ingest_requests_total', help: 'Ingest requests received.', type: 'counter', samples: [[{}, i.requests]] },
        { name: 'tapwatch_ingest_events_total', help: 'Events accepted by POST /v1/ingest.', type: 'counter', samples: [[{}, i.accepted]] },
        {
          name: 'tapwatch_ingest_rejected_total',
          help: 'Ingest requests refused, by reason.',
          type: 'counter',
          samples: Object.entries(i.rejected).map(([reason, n]): [Labels, number] => [{ reason: snake(reason) }, n]),
        },
      );
    }
    if (src.queued) {
      const q = src.queued();
      if (q !== undefined)
        families.push({
          name: 'tapwatch_bus_queued_events',
          help: 'Events accepted and waiting for the analyzer (in-process bus).',
          type: 'gauge',
          samples: [[{}, q]],
        });
    }
    if (src.consumer) {
      const c = src.consumer();
      families.push(
        {
          name: 'tapwatch_consumer_lag',
          help: 'Records of the events topic not yet consumed, per partition this instance owns.',
          type: 'gauge',
          samples: Object.entries(c.lag.partitions).map(([partition, n]): [Labels, number] => [{ partition }, n]),
        },
        {
          name: 'tapwatch_consumer_lag_total',
          help: 'Records of the events topic not yet consumed by this instance.',
          type: 'gauge',
          samples: [[{}, c.lag.total]],
        },
        {
          name: 'tapwatch_dead_lettered_total',
          help: 'Records sent to the dead-letter topic (not valid events).',
          type: 'counter',
          samples: [[{}, c.deadLettered]],
        },
      );
    }
    if (src.analyzer) {
      const a = src.analyzer;
      families.push(
        { name: 'tapwatch_analyzer_events_in_total', help: 'Valid events the analyzer took off the bus.', type: 'counter', samples: [[{}, a.eventsIn]] },
        { name: 'tapwatch_analyzer_events_stored_total', help: 'Events inserted into ClickHouse.', type: 'counter', samples: [[{}, a.eventsStored]] },
        { name: 'tapwatch_analyzer_batches_total', help: 'Batches handled.', type: 'counter', samples: [[{}, a.batches]] },
        {
          name: 'tapwatch_analyzer_dropped_records_total',
          help: 'Bus records dropped because they were not valid events.',
          type: 'counter',
          samples: [[{}, a.invalidRecords]],
        },
        {
          name: 'tapwatch_analyzer_store_retries_total',
          help: 'Storage or publish attempts that failed and were retried.',
          type: 'counter',
          samples: [[{}, a.storeRetries]],
        },
        {
          name: 'tapwatch_analyzer_publish_failures_total',
          help: 'Alert batches no publisher took after retries (still stored).',
          type: 'counter',
          samples: [[{}, a.publishFailures]],
        },
      );
    }
    if (src.alerts) {
      const samples: [Labels, number][] = [];
      for (const [detector, bySeverity] of [...src.alerts.byDetector].sort(([x], [y]) => x.localeCompare(y))) {
        for (const [severity, n] of bySeverity) samples.push([{ detector, severity }, n]);
      }
      families.push(
        { name: 'tapwatch_alerts_total', help: 'Alerts raised, by detector and severity (silenced ones included).', type: 'counter', samples },
        {
          name: 'tapwatch_alerts_silenced_total',
          help: 'Alerts held back by a silence (stored, not pushed).',
          type: 'counter',
          samples: [[{}, src.alerts.silenced]],
        },
        {
          name: 'tapwatch_alerts_published_total',
          help: 'Alerts pushed to the stream, the alerts topic and webhooks.',
          type: 'counter',
          samples: [[{}, src.alerts.published]],
        },
      );
    }
    if (src.stream) {
      families.push(
        { name: 'tapwatch_ws_clients', help: 'Connected alert-stream subscribers.', type: 'gauge', samples: [[{}, src.stream.clients]] },
        { name: 'tapwatch_ws_messages_sent_total', help: 'Alert messages sent to subscribers.', type: 'counter', samples: [[{}, src.stream.sent]] },
      );
    }
    if (src.webhooks) {
      const w = src.webhooks;
      families.push(
        {
          name: 'tapwatch_webhook_deliveries_total',
          help: 'Webhook deliveries by outcome (delivered, dead_lettered).',
          type: 'counter',
          samples: [
            [{ result: 'delivered' }, w.delivered],
            [{ result: 'dead_lettered' }, w.deadLettered],
          ],
        },
        {
          name: 'tapwatch_webhook_attempt_failures_total',
          help: 'Webhook attempts that failed (each retry counts).',
          type: 'counter',
          samples: [[{}, w.failedAttempts]],
        },
        { name: 'tapwatch_webhook_pending', help: 'Webhook deliveries waiting or retrying.', type: 'gauge', samples: [[{}, w.pending]] },
      );
    }
    return renderFamilies(families);
  };
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
