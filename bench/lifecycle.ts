/**
 * @module bench/lifecycle
 * The run discipline every benchmark shares: one idempotent cleanup, reached from
 * the normal end, SIGINT/SIGTERM and a hard stop past the time budget, so a bench
 * never leaves servers or temp directories behind; and one way to end on an error.
 */

/** A guarded run: `stop()` cleans up once (later calls share it); `finish()` is the normal end. */
export interface GuardedRun {
  stop(): Promise<void>;
  finish(): Promise<void>;
}

/**
 * Installs the signal handlers and a hard stop `hardStopMs` from now (both exit the
 * process after `cleanup`), and returns the run's stop/finish.
 */
export function guardRun(hardStopMs: number, cleanup: () => Promise<void>): GuardedRun {
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= cleanup());
  const hardStop = setTimeout(() => {
    console.error(`bench: over the ${Math.round(hardStopMs / 1000)} s budget; stopping`);
    void stop().then(() => process.exit(1));
  }, hardStopMs);
  hardStop.unref();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => void stop().then(() => process.exit(130)));
  }
  return {
    stop,
    finish: async () => {
      clearTimeout(hardStop);
      await stop();
    },
  };
}

/** Runs a bench's main; an error is printed in one line and exits non-zero. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
