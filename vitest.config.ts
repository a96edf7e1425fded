/**
 * Three test projects, run side by side, three files at a time, slowest first:
 * - `node`: sandboxd and other Node-side code, with real processes and bubblewrap.
 * - `workers` and `workers-jobs`: the Worker in workerd (miniflare) through
 *   @cloudflare/vitest-plugin, talking to a real sandboxd (local backend) and to the
 *   stand-in container (cloudflare backend) that test/support/global-setup.ts starts.
 */
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { configDefaults, defineConfig } from "vitest/config";
import { assignTestPorts, TEST_API_TOKEN, TEST_SANDBOXD_TOKEN } from "./test/support/ports.ts";
import { SlowFirstSequencer } from "./test/support/sequencer.ts";

/** A Workers test project (the plugin, its bindings, the shared servers) over `include`. */
function workersProject(
  name: string,
  include: string[],
  exclude: string[],
  isolate: boolean,
  ports: { TEST_SANDBOXD_PORT: number; TEST_STANDIN_CONTAINER_PORT: number },
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
            SANDBOX_BACKEND: "local",
            SANDBOXD_URL: `http://127.0.0.1:${ports.TEST_SANDBOXD_PORT}`,
            SANDBOXD_TOKEN: TEST_SANDBOXD_TOKEN,
            CLONE_ALLOWED_SCHEMES: "https,http",
            STANDIN_CONTAINER_URL: `http://127.0.0.1:${ports.TEST_STANDIN_CONTAINER_PORT}`,
            TEST_MIGRATIONS: migrations,
            // The SDK logs every call at "info" (JSON objects on stdout); tests read warnings only.
            SANDBOX_LOG_LEVEL: "warn",
          },
        },
      }),
    ],
    test: {
      name,
      include,
      exclude: [...configDefaults.exclude, ...exclude],
      isolate,
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
            // Ceilings for a loaded CI machine, not targets: a hung test still fails in a minute.
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        // The Worker in workerd. Most files share one runtime per vitest worker (a fresh
        // runtime per file cost ~3 s each); the job files keep one each, since they
        // reset, lease from and count the whole jobs table of their D1.
        workersProject(
          "workers",
          ["test/worker/**/*.test.ts"],
          ["test/worker/jobs-*.test.ts"],
          false,
          ports,
          migrations,
        ),
        workersProject("workers-jobs", ["test/worker/jobs-*.test.ts"], [], true, ports, migrations),
      ],
    },
  };
});
