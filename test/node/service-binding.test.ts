/**
 * A second Worker reaches sandbox-worker over a service binding, as a customer's
 * web worker would: two `wrangler dev` sessions (sandbox-worker on the local
 * backend, and test/fixtures/web-worker bound to it by name through wrangler's
 * dev registry), a real sandboxd, and create, exec and files driven through the
 * binding.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, randomToken } from "../../scripts/lib/net.ts";
import { Supervisor } from "../../scripts/lib/proc.ts";
import { startSandboxd, startWorkerDev } from "../../scripts/lib/services.ts";

const sup = new Supervisor((child, code) => {
  console.error(`${child.name} exited early with ${code}:\n${child.tail().join("\n")}`);
});
const apiToken = randomToken();
const root = mkdtempSync(join(tmpdir(), "sandboxd-binding-"));
// A private dev registry, so parallel runs on one machine never bind to each other's Workers.
const registry = mkdtempSync(join(tmpdir(), "wrangler-registry-"));
let webUrl = "";

describe("service binding", () => {
  beforeAll(async () => {
    const env = { ...process.env, WRANGLER_REGISTRY_PATH: registry };
    const sandboxd = await startSandboxd(sup, { root, output: "quiet" });
    await startWorkerDev(sup, {
      port: await freePort(),
      containers: false,
      vars: {
        SANDBOX_BACKEND: "local",
        SANDBOXD_URL: sandboxd.url,
        SANDBOXD_TOKEN: sandboxd.token,
        API_TOKEN: apiToken,
      },
      extraArgs: ["--inspector-port", String(await freePort()), "--persist-to", join(root, "wrangler-state")],
      env,
      output: "quiet",
    });
    const web = await startWorkerDev(sup, {
      port: await freePort(),
      containers: false,
      vars: {},
      extraArgs: ["-c", "test/fixtures/web-worker/wrangler.jsonc", "--inspector-port", String(await freePort())],
      env,
      output: "quiet",
    });
    webUrl = web.url;
  }, 120_000);

  afterAll(async () => {
    await sup.stopAll();
    rmSync(root, { recursive: true, force: true });
    rmSync(registry, { recursive: true, force: true });
  });

  it("creates, execs, writes and reads through env.SANDBOX_WORKER.fetch", async () => {
    const res = await fetch(`${webUrl}/demo/binding-demo`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiToken}` },
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.create).toMatchObject({
      status: 200,
      body: { success: true, data: { projectId: "binding-demo", status: "ready" } },
    });
    expect(body.exec).toMatchObject({ status: 200, body: { data: { stdout: "via-binding\n", exitCode: 0 } } });
    expect(body.write).toMatchObject({ status: 200, body: { data: { path: "/workspace/from-web.txt" } } });
    expect(body.read).toMatchObject({ status: 200, body: { data: { content: "written through a service binding" } } });
  });

  it("authenticates binding calls like any other: a wrong token is refused", async () => {
    const res = await fetch(`${webUrl}/demo/binding-demo`, {
      method: "POST",
      headers: { authorization: "Bearer nope" },
    });
    const body = await res.json();
    expect(body.create).toMatchObject({ status: 401, body: { success: false, code: "UNAUTHORIZED" } });
  });
});
