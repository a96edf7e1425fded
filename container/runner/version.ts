/**
 * @module runner/version
 * The runner's version: injected by scripts/build-runner.ts into the bundle
 * (esbuild `define`), read from package.json when the sources run directly.
 */
import { readFileSync } from "node:fs";

declare const __RUNNER_VERSION__: string | undefined;

function fromPackageJson(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return `${pkg.version ?? "0.0.0"}-dev`;
  } catch {
    return "0.0.0-dev";
  }
}

/** The version `--version` prints. */
export const RUNNER_VERSION: string = typeof __RUNNER_VERSION__ === "string" ? __RUNNER_VERSION__ : fromPackageJson();
