/**
 * Two test projects:
 * - `node`: sandboxd and other Node-side code, with real processes and bubblewrap.
 * - `workers`: the Worker in workerd (miniflare) through @cloudflare/vitest-plugin,
 *   talking to a real sandboxd (local backend) and to the stand-in container
 *   (cloudflare backend) that test/support/global-setup.ts starts.
 */
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { assignTestPorts, TEST_API_TOKEN, TEST_SANDBOXD_TOKEN } from "./test/support/ports.ts";

export default defineConfig(async () => {
  const ports = await assignTestPorts();
  // D1 migrations, applied by test/worker/setup/apply-migrations.ts inside workerd.
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      projects: [
        {
          test: {
            name: "node",
            environment: "node",
            include: ["test/node/**/*.test.ts"],
            testTimeout: 30_000,
            hookTimeout: 30_000,
          },
        },
        {
          plugins: [
            cloudflareTest({
              main: "./test/worker/entry.ts",
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
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/worker/**/*.test.ts"],
            globalSetup: ["./test/support/global-setup.ts"],
            setupFiles: ["./test/worker/setup/apply-migrations.ts"],
            testTimeout: 30_000,
            hookTimeout: 30_000,
          },
        },
      ],
    },
  };
});
