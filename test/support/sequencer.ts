/**
 * @module test/support/sequencer
 * The order test files start in. Without it vitest orders files by size (or by the
 * durations its cache remembers, absent on CI), so slow files could start last and run
 * alone at the end while a core idles. This starts the slowest files first (longest-first
 * keeps the workers busy to the end), by an estimate from the file's path. Projects in
 * different `sequence.groupOrder`s still run one group after the other.
 */
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Estimates (ms) per file, first match wins: their own durations in a full run on an
 * idle 2-core machine, rounded, except that the opencode CLI's two files (the slowest and
 * most CPU-hungry) do not start together: on a cold CI machine both at once, beside every
 * project's setup, kept opencode from its first model call for a minute. The runner's
 * starts first, the end-to-end one in the second wave.
 */
const ESTIMATES: ReadonlyArray<[RegExp, number]> = [
  [/runner\/agent-opencode/, 80_000],
  [/test\/worker\/.*contract/, 70_000],
  [/no-lost-work/, 60_000],
  [/rename-race/, 50_000],
  [/cloudflare-backend/, 42_000],
  [/agents-e2e-opencode/, 35_000],
  [/(jobs-leases|run-job-faults)/, 34_000],
  [/jobs-e2e/, 30_000],
  [/(runner\/process|agent-claude)/, 24_000],
  [/(worker\/api|sandboxd\/jails|runner\/run-job\.test)/, 15_000],
  [/(service-binding|sync-e2e|snapshots-e2e|http-edges|agents-e2e|escape-e2e)/, 10_000],
  [
    /(sandboxd\/(internet|jail-proxy|workspace-volume|limits-jail)|runner\/sync|worker\/(processes|files|archives|clone|jobs-start|jobs-runner)|sandbox-runtime|install)/,
    9_000,
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
