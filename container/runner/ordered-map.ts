/**
 * @module runner/ordered-map
 * Runs an async step over a list with bounded read-ahead and hands the results
 * on in list order. The archiver reads files concurrently (the disk and libuv's
 * thread pool stay busy) yet packs them in scan order, so the same tree gives the
 * same packs on every run. Read-ahead is bounded by a count and by a cost (bytes
 * held in memory), so a run of large files cannot exhaust a 256 MiB sandbox.
 */

/** Bounds of orderedMap. */
export interface OrderedMapOptions<T> {
  /** Items started but not yet consumed, at most (≥ 1). */
  concurrency: number;
  /** Sum of `cost` of started, unconsumed items, at most (one item may exceed it alone). */
  maxCost: number;
  cost: (item: T) => number;
}

/**
 * Calls `produce` on each item with bounded read-ahead and `consume` on each
 * result in order. On any failure, waits for the produced items still running,
 * passes the unconsumed results to `abandon` (to free what they hold) and rethrows.
 */
export async function orderedMap<T, R>(
  items: readonly T[],
  opts: OrderedMapOptions<T>,
  produce: (item: T) => Promise<R>,
  consume: (result: R, item: T) => Promise<void> | void,
  abandon: (result: R) => Promise<void> = async () => {},
): Promise<void> {
  const started: (Promise<R> | undefined)[] = [];
  let next = 0;
  let held = 0;
  const limit = Math.max(1, opts.concurrency);
  const fill = (consumed: number): void => {
    while (next < items.length && next - consumed < limit) {
      const c = opts.cost(items[next] as T);
      if (next > consumed && held + c > opts.maxCost) break;
      held += c;
      const p = produce(items[next] as T);
      // Awaited later, in order; a rejection before then must not count as unhandled.
      p.catch(() => {});
      started[next++] = p;
    }
  };
  let i = 0;
  try {
    for (; i < items.length; i++) {
      fill(i);
      const result = await (started[i] as Promise<R>);
      started[i] = undefined;
      held -= opts.cost(items[i] as T);
      await consume(result, items[i] as T);
    }
  } catch (err) {
    for (let j = i; j < next; j++) {
      const p = started[j];
      if (!p) continue;
      const r = await p.then(
        (v) => ({ ok: true as const, v }),
        () => ({ ok: false as const }),
      );
      if (r.ok) await abandon(r.v).catch(() => {});
    }
    throw err;
  }
}
