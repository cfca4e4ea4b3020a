/**
 * Storage as the detectors' warm-up hooks see it: the Store's read methods,
 * each query run at most once per warm-up pass, since several detectors seed
 * from the same rows (three volume baselines from one `recentResponseSizes`,
 * pins, advertised tools and known names from one `knownDefinitions`).
 */
import type { ToolDefinition } from '@tapwatch/schema';
import type { KnownDefinition } from '@tapwatch/store';
import type { StoreReader } from './detector.js';

/** A StoreReader that remembers each answer (per method and arguments) for one warm-up pass. */
export class OnceStoreReader implements StoreReader {
  private readonly answers = new Map<string, Promise<unknown>>();

  constructor(private readonly store: StoreReader) {}

  recentResponseSizes(perKey: number): ReturnType<StoreReader['recentResponseSizes']> {
    return this.once(`recentResponseSizes\u0000${perKey}`, () => this.store.recentResponseSizes(perKey));
  }

  knownDefinitions(): ReturnType<StoreReader['knownDefinitions']> {
    return this.once('knownDefinitions', () => this.store.knownDefinitions());
  }

  knownServers(): ReturnType<StoreReader['knownServers']> {
    return this.once('knownServers', () => this.store.knownServers());
  }

  recentSessionCounts(perKey: number): ReturnType<StoreReader['recentSessionCounts']> {
    return this.once(`recentSessionCounts\u0000${perKey}`, () => this.store.recentSessionCounts(perKey));
  }

  recentCallSequence(limit: number): ReturnType<StoreReader['recentCallSequence']> {
    return this.once(`recentCallSequence\u0000${limit}`, () => this.store.recentCallSequence(limit));
  }

  recentSessionVolumes(perAgent: number): ReturnType<StoreReader['recentSessionVolumes']> {
    return this.once(`recentSessionVolumes\u0000${perAgent}`, () => this.store.recentSessionVolumes(perAgent));
  }

  /** Rows the first query of `method` returned, whatever its arguments; 0 when it did not run. */
  async rows(method: keyof StoreReader): Promise<number> {
    for (const [k, answer] of this.answers) if (k === method || k.startsWith(`${method}\u0000`)) return ((await answer) as unknown[]).length;
    return 0;
  }

  private once<R>(key: string, query: () => Promise<R>): Promise<R> {
    let answer = this.answers.get(key) as Promise<R> | undefined;
    if (answer === undefined) {
      answer = query();
      this.answers.set(key, answer);
    }
    return answer;
  }
}

/** A stored definition with its pinned (first) definition parsed. */
export interface PinnedDefinition {
  row: KnownDefinition;
  /** `{}` when the stored text is unreadable: that only loses the "before" excerpt. */
  pinned: Partial<ToolDefinition>;
}

const PINNED = new WeakMap<KnownDefinition[], PinnedDefinition[]>();

/**
 * `knownDefinitions()` oldest first (the first server seen with a tool name
 * keeps it), each first definition parsed once however many detectors ask.
 */
export async function pinnedDefinitions(store: StoreReader): Promise<PinnedDefinition[]> {
  const rows = await store.knownDefinitions();
  let pinned = PINNED.get(rows);
  if (pinned === undefined) {
    pinned = [...rows].sort((a, b) => a.first_seen.localeCompare(b.first_seen)).map((row) => ({ row, pinned: parse(row.first_definition) }));
    PINNED.set(rows, pinned);
  }
  return pinned;
}

function parse(text: string): Partial<ToolDefinition> {
  try {
    return JSON.parse(text) as Partial<ToolDefinition>;
  } catch {
    return {};
  }
}
