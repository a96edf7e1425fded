/**
 * @module test/worker/contract/provided-context
 * Values the workers global setup hands to tests through vitest's provide/inject
 * (the node-side twin is test/support/provided-context.d.ts).
 */
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Dumb-HTTP URL of a bare repository with branches main and feature (test/support/git-repos.ts). */
    gitRepoUrl: string;
    /** Full SHA of main and of feature in that repository. */
    gitMainCommit: string;
    gitFeatureCommit: string;
  }
}
