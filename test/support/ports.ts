/**
 * @module test/support/ports
 * Ports for the servers the Workers test project talks to. They are chosen when
 * vitest.config.ts loads (so they can be passed to miniflare as bindings) and
 * kept in process.env, where the global setup, running in the same process,
 * finds them to start the servers.
 */
import { freePort } from "../../scripts/lib/net.ts";

/** The env variable names the config and the global setup agree on. */
export const PORT_VARS = ["TEST_SANDBOXD_PORT"] as const;

/** Assigns a free port to each variable of PORT_VARS not already set; returns them. */
export async function assignTestPorts(): Promise<Record<(typeof PORT_VARS)[number], number>> {
  const out = {} as Record<(typeof PORT_VARS)[number], number>;
  for (const name of PORT_VARS) {
    process.env[name] ??= String(await freePort());
    out[name] = Number(process.env[name]);
  }
  return out;
}

/** Shared token between the Worker under test and the test sandboxd. */
export const TEST_SANDBOXD_TOKEN = "test-sandboxd-token";
/** The API token the Worker under test requires. */
export const TEST_API_TOKEN = "test-api-token";
