/**
 * Picks a sink from a URL: `kafka://host:port[,host:port]` or `http(s)://host:port`,
 * with the disk spool every tap gets (TAPWATCH_SPOOL_DIR, TAPWATCH_SPOOL_MAX_BYTES).
 */
import { BrokerListSchema, TapwatchError, isLoopbackUrl, log, readLocalToken } from '@tapwatch/schema';
import { HttpSink } from './http.js';
import type { EventSink, QueueingSinkOptions } from './sink.js';
import { defaultSpoolDir, spoolKey } from './spool.js';

export interface SinkSettings {
  /** The token to send; without one, an http sink on loopback sends the local ingest token (credentials.ts). */
  token?: string | undefined;
  /** TAPWATCH_CREDENTIALS_DIR, where the local ingest token is looked for. */
  credentialsDir?: string | undefined;
  eventsTopic: string;
  /**
   * Disk spool: `false` for none, else its directory (default: `defaultSpoolDir()`) and size
   * (0 means none); the commands pass TAPWATCH_SPOOL_DIR and TAPWATCH_SPOOL_MAX_BYTES.
   */
  spool: { dir?: string | undefined; maxBytes: number } | false;
}

/** Thrown for a sink URL tapwatch cannot use; the message says what is accepted. */
export class SinkUrlError extends TapwatchError {
  constructor(message: string) {
    super('TAPWATCH_BAD_SINK_URL', message);
    this.name = 'SinkUrlError';
  }
}

export async function createSink(url: string, settings: SinkSettings): Promise<EventSink> {
  if (url.startsWith('kafka://')) {
    const brokers = BrokerListSchema.safeParse(url);
    if (!brokers.success) throw new SinkUrlError(`bad sink ${url}: expected kafka://host:port[,host:port…]`);
    // Loaded only when used, so an http-only tap never pays for kafkajs.
    const { KafkaSink } = await import('./kafka.js');
    const spool = spoolOptions(settings, `kafka ${[...brokers.data].sort().join(',')} ${settings.eventsTopic}`);
    return new KafkaSink({ brokers: brokers.data, topic: settings.eventsTopic, spool });
  }
  if (/^https?:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new SinkUrlError(`bad sink ${url}: not a valid URL`);
    }
    const spool = spoolOptions(settings, `http ${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`);
    return new HttpSink(url, { token: settings.token ?? (isLoopbackUrl(url) ? localIngestToken(settings.credentialsDir) : undefined), spool });
  }
  throw new SinkUrlError(`bad sink ${url}: expected http://host:port or kafka://host:port[,…]`);
}

/** The spool of a sink going to `destination` (its key: only a tap of the same destination recovers it). */
function spoolOptions(settings: SinkSettings, destination: string): QueueingSinkOptions['spool'] {
  const spool = settings.spool;
  if (spool === false || spool.maxBytes <= 0) return undefined;
  return { dir: spool.dir ?? defaultSpoolDir(), maxBytes: spool.maxBytes, key: spoolKey(destination) };
}

export { HttpSink } from './http.js';
export { QueueingSink, DeliveryError } from './sink.js';
export type { EventSink, SinkStats, QueueingSinkOptions } from './sink.js';
export { Spool, defaultSpoolDir, spoolKey } from './spool.js';
export type { SpoolOptions, DropInfo } from './spool.js';

/**
 * The local ingest token, read when first needed and again after a miss: a tap may start before
 * `tapwatch up` created it (its events spool meanwhile). Only the ingest token: never the admin one.
 */
function localIngestToken(dir: string | undefined): () => string | undefined {
  let token: string | undefined;
  let lastTry = 0;
  return () => {
    if (token !== undefined) return token;
    const now = Date.now();
    if (now - lastTry < 1_000) return undefined;
    lastTry = now;
    try {
      token = readLocalToken('ingest', { XDG_STATE_HOME: process.env.XDG_STATE_HOME, TAPWATCH_CREDENTIALS_DIR: dir });
    } catch (err) {
      log.warn('cannot use the local ingest token', { error: (err as Error).message });
    }
    return token;
  };
}
