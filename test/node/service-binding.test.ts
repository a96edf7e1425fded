/**
 * A second Worker reaches sandbox-worker over a service binding, as a customer's
 * web worker would: two `wrangler dev` sessions (sandbox-worker on the local
 * backend, and test/fixtures/web-worker bound to it by name through wrangler's
 * dev registry), a real sandboxd, and create, exec and files driven through the
 * binding.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/net.ts";
import { startWorkerDev } from "../../scripts/lib/services.ts";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
let webUrl = "";

describe("service binding", () => {
  beforeAll(async () => {
    stack = await startStack();
    const web = await startWorkerDev(stack.supervisor, {
      port: await freePort(),
      containers: false,
      vars: {},
      extraArgs: ["-c", "test/fixtures/web-worker/wrangler.jsonc", "--inspector-port", String(await freePort())],
      env: stack.env,
      output: "quiet",
    });
    webUrl = web.url;
    // Two wrangler dev sessions and a sandboxd: each step is bounded on its own; together
    // they may need more than the other stacks' 180 s on a loaded machine.
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it("creates, execs, writes and reads through env.SANDBOX_WORKER.fetch", async () => {
    const res = await fetch(`${webUrl}/demo/binding-demo`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.apiToken}` },
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

  for (const [transport, path] of [
    ["typed RPC on the SandboxApi entrypoint (no token)", "rpc"],
    ["the typed HTTP client over the binding (the token)", "client"],
  ] as const) {
    it(`offers ${transport}: same answers, streams as NDJSON, refusals by code`, async () => {
      const p = `${path}-demo`;
      const auth: Record<string, string> = path === "client" ? { authorization: `Bearer ${stack.apiToken}` } : {};
      const res = await fetch(`${webUrl}/${path}/${p}`, { method: "POST", headers: auth });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body.create).toMatchObject({ value: { projectId: p, status: "ready" } });
      expect(body.exec).toMatchObject({ value: { stdout: "via-rpc\n", exitCode: 0 } });
      expect(body.write).toMatchObject({ value: { path: "/workspace/from-rpc.txt" } });
      expect(body.read).toMatchObject({ value: { content: "written through RPC", encoding: "utf8" } });
      const types = body.events.map((e: { type: string }) => e.type);
      expect(types[0]).toBe("start");
      expect(types.at(-1)).toBe("exit");
      expect(body.events).toContainEqual(expect.objectContaining({ type: "stdout", data: "one\n" }));
      expect(body.events).toContainEqual(expect.objectContaining({ type: "stderr", data: "two\n" }));
      expect(body.events.at(-1)).toMatchObject({ type: "exit", exitCode: 0 });
      expect(body.listed.value.sandboxes.map((s: { projectId: string }) => s.projectId)).toContain(p);
      expect(body.missing).toEqual({ error: expect.stringMatching(/^SANDBOX_NOT_FOUND: /) });
      expect(body.badExec).toEqual({ error: expect.stringMatching(/^VALIDATION_ERROR: command/) });
    });
  }
});
