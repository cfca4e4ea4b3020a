/**
 * Fair turns for user SQL: each client (an API token) may have a few queries
 * running and a few waiting; past that the caller is refused at once. When a
 * slot frees, the waiting client that was served longest ago goes next, so a
 * client queueing many slow queries delays another client by at most the
 * queries already running, never by its own queue.
 */

export interface FairQueueOptions {
  /** Queries running at once over all clients (1: the embedded engine runs one at a time). */
  concurrency: number;
  /** Queries one client may have running. */
  perClientRunning: number;
  /** Queries one client may have waiting; one more is refused with `onFull`'s error. */
  perClientQueued: number;
  /** The error a client gets when it already has `perClientRunning` running and `perClientQueued` waiting. */
  onFull: (client: string) => Error;
}

interface ClientState {
  running: number;
  waiting: (() => void)[];
  /** When this client last started a task (a tick of the queue); 0: not since it was last idle. */
  lastStart: number;
}

export class FairQueue {
  private running = 0;
  private tick = 0;
  private readonly clients = new Map<string, ClientState>();

  constructor(private readonly options: FairQueueOptions) {}

  /** Tasks running now. */
  get active(): number {
    return this.running;
  }

  /** Runs `task` in `client`'s turn; rejects at once with `onFull`'s error when the client has too many. */
  run<T>(client: string, task: () => Promise<T>): Promise<T> {
    let state = this.clients.get(client);
    if (!state) {
      state = { running: 0, waiting: [], lastStart: 0 };
      this.clients.set(client, state);
    }
    const o = this.options;
    if (state.waiting.length === 0 && state.running < o.perClientRunning && this.running < o.concurrency) return this.start(client, state, task);
    if (state.waiting.length >= o.perClientQueued) {
      this.forget(client, state);
      return Promise.reject(o.onFull(client));
    }
    const s = state;
    return new Promise<T>((resolve, reject) => {
      s.waiting.push(() => {
        this.start(client, s, task).then(resolve, reject);
      });
    });
  }

  private start<T>(client: string, state: ClientState, task: () => Promise<T>): Promise<T> {
    this.running++;
    state.running++;
    state.lastStart = ++this.tick;
    const done = (): void => {
      this.running--;
      state.running--;
      this.forget(client, state);
      this.dispatch();
    };
    let p: Promise<T>;
    try {
      p = task();
    } catch (err) {
      p = Promise.reject(err as Error);
    }
    return p.finally(done);
  }

  /** Starts waiting tasks while slots are free: the client served longest ago first. */
  private dispatch(): void {
    while (this.running < this.options.concurrency) {
      let next: ClientState | undefined;
      for (const state of this.clients.values()) {
        if (state.waiting.length === 0 || state.running >= this.options.perClientRunning) continue;
        if (!next || state.lastStart < next.lastStart) next = state;
      }
      if (!next) return;
      next.waiting.shift()!();
    }
  }

  private forget(client: string, state: ClientState): void {
    if (state.running === 0 && state.waiting.length === 0) this.clients.delete(client);
  }
}
