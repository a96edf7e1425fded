/**
 * Two test projects, run side by side, three files at a time, slowest first:
 * - `node`: sandboxd and other Node-side code, with real processes and bubblewrap.
 * - `workers`: the Worker in workerd (miniflare) through @cloudflare/vitest-plugin,
 *   talking to a real sandboxd (test/support/global-setup.ts starts it), the jail
 *   host where Cloudflare's container runtime runs each Sandbox's container.
 * Neither isolates its files: a file runs in a vitest worker (a Node process, or a
 * workerd runtime) that the files before it used, one after another, so every file leaves things as it would want to find them (the job files
 * reset the jobs table first). A fresh process or runtime per file cost 1-3 s each.
 */
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { sandboxdServiceBinding } from "./scripts/lib/sandboxd-binding.ts";
import { assignTestPorts, TEST_API_TOKEN, TEST_SANDBOXD_TOKEN } from "./test/support/ports.ts";
import { SlowFirstSequencer } from "./test/support/sequencer.ts";

/** A Workers test project (the plugin, its bindings, the shared servers) over `include`. */
function workersProject(
  name: string,
  include: string[],
  ports: { TEST_SANDBOXD_PORT: number },
  migrations: Awaited<ReturnType<typeof readD1Migrations>>,
) {
  return {
    plugins: [
      cloudflareTest({
        main: "./test/worker/entry.ts",
        // Not workerd --verbose (the plugin's default): it logs, with stack traces, every
        // exception that crosses an RPC boundary even when the caller handles it (the SDK's
        // typed errors, cancelled container streams). wrangler dev does not use it either.
        verbose: false,
        wrangler: { configPath: "./wrangler.jsonc" },
        miniflare: {
          bindings: {
            API_TOKEN: TEST_API_TOKEN,
            SANDBOXD_URL: `http://127.0.0.1:${ports.TEST_SANDBOXD_PORT}`,
            SANDBOXD_TOKEN: TEST_SANDBOXD_TOKEN,
            CLONE_ALLOWED_SCHEMES: "https,http",
            TEST_MIGRATIONS: migrations,
          },
          // The Durable Objects reach their jails straight, not through Miniflare's outbound
          // interceptor (scripts/lib/sandboxd-binding.ts).
          serviceBindings: { SANDBOXD: sandboxdServiceBinding(`http://127.0.0.1:${ports.TEST_SANDBOXD_PORT}`) },
        },
      }),
    ],
    test: {
      name,
      include,
      isolate: false,
      globalSetup: ["./test/support/global-setup.ts"],
      setupFiles: ["./test/worker/setup/apply-migrations.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
}

export default defineConfig(async () => {
  const ports = await assignTestPorts();
  // D1 migrations, applied by test/worker/setup/apply-migrations.ts inside workerd.
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      // Most tests wait on child processes (wrangler dev, workerd, sandboxd, bwrap, the
      // runner, opencode), not on vitest's own: on a 2-core machine vitest's default (one
      // file at a time) left a core idle for most of the run; more than three made the
      // CPU-heavy ones (opencode) slow enough to risk their timeouts on a loaded machine.
      maxWorkers: 3,
      sequence: { sequencer: SlowFirstSequencer },
      projects: [
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/node/**/*.test.ts"],
            globalSetup: ["./test/support/node-global-setup.ts"],
            isolate: false,
            // Ceilings for a loaded CI machine, not targets: a hung test still fails in a minute.
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        // The Worker in workerd: the files of one vitest worker share its runtime (a fresh
        // runtime per file cost ~3 s each) and run one after another in it.
        workersProject("workers", ["test/worker/**/*.test.ts"], ports, migrations),
      ],
    },
  };
});
