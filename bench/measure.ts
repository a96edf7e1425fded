/**
 * @module bench/measure
 * Load generation and statistics for bench/api.ts: run one async request N times
 * with C concurrent clients, time each, count failures, and summarise as
 * p50/p99 latency and requests per second. Bounded by count and by a deadline.
 */

/** One request; throws (or rejects) when the answer is wrong. */
export type Op = () => Promise<void>;

/** What one measurement run produced. */
export interface RunResult {
  requests: number;
  errors: number;
  /** The first few distinct error messages, for the report. */
  errorSamples: string[];
  p50Ms: number;
  p99Ms: number;
  rps: number;
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Runs `op` `count` times with `concurrency` clients pulling from a shared counter.
 * Stops issuing new requests at `deadline` (epoch ms) so a stuck server cannot hold
 * the benchmark; requests not issued are simply not counted.
 */
export async function run(op: Op, count: number, concurrency: number, deadline: number): Promise<RunResult> {
  const latencies: number[] = [];
  const samples = new Set<string>();
  let issued = 0;
  let errors = 0;
  const client = async (): Promise<void> => {
    while (issued < count && Date.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        await op();
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        if (samples.size < 3) samples.add(err instanceof Error ? err.message : String(err));
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedS = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: issued,
    errors,
    errorSamples: [...samples],
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    rps: elapsedS > 0 ? latencies.length / elapsedS : 0,
  };
}

/** Throws with the status and a snippet of the body unless `res` is 2xx; returns the body bytes. */
export async function expectOk(res: Response, what: string): Promise<Uint8Array> {
  const body = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) {
    const text = new TextDecoder().decode(body.subarray(0, 200));
    throw new Error(`${what}: HTTP ${res.status} ${text}`);
  }
  return body;
}
