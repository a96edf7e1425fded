/**
 * The deploy configuration agrees with itself: the Dockerfile's base image tag is
 * the @cloudflare/sandbox version the Worker bundles (the SDK and the container's
 * control server speak one protocol; a mismatch only fails at runtime), and
 * wrangler.jsonc binds the container, the Durable Object and its migration; the
 * image installs the opencode CLI at the exact version the tests run.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

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
    expect(dockerfile).toMatch(/^ENV SANDBOX_RUNNER_DIR=\/opt\/sandbox-worker$/m);
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
