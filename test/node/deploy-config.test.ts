/**
 * The deploy configuration agrees with itself: the Dockerfile's base image tag is
 * the @cloudflare/sandbox version the Worker bundles (the SDK and the container's
 * control server speak one protocol; a mismatch only fails at runtime), and
 * wrangler.jsonc binds the container, the Durable Object and its migration; the
 * image installs the opencode CLI at the exact version the tests run. Local sandboxes run
 * Cloudflare's runtime from source (scripts/lib/sandbox-runtime.ts): its version is that same
 * one, and the vendored copy (CF_SANDBOX_RUNTIME_DIR in CI) is the pinned source.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  RUNTIME_NOT_FOUND_MESSAGE,
  RUNTIME_SOURCE_SHA256,
  RUNTIME_TAG,
  RUNTIME_VERSION,
  runtimeSourceChecksum,
} from "../../scripts/lib/sandbox-runtime.ts";
import { RUNNER_PATH } from "../../src/shared/snapshot-format.ts";
import { VENDORED_RUNTIME_DIR } from "../support/vendored-runtime.ts";

const root = join(import.meta.dirname, "..", "..");
const read = (file: string) => readFileSync(join(root, file), "utf8");

/** wrangler.jsonc without comments (it is JSON with comments). */
function wranglerConfig() {
  const text = read("wrangler.jsonc").replace(/^\s*\/\/.*$/gm, "");
  return JSON.parse(text);
}

describe("deploy configuration", () => {
  it("pins the Dockerfile base image to the installed @cloudflare/sandbox version", () => {
    const pinned = JSON.parse(read("package.json")).dependencies["@cloudflare/sandbox"];
    const installed = JSON.parse(read("node_modules/@cloudflare/sandbox/package.json")).version;
    expect(pinned).toBe(installed);
    const from = /^FROM\s+(\S+)/m.exec(read("Dockerfile"))?.[1];
    expect(from).toMatch(new RegExp(`^docker\\.io/cloudflare/sandbox:${installed.replace(/\./g, "\\.")}(-python)?$`));
  });

  it("runs the exec hot path sessionless with the SDK's own token (src/sandbox-class.ts SESSIONLESS)", () => {
    const ours = /export const SESSIONLESS = "([^"]+)"/.exec(read("src/sandbox-class.ts"))?.[1];
    const dist = join("node_modules/@cloudflare/sandbox/dist");
    const sdk = readdirSync(join(root, dist))
      .filter((f) => f.endsWith(".js"))
      .map((f) => /const DISABLE_SESSION_TOKEN = "([^"]+)"/.exec(read(join(dist, f)))?.[1])
      .find((token) => token !== undefined);
    expect(sdk).toBeDefined();
    expect(ours).toBe(sdk);
  });

  it("reads the SDK's own storage keys where its fields are private (src/sandbox-class.ts onActivityExpired, readSettings)", () => {
    const dist = join("node_modules/@cloudflare/sandbox/dist");
    const sdk = readdirSync(join(root, dist))
      .filter((f) => f.endsWith(".js"))
      .map((f) => read(join(dist, f)))
      .join("\n");
    const ours = read("src/sandbox-class.ts");
    for (const key of ["sandboxName", "keepAliveEnabled", "sleepAfter"]) {
      expect(ours, key).toMatch(new RegExp(`storage\\.get<[^>]+>\\("${key}"\\)`));
      expect(sdk, key).toContain(`this.ctx.storage.put("${key}"`);
    }
  });

  it("runs the same Cloudflare runtime version locally, from the pinned source", async () => {
    const pkg = JSON.parse(read("package.json"));
    const installed = JSON.parse(read("node_modules/@cloudflare/sandbox/package.json")).version;
    expect(RUNTIME_VERSION).toBe(pkg.dependencies["@cloudflare/sandbox"]);
    expect(RUNTIME_VERSION).toBe(installed);
    expect(/^FROM\s+docker\.io\/cloudflare\/sandbox:(\S+?)(-python)?$/m.exec(read("Dockerfile"))?.[1]).toBe(
      RUNTIME_VERSION,
    );
    expect(RUNTIME_TAG).toBe(`@cloudflare/sandbox@${RUNTIME_VERSION}`);

    // The vendored copy (CI points CF_SANDBOX_RUNTIME_DIR at it) is the pinned source.
    const vendored = VENDORED_RUNTIME_DIR;
    if (existsSync(vendored)) {
      expect(await runtimeSourceChecksum(vendored)).toBe(RUNTIME_SOURCE_SHA256);
      // Bun and the runtime's npm dependencies at the versions the runtime declares.
      const bunVersion = readFileSync(join(vendored, ".bun-version"), "utf8").trim();
      expect(pkg.devDependencies.bun).toBe(bunVersion);
      expect(JSON.parse(read("node_modules/bun/package.json")).version).toBe(bunVersion);
      const runtimeDeps = JSON.parse(readFileSync(join(vendored, "packages/sandbox-container/package.json"), "utf8"))
        .dependencies as Record<string, string>;
      for (const dep of ["acorn", "async-mutex"]) expect(pkg.devDependencies[dep]).toBe(runtimeDeps[dep]);
      for (const dep of ["acorn", "async-mutex", "capnweb"]) {
        const version = JSON.parse(read(`node_modules/${dep}/package.json`)).version;
        expect(satisfiesCaret(version, runtimeDeps[dep] ?? ""), `${dep}@${version} vs ${runtimeDeps[dep]}`).toBe(true);
      }
    } else if (process.env.CF_SANDBOX_RUNTIME_DIR) {
      throw new Error(RUNTIME_NOT_FOUND_MESSAGE);
    }
  });

  it("declares the container, the Durable Object binding and its SQLite migration", () => {
    const config = wranglerConfig();
    expect(config.containers).toEqual([
      expect.objectContaining({ class_name: "Sandbox", image: "./Dockerfile", instance_type: expect.any(String) }),
    ]);
    expect(config.containers[0].max_instances).toBeGreaterThan(0);
    expect(config.durable_objects.bindings).toContainEqual({ class_name: "Sandbox", name: "Sandbox" });
    expect(config.migrations.flatMap((m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes ?? [])).toContain(
      "Sandbox",
    );
  });

  it("installs what seed 003 lists into the image, and the runner at a fixed path", () => {
    const dockerfile = read("Dockerfile");
    for (const tool of ["git", "build-essential", "requests", "gitpython", "typescript", "ts-node", "esbuild"]) {
      expect(dockerfile).toContain(tool);
    }
    // The path the Worker runs the runner from (RUNNER_PATH), not a variable nobody reads.
    expect(RUNNER_PATH).toBe("/opt/sandbox-worker/runner.mjs");
    expect(dockerfile).toMatch(/^COPY dist\/runner\/runner\.mjs \/opt\/sandbox-worker\/runner\.mjs$/m);
    // The opencode agent spawns the CLI the image installs: the version the tests ran.
    const opencode = JSON.parse(read("package.json")).devDependencies["opencode-ai"];
    expect(opencode).toMatch(/^\d+\.\d+\.\d+$/);
    expect(JSON.parse(read("node_modules/opencode-ai/package.json")).version).toBe(opencode);
    expect(dockerfile).toMatch(new RegExp(`^RUN npm install -g opencode-ai@${opencode.replace(/\./g, "\\.")} `, "m"));
    // The image is built on deploy; the bundle must be built before it.
    expect(JSON.parse(read("package.json")).scripts.predeploy).toBe("npm run -s build:runner");
  });
});

/** `version` satisfies `^range` (npm's caret: same major, or same minor below 1.0). */
function satisfiesCaret(version: string, range: string): boolean {
  const want = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(range)?.slice(1).map(Number);
  const have = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number);
  if (!want || !have) return false;
  const [wMajor = 0, wMinor = 0, wPatch = 0] = want;
  const [hMajor = 0, hMinor = 0, hPatch = 0] = have;
  if (hMajor !== wMajor || (wMajor === 0 && hMinor !== wMinor)) return false;
  return hMinor > wMinor || (hMinor === wMinor && hPatch >= wPatch);
}
