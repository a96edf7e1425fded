/**
 * Runner tokens: the runner API accepts only genuine, unexpired tokens for the
 * project in the path; never the API_TOKEN. Also the Sandbox's outbound handler,
 * which serves the runner API (and nothing else) to runners in containers.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runnerOutboundHandler, Sandbox } from "../../src/sandbox-class";
import { RUNNER_INTERNAL_ORIGIN } from "../../src/shared/egress";
import { createRunnerTokens, runnerTokenSecret } from "../../src/snapshots/tokens";
import { TOKEN, uniqueProject } from "./support/http";
import { buildPack, putPack, runner, testTokens } from "./support/snapshots";

async function status(projectId: string, token: string | null, path = "/head"): Promise<[number, string]> {
  const res = await runner(projectId, path, { token });
  const body = (await res.json()) as { code?: string };
  return [res.status, body.code ?? "ok"];
}

describe("runner tokens", () => {
  it("a token for project A opens A and nothing else", async () => {
    const a = uniqueProject("tok-a");
    const b = uniqueProject("tok-b");
    const tokenA = await testTokens.mint(a, 60);
    expect(await status(a, tokenA)).toEqual([200, "ok"]);
    expect(await status(b, tokenA)).toEqual([401, "UNAUTHORIZED"]);

    const pack = await buildPack({ secret: "only in A" });
    expect((await putPack(a, pack)).status).toBe(201);
    const readFromB = await runner(b, `/packs/${pack.id}`, { token: tokenA });
    expect(readFromB.status).toBe(401);
    const writeToB = await runner(b, `/packs/${pack.id}`, {
      method: "PUT",
      body: pack.bytes,
      headers: { "content-length": String(pack.bytes.byteLength) },
      token: tokenA,
    });
    expect(writeToB.status).toBe(401);
    // B's own token reaches B's (empty) store, not A's pack.
    expect((await runner(b, `/packs/${pack.id}`, { method: "HEAD" })).status).toBe(404);
  });

  it("refuses expired, tampered, missing and API_TOKEN credentials", async () => {
    const projectId = uniqueProject("tok");
    // Minted an hour ago with a 10 s lifetime: the Worker (real clock) sees it expired.
    const past = createRunnerTokens(runnerTokenSecret({ API_TOKEN: TOKEN }), () => Date.now() - 3_600_000);
    expect(await status(projectId, await past.mint(projectId, 10))).toEqual([401, "UNAUTHORIZED"]);
    expect(await status(projectId, await past.mint(projectId, 7200))).toEqual([200, "ok"]);

    const good = await testTokens.mint(projectId, 60);
    const [prefix, payload, mac] = good.split(".") as [string, string, string];
    const forgedPayload = btoa(JSON.stringify({ p: projectId, exp: 9_999_999_999 })).replace(/=+$/, "");
    expect(await status(projectId, `${prefix}.${forgedPayload}.${mac}`)).toEqual([401, "UNAUTHORIZED"]);
    const flipped = mac.startsWith("A") ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
    expect(await status(projectId, `${prefix}.${payload}.${flipped}`)).toEqual([401, "UNAUTHORIZED"]);
    expect(await status(projectId, `${prefix}.${payload}`)).toEqual([401, "UNAUTHORIZED"]);

    expect(await status(projectId, TOKEN)).toEqual([401, "UNAUTHORIZED"]);
    expect(await status(projectId, null)).toEqual([401, "UNAUTHORIZED"]);

    const otherKey = createRunnerTokens(runnerTokenSecret({ RUNNER_TOKEN_SECRET: "another-secret" }));
    expect(await status(projectId, await otherKey.mint(projectId, 60))).toEqual([401, "UNAUTHORIZED"]);
  });

  it("fails closed without any secret, and carries the job id", async () => {
    const none = createRunnerTokens(runnerTokenSecret({}));
    await expect(none.mint("p", 60)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect(none.verify("rt1.e30.AAAA", "p")).rejects.toMatchObject({ code: "UNAUTHORIZED" });

    const tokens = createRunnerTokens(runnerTokenSecret({ RUNNER_TOKEN_SECRET: "s3cret" }));
    const claims = await tokens.verify(await tokens.mint("proj", 60, "job-7"), "proj");
    expect(claims).toMatchObject({ projectId: "proj", jobId: "job-7" });
  });
});

describe("outbound interception host", () => {
  it("the Sandbox class maps the runner host to the in-process runner API", () => {
    expect(RUNNER_INTERNAL_ORIGIN).toBe("http://runner.sandbox-worker.internal");
    // Plus the model APIs' host (test/worker/models-egress.test.ts).
    expect(Object.keys(Sandbox.outboundByHost ?? {})).toEqual([
      "runner.sandbox-worker.internal",
      "models.sandbox-worker.internal",
    ]);
  });

  it("serves the runner API and nothing else", async () => {
    const projectId = uniqueProject("outbound");
    const token = await testTokens.mint(projectId, 60);
    const headers = { authorization: `Bearer ${token}` };
    const res = await runnerOutboundHandler(
      new Request(`${RUNNER_INTERNAL_ORIGIN}/runner/v1/projects/${projectId}/head`, { headers }),
      env,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ snapshotId: null });

    const api = await runnerOutboundHandler(
      new Request(`${RUNNER_INTERNAL_ORIGIN}/sandboxes/${projectId}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
      env,
    );
    expect(api.status).toBe(404);
  });
});
