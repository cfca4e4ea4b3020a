/**
 * The record contract of tapwatch's topics, written once for every producer
 * (taps' Kafka sink, ingest, the analyzer's alerts) and every consumer.
 *
 * - events topic: key = the event's session, so one session's events land on
 *   one partition in order; value = the event as JSON (schema `TapEvent`).
 * - alerts topic: key = the alert id; value = the alert as JSON (schema `Alert`).
 * Values are parsed and validated by the consumer at its edge, never trusted.
 */
import type { Alert, TapEvent } from '@tapwatch/schema';

export interface OutgoingRecord {
  key: string;
  value: string;
}

/** The events topic's record of one event. */
export function eventRecord(event: TapEvent): OutgoingRecord {
  return { key: event.session, value: JSON.stringify(event) };
}

/** The alerts topic's record of one alert. */
export function alertRecord(alert: Alert): OutgoingRecord {
  return { key: alert.id, value: JSON.stringify(alert) };
}

/** A consumed record as the bus hands it on: key and value as text, still unparsed. */
export function incomingRecord(message: { key: Buffer | null; value: Buffer | null }): { key: string | null; value: string } {
  return { key: message.key ? message.key.toString('utf8') : null, value: message.value ? message.value.toString('utf8') : '' };
}
