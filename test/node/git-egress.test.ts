/**
 * Git credentials added on egress (src/git-host/smart-http.ts), with real git on both
 * ends: a node server answers as the Worker's `/git/*` route does (forwardGit for a
 * fixed job) and forwards to the git smart-HTTP server (auth required) with the host's
 * token. The client's git holds no token: it fetches and pushes its job's push branch;
 * a push to any other branch, a deletion, another repository or a push by a job that
 * pushes nothing is refused before the host is asked.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.ts";
import { type GitHost, gitHostOf } from "../../src/git-host/config.ts";
import { forwardGit } from "../../src/git-host/smart-http.ts";
import type { Job } from "../../src/shared/job-format.ts";
import { type GitSmartHttp, startGitSmartHttp } from "../support/git-smart-http.ts";
import { makeJob } from "../support/standin-job-routes.ts";

const TOKEN = "ghp_egressToken0123456789abc";
let git: GitSmartHttp;
let host: GitHost;
let proxy: Server;
let proxyUrl: string;
let job: Job;
let work: string;

/** Runs git (async: both servers live in this process); resolves with its exit code and stderr. */
function runGit(cwd: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "git",
      args,
      {
        cwd,
        env: {
          ...process.env,
          GIT_TERMINAL_PROMPT: "0",
          GIT_ASKPASS: "/bin/false",
          GIT_AUTHOR_NAME: "a",
          GIT_AUTHOR_EMAIL: "a@a",
          GIT_COMMITTER_NAME: "a",
          GIT_COMMITTER_EMAIL: "a@a",
        },
      },
      (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

beforeEach(async () => {
  git = await startGitSmartHttp({ tokens: [TOKEN], privateReads: true });
  host = gitHostOf({ GITHUB_TOKEN: TOKEN, GITHUB_URL: git.url }) as GitHost;
  await git.makeRepo("acme", "app", { "a.txt": "a\n" });
  await git.makeRepo("acme", "other", { "b.txt": "b\n" });
  job = makeJob("p", { repo: { url: `${git.url}/acme/app.git`, branch: null, pushBranch: "agent/x" } });
  // The Worker's route, for one job: `/git/<rest>` → forwardGit; refusals as the error mapper answers them.
  proxy = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const hasBody = req.method === "POST";
    const request = new Request(url, {
      method: req.method,
      headers: req.headers as Record<string, string>,
      ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: "half" } : {}),
    } as RequestInit);
    forwardGit(request, job, host, url.pathname.replace(/^\/git/, "")).then(
      async (answer) => {
        const headers: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          headers[name] = value;
        });
        res.writeHead(answer.status, headers);
        if (answer.body)
          for await (const chunk of answer.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
        res.end();
      },
      (err: unknown) => {
        const status = err instanceof AppError ? err.status : 500;
        res.writeHead(status, { "content-type": "text/plain" }).end(String((err as Error).message));
      },
    );
  });
  await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/git`;
  work = await mkdtemp(join(tmpdir(), "git-egress-"));
});
afterEach(async () => {
  await new Promise<void>((r) => {
    proxy.closeAllConnections();
    proxy.close(() => r());
  });
  await git.close();
  await rm(work, { recursive: true, force: true });
});

describe("git through the Worker (egress credentials)", () => {
  it("clones and pushes the job's branch with no token on the client; anything else is refused", async () => {
    const cloned = await runGit(work, "clone", "-q", `${proxyUrl}/acme/app.git`, "c");
    expect(cloned.code, cloned.stderr).toBe(0);
    const c = join(work, "c");
    await writeFile(join(c, "a.txt"), "changed\n");
    expect((await runGit(c, "commit", "-qam", "work")).code).toBe(0);
    const ok = await runGit(c, "push", "-q", "origin", "HEAD:refs/heads/agent/x");
    expect(ok.code, ok.stderr).toBe(0);
    expect(git.commitOf("acme", "app", "agent/x")).toBe(
      (
        await new Promise<string>((r) => execFile("git", ["rev-parse", "HEAD"], { cwd: c }, (_e, out) => r(out)))
      ).trim(),
    );
    // Every request reached the server with the host's token, added by the proxy.
    expect(
      git.authorizations.every((a) => a === `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString("base64")}`),
    ).toBe(true);

    const main = await runGit(c, "push", "-q", "origin", "HEAD:refs/heads/main");
    expect(main.code).not.toBe(0);
    expect(main.stderr).toMatch(/403/);
    expect(git.commitOf("acme", "app", "main")).not.toBe(git.commitOf("acme", "app", "agent/x"));
    const del = await runGit(c, "push", "-q", "origin", ":refs/heads/agent/x");
    expect(del.code).not.toBe(0);
    expect(git.commitOf("acme", "app", "agent/x")).not.toBeNull();
    const other = await runGit(work, "clone", "-q", `${proxyUrl}/acme/other.git`, "o");
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/403/);

    // A job that pushes nothing may fetch, not push.
    job = { ...job, repo: { url: `${git.url}/acme/app.git`, branch: null, pushBranch: null } };
    expect((await runGit(c, "fetch", "-q", "origin")).code).toBe(0);
    const none = await runGit(c, "push", "-q", "origin", "HEAD:refs/heads/agent/x");
    expect(none.code).not.toBe(0);
  });
});
