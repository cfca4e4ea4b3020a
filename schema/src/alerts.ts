/**
 * The alert shape: stored in ClickHouse, published on the alerts topic and
 * pushed over the WebSocket. Defined once here.
 */
import { z } from 'zod';

export const SeveritySchema = z.enum(['low', 'medium', 'high', 'critical']);
export type Severity = z.infer<typeof SeveritySchema>;

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = Object.freeze({
  low: 1,
  medium: 2,
  high: 3,
  critical: 4,
});

export const AlertSchema = z.object({
  /** Deterministic for a given cause, so a replayed event cannot raise the same alert twice. */
  id: z.string().min(1).max(128),
  /** When the alert was raised, ISO 8601 (UTC). */
  time: z.iso.datetime({ offset: true }),
  severity: SeveritySchema,
  /** Detector id, e.g. `result_size_outlier`. */
  detector: z.string().min(1).max(128),
  /** One sentence saying what happened. */
  title: z.string().min(1).max(1024),
  server: z.string().max(512),
  tool: z.string().max(512),
  agent: z.string().max(512),
  session: z.string().max(512),
  /** Observed value, baseline, score and the ids of the events involved. */
  evidence: z.record(z.string(), z.unknown()),
  /** Ids of the events that caused the alert. */
  eventIds: z.array(z.string()).max(1000),
});
export type Alert = z.infer<typeof AlertSchema>;
