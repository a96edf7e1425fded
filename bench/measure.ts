/**
 * @module bench/measure
 * Load generation and statistics for the benches: run one async request N times
 * with C concurrent clients (or several requests in turn at one client), time each,
 * count failures, and summarise as p50/p95/p99 latency and requests per second.
 * Bounded by count and by a deadline.
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
  p95Ms: number;
  p99Ms: number;
  rps: number;
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest-rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Summarises the latencies (ms) of one run that took `elapsedMs` in all. */
function summary(latencies: number[], errors: number, samples: Set<string>, issued: number, elapsedMs: number) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests: issued,
    errors,
    errorSamples: [...samples],
    p50Ms: quantile(sorted, 0.5),
    p95Ms: quantile(sorted, 0.95),
    p99Ms: quantile(sorted, 0.99),
    rps: elapsedMs > 0 ? (sorted.length * 1000) / elapsedMs : 0,
  };
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
  return summary(latencies, errors, samples, issued, performance.now() - started);
}

/**
 * One client running each of `ops` in turn, `count` rounds (the first op of each round
 * rotating), so slow drift (CPU frequency, other load) hits every op alike; one result
 * per op, its req/s over the time spent in that op. Stops at `deadline` (epoch ms).
 */
export async function interleaved(ops: Op[], count: number, deadline: number): Promise<RunResult[]> {
  const state = ops.map(() => ({ latencies: [] as number[], errors: 0, samples: new Set<string>(), issued: 0, ms: 0 }));
  for (let round = 0; round < count && Date.now() < deadline; round++) {
    for (let k = 0; k < ops.length; k++) {
      const i = (round + k) % ops.length;
      const s = state[i];
      const op = ops[i];
      if (!s || !op) continue;
      s.issued++;
      const t0 = performance.now();
      try {
        await op();
        s.latencies.push(performance.now() - t0);
      } catch (err) {
        s.errors++;
        if (s.samples.size < 3) s.samples.add(err instanceof Error ? err.message : String(err));
      }
      s.ms += performance.now() - t0;
    }
  }
  return state.map((s) => summary(s.latencies, s.errors, s.samples, s.issued, s.ms));
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
