/**
 * V8 settings that keep the tap's resident memory small under load.
 *
 * V8 sizes its heap for the machine: semi-spaces that grow to 16 MB, an old
 * generation allowed GBs. With garbage made at every relayed message, it
 * lets the heap grow long before it collects, and the tap's resident memory
 * doubles under load for a few MB of live objects. A young generation that
 * stays at its initial 1 MB semi-spaces and an old generation that grows by
 * 20 % past what survived keep the tap tens of MB smaller for a little more
 * GC work (figures in benchmarks/README.md, "Stdio tap overhead, issue 3").
 *
 * Unlike `--max-semi-space-size` and `--max-old-space-size`, which V8 reads
 * only when it creates a heap, these two flags are read as the heap grows,
 * so they work from inside a running process: no re-exec of node. Kept free
 * of imports so the bin can apply them before anything else is loaded.
 */
import { setFlagsFromString } from 'node:v8';

export const LEAN_HEAP_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--heap-growing-percent=20'];

/**
 * Applies `LEAN_HEAP_FLAGS` to this process. V8's flags are process-wide and
 * the creation of a heap (a worker thread's start) raises
 * `--semi-space-growth-factor` back to its minimum of 2: apply again once a
 * worker is online.
 */
export function applyLeanHeap(): void {
  for (const flag of LEAN_HEAP_FLAGS) setFlagsFromString(flag);
}
