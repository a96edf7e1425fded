/**
 * @module runner/limiter
 * Bounded concurrency for many small fs operations (restore writes thousands of
 * files; awaited one at a time, they left libuv's thread pool mostly idle and
 * restore ran ~20× slower than tar, see bench:snapshot). `run` waits for a free
 * slot, starts the task and returns; `drain` waits for all and throws the first
 * failure. A cost bound (bytes held by queued tasks) keeps memory flat.
 */

/** Runs tasks with at most `limit` in flight and at most `maxCost` of their cost held. */
export class Limiter {
  private readonly limit: number;
  private readonly maxCost: number;
  private readonly inFlight = new Set<Promise<void>>();
  private held = 0;
  private failure: unknown = null;

  constructor(limit: number, maxCost = Number.POSITIVE_INFINITY) {
    this.limit = Math.max(1, limit);
    this.maxCost = maxCost;
  }

  /** Starts `task` once a slot (and `cost` of budget) is free. Throws an earlier task's failure. */
  async run(task: () => Promise<void>, cost = 0): Promise<void> {
    while (
      this.failure === null &&
      this.inFlight.size > 0 &&
      (this.inFlight.size >= this.limit || this.held + cost > this.maxCost)
    ) {
      await Promise.race(this.inFlight);
    }
    if (this.failure !== null) throw this.failure;
    this.held += cost;
    const p: Promise<void> = task().then(
      () => {
        this.held -= cost;
        this.inFlight.delete(p);
      },
      (err: unknown) => {
        this.held -= cost;
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
  }

  /** Waits for every task started; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    if (this.failure !== null) throw this.failure;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; throws the first failure after all settle. */
export async function forEachLimited<T>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const l = new Limiter(limit);
  try {
    for (const item of items) await l.run(() => fn(item));
  } catch {
    // A task failed: stop starting new ones; drain() below waits for the rest and rethrows it.
  }
  await l.drain();
}
