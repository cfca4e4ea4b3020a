/**
 * Builds what stands between the analyzer and the people it alerts: the
 * silence filter in front of every target (stream hub, alerts topic) plus the
 * webhooks configured in TAPWATCH_WEBHOOKS.
 */
import type { Config } from '@tapwatch/schema';
import type { AlertPublisher } from '../bus/types.js';
import { ReadModel } from '../store/queries.js';
import type { Store } from '../store/store.js';
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
  const model = new ReadModel(store);
  const hooks = parseWebhooks(config.TAPWATCH_WEBHOOKS);
  const webhooks =
    hooks.length > 0
      ? new WebhookPublisher({
          webhooks: hooks,
          secret: config.TAPWATCH_WEBHOOK_SECRET,
          maxAttempts: config.TAPWATCH_WEBHOOK_MAX_ATTEMPTS,
          backoffMs: config.TAPWATCH_WEBHOOK_BACKOFF_MS,
          deadLetter: (d) => model.insertDeadLetter(d),
        })
      : undefined;
  const publisher = new SilenceFilter(model, webhooks ? [...targets, webhooks] : targets);
  return {
    publisher,
    webhooks,
    async close() {
      await publisher.close();
      await webhooks?.close();
    },
  };
}
