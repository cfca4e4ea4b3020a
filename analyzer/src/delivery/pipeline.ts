/**
 * Builds what stands between the analyzer and the people it alerts: the
 * silence filter in front of every target (stream hub, alerts topic) plus the
 * webhooks configured in TAPWATCH_WEBHOOKS.
 */
import type { Config } from '@tapwatch/schema';
import type { AlertPublisher } from '@tapwatch/bus';
import type { Store } from '@tapwatch/store';
import { SilenceFilter } from './silences.js';
import { WebhookPublisher, parseWebhooks } from './webhooks.js';

export interface AlertDelivery {
  /** The one publisher to give the analyzer. */
  publisher: SilenceFilter;
  webhooks: WebhookPublisher | undefined;
  /** Stops the silence reloads and pending webhook retries (the targets passed in stay open). */
  close(): Promise<void>;
}

export function alertDelivery(config: Config, store: Store, targets: AlertPublisher[]): AlertDelivery {
  const hooks = parseWebhooks(config.TAPWATCH_WEBHOOKS);
  const webhooks =
    hooks.length > 0
      ? new WebhookPublisher({
          webhooks: hooks,
          secret: config.TAPWATCH_WEBHOOK_SECRET,
          maxAttempts: config.TAPWATCH_WEBHOOK_MAX_ATTEMPTS,
          backoffMs: config.TAPWATCH_WEBHOOK_BACKOFF_MS,
          deadLetter: (d) => store.deadLetters.insert(d),
        })
      : undefined;
  const publisher = new SilenceFilter(store, webhooks ? [...targets, webhooks] : targets);
  return {
    publisher,
    webhooks,
    async close() {
      await publisher.close();
      await webhooks?.close();
    },
  };
}
