/**
 * Line diff between two versions of a tool definition, for
 * `GET /v1/tools/:server/:tool/history`. Definitions are pretty-printed JSON
 * with sorted keys first, so a changed field shows as the lines it spans.
 * Pure.
 */

export interface DiffLine {
  op: 'same' | 'add' | 'del';
  text: string;
}

/** Pretty JSON with object keys sorted; text that is not JSON is returned as is. */
export function prettyDefinition(definition: string): string {
  try {
    return JSON.stringify(sortKeys(JSON.parse(definition)), null, 2);
  } catch {
    return definition;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * Longest-common-subsequence line diff. Definitions are small (a few hundred
 * lines at most); past `maxCells` of table it falls back to "all removed, all
 * added" rather than use quadratic memory.
 */
export function lineDiff(before: string, after: string, maxCells = 4_000_000): DiffLine[] {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  // Common head and tail need no table.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const out: DiffLine[] = a.slice(0, head).map((text) => ({ op: 'same', text }));
  if ((midA.length + 1) * (midB.length + 1) > maxCells) {
    out.push(...midA.map((text): DiffLine => ({ op: 'del', text })), ...midB.map((text): DiffLine => ({ op: 'add', text })));
  } else {
    const n = midA.length;
    const m = midB.length;
    const lcs = new Uint32Array((n + 1) * (m + 1));
    const at = (i: number, j: number) => i * (m + 1) + j;
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[at(i, j)] = midA[i] === midB[j] ? lcs[at(i + 1, j + 1)]! + 1 : Math.max(lcs[at(i + 1, j)]!, lcs[at(i, j + 1)]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        out.push({ op: 'same', text: midA[i]! });
        i++;
        j++;
      } else if (i < n && (j === m || lcs[at(i + 1, j)]! >= lcs[at(i, j + 1)]!)) {
        out.push({ op: 'del', text: midA[i]! });
        i++;
      } else {
        out.push({ op: 'add', text: midB[j]! });
        j++;
      }
    }
  }
  out.push(...a.slice(a.length - tail).map((text): DiffLine => ({ op: 'same', text })));
  return out;
}
