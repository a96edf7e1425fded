/**
 * The typed client (src/client.ts) against the real app: its process methods, whose
 * declared types once disagreed with what the API answers (listProcesses is the
 * `{processes}` data; processLogs asks for `format=json`, not the SSE stream). Every
 * answer it gets is checked against the OpenAPI document too.
 */
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sandboxClient } from "../../src/client";
import { checkAgainstDocument, TOKEN } from "./support/http";

const client = sandboxClient(async (req) => {
  const headers = new Headers(req.headers);
  headers.set("authorization", `Bearer ${TOKEN}`);
  const request = new Request(req, { headers });
  const res = await exports.default.fetch(request);
  await checkAgainstDocument(request, res);
  return res;
});

describe("sandboxClient", () => {
  it("lists processes and reads their buffered logs as the API answers them", async () => {
    const p = `client-${Date.now().toString(36)}`;
    await client.createSandbox(p);
    const started = await client.startProcess(p, { command: "echo out; echo err >&2" });
    const listed = await client.listProcesses(p);
    expect(listed.processes.map((x) => x.id)).toContain(started.id);
    // The process's output arrives as it runs; wait until both lines are buffered.
    let logs = await client.processLogs(p, started.id);
    for (let i = 0; i < 50 && !(logs.stdout.includes("out") && logs.stderr.includes("err")); i++) {
      await new Promise((r) => setTimeout(r, 100));
      logs = await client.processLogs(p, started.id);
    }
    expect(logs).toEqual({ id: started.id, stdout: "out\n", stderr: "err\n" });
    const cleaned = await client.deleteSandbox(p);
    expect(cleaned).toMatchObject({ projectId: p, status: "cleaned" });
  });
});
