/**
 * @module test/support/sequencer
 * The order test files start in. On a machine with no result cache (CI) vitest
 * orders files by size, so slow end-to-end files could start last and run alone at
 * the end while a core idles. This starts the slowest files first (longest-first
 * keeps the workers busy to the end): by the duration the cache remembers when
 * there is one, else by an estimate from the file's path. Projects in different
 * `sequence.groupOrder`s still run one group after the other.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Estimates (ms) for files without a cached duration, first match wins: their own
 * durations in a full run on an idle 2-core machine, rounded, except that the opencode
 * CLI's two files (the slowest and most CPU-hungry) do not start together: on a cold CI
 * machine both at once, beside every project's setup, kept opencode from its first
 * model call for a minute. The runner's starts first, the end-to-end one in the second
 * wave.
 */
const ESTIMATES: ReadonlyArray<[RegExp, number]> = [
  [/runner\/agent-opencode/, 70_000],
  [/no-lost-work/, 53_000],
  [/test\/worker\/.*contract/, 45_000],
  [/run-job-faults/, 41_000],
  [/agents-e2e-opencode/, 35_000],
  [/(jobs-leases|runner\/process|agent-claude|cloudflare-backend|snapshots-e2e)/, 30_000],
  [/(service-binding|jobs-e2e|sync-e2e|runner\/run-job\.test|http-edges|agents-e2e|worker\/api)/, 17_000],
  [
    /(sandboxd\/jail|runner\/sync|worker\/(processes|files|clone|jobs-start|jobs-runner)|sandbox-runtime|install)/,
    8_000,
  ],
  [/sandboxd\//, 5_000],
  // The Worker's other files: a few seconds each.
  [/test\/worker\//, 2_000],
];

export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const estimate = (spec: TestSpecification): number => {
      return ESTIMATES.find(([pattern]) => pattern.test(spec.moduleId))?.[1] ?? 1_000;
    };
    const weights = new Map(files.map((f) => [f, estimate(f)]));
    return [...files].sort((a, b) => (weights.get(b) ?? 0) - (weights.get(a) ?? 0));
  }
}
