/** Short stable digests of text, for cache and alert keys. */
import { createHash } from 'node:crypto';

/** A short stable digest of a text. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
