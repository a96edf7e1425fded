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
 * Estimates (ms) for files without a cached duration, first match wins. The Worker's
 * contract files go first, so that starting its runtime overlaps the rest. The opencode
 * CLI's two files are the slowest and the most CPU-hungry (~8 CPU-seconds a run): one
 * starts early, the other with the stacks, since together they slow each other down
 * more than they save (measured: 184 s apart, 197 s together).
 */
const ESTIMATES: ReadonlyArray<[RegExp, number]> = [
  [/test\/worker\/.*contract/, 90_000],
  [/agents-e2e-opencode/, 60_000],
  [/runner\/agent-opencode/, 45_000],
  // Real stacks (wrangler dev, sandboxd), agents, big trees: tens of seconds each.
  [/(e2e|agent|no-lost-work|service-binding|runner\/process|run-job|jobs-leases)/, 30_000],
  // The Worker's other files: a few seconds each.
  [/test\/worker\//, 5_000],
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
