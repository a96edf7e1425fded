/**
 * @module test/worker/local.contract.test
 * The backend contract suite against the `local` adapter, talking to the real
 * sandboxd (with real bubblewrap) that test/support/global-setup.ts starts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createLocalBackend } from "../../src/backend/local";
import { defineBackendContract } from "./contract/backend-contract";

const make = () => createLocalBackend({ url: env.SANDBOXD_URL, token: env.SANDBOXD_TOKEN });

defineBackendContract("local (sandboxd + bubblewrap)", make);

describe("local adapter specifics", () => {
  it("runs isolated under bubblewrap in the test environment", async () => {
    const info = await make().ensure("local-specifics");
    expect(info).toMatchObject({ backend: "local", isolated: true });
  });

  it("a sandboxd that is not running is BACKEND_UNAVAILABLE (transient) with a hint", async () => {
    const down = createLocalBackend({ url: "http://127.0.0.1:9", token: "x" });
    const err = await down.ensure("anything").then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "BACKEND_UNAVAILABLE", kind: "transient", status: 503 });
    expect(String((err as Error).message)).toContain("npm run dev");
  });

  it("a wrong token is a permanent backend error, not the caller's 401", async () => {
    const wrong = createLocalBackend({ url: env.SANDBOXD_URL, token: "wrong" });
    await expect(wrong.ensure("anything")).rejects.toMatchObject({ status: 502, kind: "permanent" });
  });
});
