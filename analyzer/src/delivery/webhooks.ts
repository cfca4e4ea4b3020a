/**
 * Alert delivery to webhooks: one POST per alert and endpoint, signed with
 * HMAC-SHA256 of the body (`X-Tapwatch-Signature: sha256=<hex>`), retried with
 * exponential backoff, and after the last attempt written to
 * `webhook_deadletters` with a log line. Deliveries run in the background: a
 * slow or dead endpoint never holds up the analyzer.
 *
 * Endpoints come from TAPWATCH_WEBHOOKS: a comma list of URLs, a JSON array,
 * or the path of a JSON file holding that array
 * (`[{"url": "…", "format": "json" | "slack", "secret": "…"}]`). A URL written
 * `slack+https://…` is posted in Slack's incoming-webhook shape `{text, blocks}`.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { backoffDelay, log, TapwatchError, type Alert } from '@tapwatch/schema';
import type { AlertPublisher } from '@tapwatch/bus';
import type { DeadLetter } from '@tapwatch/store';

export const WebhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  format: z.enum(['json', 'slack']).default('json'),
  /** Overrides TAPWATCH_WEBHOOK_SECRET for this endpoint. */
  secret: z.string().min(1).optional(),
});
export type Webhook = z.infer<typeof WebhookSchema>;

export interface WebhookOptions {
  webhooks: Webhook[];
  secret?: string | undefined;
  maxAttempts: number;
  /** First retry delay; each next one doubles (with ±20% jitter), capped at `maxBackoffMs`. */
  backoffMs: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  /** Most deliveries waiting at once; past it, new ones are dead-lettered at once. */
  maxPending?: number;
  deadLetter: (d: DeadLetter) => Promise<void>;
}

export interface WebhookStats {
  delivered: number;
  failedAttempts: number;
  deadLettered: number;
  pending: number;
}

/** Parses TAPWATCH_WEBHOOKS; throws a TapwatchError naming the setting. */
export function parseWebhooks(setting: string | undefined): Webhook[] {
  if (!setting || setting.trim() === '') return [];
  const text = setting.trim();
  let raw: unknown;
  if (text.startsWith('[')) raw = parseJson(text, 'TAPWATCH_WEBHOOKS');
  else if (!/^(slack\+)?https?:\/\//.test(text)) {
    let file: string;
    try {
      file = readFileSync(text, 'utf8');
    } catch (err) {
      throw new TapwatchError(
        'TAPWATCH_BAD_CONFIG',
        `TAPWATCH_WEBHOOKS: cannot read ${text} (expected URLs or the path of a JSON file): ${(err as Error).message}`,
        { cause: err },
      );
    }
    raw = parseJson(file, `TAPWATCH_WEBHOOKS file ${text}`);
  } else {
    raw = text
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '')
      .map((url) => ({ url }));
  }
  if (!Array.isArray(raw)) throw new TapwatchError('TAPWATCH_BAD_CONFIG', 'TAPWATCH_WEBHOOKS: expected an array of {url, format?, secret?}');
  return raw.map((entry: unknown, i) => {
    const e = typeof entry === 'string' ? { url: entry } : entry;
    const withPrefix =
      e && typeof e === 'object' && typeof (e as { url?: unknown }).url === 'string' && (e as { url: string }).url.startsWith('slack+')
        ? { ...(e as object), url: (e as { url: string }).url.slice('slack+'.length), format: 'slack' }
        : e;
    const parsed = WebhookSchema.safeParse(withPrefix);
    if (!parsed.success) {
      throw new TapwatchError(
        'TAPWATCH_BAD_CONFIG',
        `TAPWATCH_WEBHOOKS[${i}]: ${parsed.error.issues.map((x) => `${x.path.join('.') || 'entry'}: ${x.message}`).join('; ')}`,
      );
    }
    return parsed.data;
  });
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TapwatchError('TAPWATCH_BAD_CONFIG', `${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what a receiver recomputes to verify. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const SEVERITY_EMOJI: Record<Alert['severity'], string> = {
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
};

/** Slack's incoming-webhook payload for an alert: `text` for notifications, `blocks` for the message. */
export function slackPayload(a: Alert): { text: string; blocks: unknown[] } {
  const where = [a.server && `*server* ${a.server}`, a.tool && `*tool* ${a.tool}`, a.agent && `*agent* ${a.agent}`, a.session && `*session* ${a.session}`]
    .filter(Boolean)
    .join('  ·  ');
  const evidence = JSON.stringify(a.evidence);
  return {
    text: `[${a.severity.toUpperCase()}] ${a.detector}: ${a.title}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `${a.severity.toUpperCase()} · ${a.detector}`.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: `${SEVERITY_EMOJI[a.severity]} ${a.title}`.slice(0, 3000) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: (where || 'no server').slice(0, 3000) }] },
      { type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${evidence.length > 2800 ? evidence.slice(0, 2800) + '…' : evidence}\`\`\`` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `alert ${a.id} · ${a.time}` }] },
    ],
  };
}

/** Posts every published alert to every webhook, in the background. */
export class WebhookPublisher implements AlertPublisher {
  readonly stats: WebhookStats = { delivered: 0, failedAttempts: 0, deadLettered: 0, pending: 0 };
  /** Retries waiting for their turn, so a shutdown can record them instead of losing them. */
  private readonly waiting = new Map<NodeJS.Timeout, { hook: Webhook; alert: Alert; body: string; attempt: number; status: number; error: string }>();
  private closed = false;

  constructor(private readonly options: WebhookOptions) {
    if (options.webhooks.some((w) => !w.secret) && !options.secret) {
      log.warn('webhooks are sent unsigned: set TAPWATCH_WEBHOOK_SECRET so receivers can verify X-Tapwatch-Signature', { setting: 'TAPWATCH_WEBHOOK_SECRET' });
    }
  }

  async publish(alerts: Alert[]): Promise<void> {
    for (const alert of alerts) {
      for (const hook of this.options.webhooks) this.start(hook, alert);
    }
  }

  private start(hook: Webhook, alert: Alert): void {
    if (this.closed) return;
    const body = JSON.stringify(hook.format === 'slack' ? slackPayload(alert) : alert);
    if (this.stats.pending >= (this.options.maxPending ?? 10_000)) {
      void this.deadLetter(hook, alert, body, 0, 0, 'too many deliveries pending');
      return;
    }
    this.stats.pending++;
    void this.attempt(hook, alert, body, randomUUID(), 1);
  }

  private async attempt(hook: Webhook, alert: Alert, body: string, delivery: string, attempt: number): Promise<void> {
    const secret = hook.secret ?? this.options.secret;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'tapwatch-webhook',
      'x-tapwatch-timestamp': String(Math.floor(Date.now() / 1000)),
      'x-tapwatch-delivery': delivery,
      'x-tapwatch-attempt': String(attempt),
      'x-tapwatch-alert-id': alert.id,
    };
    if (secret) headers['x-tapwatch-signature'] = signature(secret, body);
    let status = 0;
    let error = '';
    try {
      const res = await fetch(hook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000), redirect: 'manual' });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
      if (status >= 200 && status < 300) {
        this.stats.pending--;
        this.stats.delivered++;
        return;
      }
      error = `HTTP ${status}`;
    } catch (err) {
      error = (err as Error).message;
    }
    this.stats.failedAttempts++;
    // A 4xx other than timeout/too-many-requests will not get better by retrying.
    const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
    if (this.closed || permanent || attempt >= this.options.maxAttempts) {
      this.stats.pending--;
      await this.deadLetter(hook, alert, body, attempt, status, error);
      return;
    }
    const delay = Math.round(backoffDelay(attempt, { initialDelayMs: this.options.backoffMs, maxDelayMs: this.options.maxBackoffMs ?? 300_000, jitter: 0.2 }));
    const timer = setTimeout(() => {
      this.waiting.delete(timer);
      void this.attempt(hook, alert, body, delivery, attempt + 1);
    }, delay);
    this.waiting.set(timer, { hook, alert, body, attempt, status, error });
  }

  private async deadLetter(hook: Webhook, alert: Alert, body: string, attempts: number, status: number, error: string): Promise<void> {
    this.stats.deadLettered++;
    const url = redactUrl(hook.url);
    log.error('webhook delivery failed; written to webhook_deadletters', { url, alert: alert.id, attempts, status, error });
    try {
      await this.options.deadLetter({
        id: randomUUID(),
        time: new Date().toISOString(),
        url,
        alertId: alert.id,
        attempts,
        lastStatus: status,
        lastError: error.slice(0, 1000),
        payload: body,
      });
    } catch (err) {
      log.error('could not store a webhook dead letter', { url, alert: alert.id, error: (err as Error).message });
    }
  }

  /** Stops retrying; deliveries still waiting for a retry are written as dead letters (storage is still open). */
  async close(): Promise<void> {
    this.closed = true;
    const left = [...this.waiting];
    this.waiting.clear();
    for (const [timer] of left) clearTimeout(timer);
    this.stats.pending -= left.length;
    await Promise.all(left.map(([, w]) => this.deadLetter(w.hook, w.alert, w.body, w.attempt, w.status, `${w.error}; shut down before the next attempt`)));
  }
}

/** Webhook URLs often carry a secret in the path (Slack): keep only the origin and the path's first segment. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    const first = url.pathname.split('/').filter(Boolean)[0];
    return `${url.origin}/${first ?? ''}${url.pathname.split('/').filter(Boolean).length > 1 ? '/…' : ''}`;
  } catch {
    return '(invalid url)';
  }
}
