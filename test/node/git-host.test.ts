/**
 * The Worker's git host side (src/git-host/) against the GitHub REST stand-in
 * (test/support/github-standin.ts) over real repositories (git-smart-http.ts):
 * repositories only on the configured host; pull requests opened,
 * an existing one answered again (422 "already exists"), GitHub's refusals as
 * PULL_REQUEST_FAILED with its words; rate limits (403 and 429) retried after their
 * Retry-After, a wait too long not; a GitHub App's JWT (RS256 by WebCrypto, checked
 * by the stand-in with the App's public key) minting an installation token that
 * opens the one repository and no other.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.ts";
import { appJwt } from "../../src/git-host/app-token.ts";
import { type GitHost, gitHostOf, repoOnHost } from "../../src/git-host/config.ts";
import { repoToken } from "../../src/git-host/credentials.ts";
import { MAX_WAIT_MS } from "../../src/git-host/github-api.ts";
import { openPullRequest } from "../../src/git-host/pull-request.ts";
import type { PullRequestRequest } from "../../src/shared/job-format.ts";
import { type GitSmartHttp, startGitSmartHttp } from "../support/git-smart-http.ts";
import { type GitHubStandin, startGitHubStandin } from "../support/github-standin.ts";

const TOKEN = "ghp_standinToken0123456789";
let git: GitSmartHttp;
let gh: GitHubStandin;
let host: GitHost;
const waits: number[] = [];
const opts = { sleep: async (ms: number) => void waits.push(ms), baseDelayMs: 1 };

beforeEach(async () => {
  git = await startGitSmartHttp({ tokens: [TOKEN] });
  gh = await startGitHubStandin({ git, tokens: [TOKEN] });
  host = gitHostOf({ GITHUB_TOKEN: TOKEN, GITHUB_URL: git.url, GITHUB_API_URL: gh.url }) as GitHost;
  waits.length = 0;
});
afterEach(async () => {
  await gh.close();
  await git.close();
});

/** Pushes a branch with one more commit on top of main. */
function branch(owner: string, repo: string, name: string): void {
  const tree = git.git(owner, repo, "rev-parse", "main^{tree}").trim();
  const c = git.git(owner, repo, "commit-tree", tree, "-p", "main", "-m", `work on ${name}`).trim();
  git.git(owner, repo, "update-ref", `refs/heads/${name}`, c);
}

const pr = (over: Partial<PullRequestRequest> = {}): PullRequestRequest => ({
  head: "agent/x",
  base: null,
  title: "Title",
  body: "Body",
  draft: false,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe("git host configuration", () => {
  it("knows repositories only on the configured host", async () => {
    expect(gitHostOf({})).toBeNull();
    expect(gitHostOf({ GITHUB_TOKEN: "t" })).toMatchObject({
      webOrigin: "https://github.com",
      apiUrl: "https://api.github.com",
    });
    expect(repoOnHost(`${git.url}/acme/app.git`, host)).toEqual({ owner: "acme", repo: "app" });
    expect(repoOnHost(`${git.url}/acme/app`, host)).toEqual({ owner: "acme", repo: "app" });
    for (const other of [
      "https://evil.example/acme/app.git",
      `${git.url.replace("127.0.0.1", "localhost")}/acme/app.git`,
      `${git.url.replace("http://", "http://u:p@")}/acme/app.git`,
      `${git.url}/acme/app/extra.git`,
      `${git.url}/acme`,
    ]) {
      expect(repoOnHost(other, host), other).toBeNull();
    }
    expect(await repoToken(host, { owner: "acme", repo: "app" })).toEqual({ token: TOKEN, expiresAt: null });
  });
});

describe("pull requests", () => {
  it("opens one on the default branch; the same head again answers the open one; GitHub's refusals are PULL_REQUEST_FAILED", async () => {
    await git.makeRepo("acme", "app", { "a.txt": "a\n" });
    branch("acme", "app", "agent/x");
    const repo = { owner: "acme", repo: "app" };
    const first = await openPullRequest(host, repo, pr({ draft: true }), opts);
    expect(first).toEqual({ number: 1, url: `${git.url}/acme/app/pull/1` });
    expect(gh.pulls[0]).toMatchObject({ head: "agent/x", base: "main", title: "Title", body: "Body", draft: true });
    const post = gh.bodies.find((b) => b.call === "POST /repos/acme/app/pulls");
    expect(post?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(post?.body).toEqual({ title: "Title", head: "agent/x", base: "main", body: "Body", draft: true });

    // A later job on the same branch: GitHub says 422 "already exists"; the open one is the answer.
    expect(await openPullRequest(host, repo, pr({ base: "main" }), opts)).toEqual(first);
    expect(gh.log.filter((l) => l.startsWith("POST") && l.endsWith(" 422"))).toHaveLength(1);

    const noHead = await failure(openPullRequest(host, repo, pr({ head: "no-such-branch" }), opts));
    expect(noHead.code).toBe("PULL_REQUEST_FAILED");
    expect(noHead.message).toContain("422 Validation Failed: invalid");
    expect(noHead.message).toContain("acme/app");
    git.git("acme", "app", "update-ref", "refs/heads/same", "main");
    const nothing = await failure(openPullRequest(host, repo, pr({ head: "same", base: "main" }), opts));
    expect(nothing.message).toContain("No commits between main and same");

    const badToken = { ...host, auth: { kind: "token" as const, token: "ghp_wrong" } };
    const bad = await failure(openPullRequest(badToken, repo, pr(), opts));
    expect(bad.code).toBe("PULL_REQUEST_FAILED");
    expect(bad.message).toContain("401 Bad credentials");
  });

  it("rate limits and 5xx are retried after GitHub's Retry-After; a wait too long is not", async () => {
    await git.makeRepo("acme", "app", { "a.txt": "a\n" });
    branch("acme", "app", "agent/x");
    const repo = { owner: "acme", repo: "app" };
    const reset = String(Math.floor(Date.now() / 1000) + 3600);
    gh.faults.push(
      {
        match: "POST /repos/acme/app/pulls",
        status: 403,
        headers: { "retry-after": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
        body: { message: "You have exceeded a secondary rate limit" },
      },
      { match: "POST /repos/acme/app/pulls", status: 429, headers: { "retry-after": "1" } },
      { match: "POST /repos/acme/app/pulls", status: 502, body: { message: "Server Error" } },
    );
    expect(await openPullRequest(host, repo, pr({ base: "main" }), opts)).toMatchObject({ number: 1 });
    expect(waits).toEqual([2000, 1000, 4]);
    expect(gh.log.filter((l) => l.startsWith("POST")).map((l) => l.split(" ").pop())).toEqual([
      "403",
      "429",
      "502",
      "201",
    ]);

    // A reset an hour away: not waited for; GitHub's answer is the failure.
    waits.length = 0;
    branch("acme", "app", "agent/y");
    gh.faults.push({
      match: "POST /repos/acme/app/pulls",
      status: 403,
      headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset },
      body: { message: "API rate limit exceeded for installation" },
    });
    const limited = await failure(openPullRequest(host, repo, pr({ head: "agent/y", base: "main" }), opts));
    expect(limited.message).toContain("403 API rate limit exceeded");
    expect(waits).toEqual([]);
    // A 403 that is a refusal, not a limit: not retried either.
    gh.faults.push({ match: "POST", status: 403, body: { message: "Resource not accessible by integration" } });
    const refused = await failure(openPullRequest(host, repo, pr({ head: "agent/y", base: "main" }), opts));
    expect(refused.message).toContain("Resource not accessible by integration");
    expect(waits).toEqual([]);
    expect(MAX_WAIT_MS).toBeLessThan(60_000);
  });
});

describe("GitHub App", () => {
  it("signs a JWT the App's public key verifies and mints a token for the one repository", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    // GitHub hands out PKCS#1 keys ("BEGIN RSA PRIVATE KEY"); PKCS#8 works too.
    const pkcs1 = privateKey.export({ type: "pkcs1", format: "pem" }) as string;
    const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    await gh.close();
    gh = await startGitHubStandin({
      git,
      app: { id: "12345", publicKeyPem: publicKey.export({ type: "spki", format: "pem" }) as string },
    });
    await git.makeRepo("acme", "app", { "a.txt": "a\n" });
    await git.makeRepo("acme", "other", { "b.txt": "b\n" });
    git.privateReads = true;
    const appHost = gitHostOf({
      GITHUB_APP_ID: "12345",
      // As a one-line secret: line breaks written as \n.
      GITHUB_APP_PRIVATE_KEY: pkcs1.replace(/\n/g, "\\n"),
      GITHUB_URL: git.url,
      GITHUB_API_URL: gh.url,
    }) as GitHost;
    expect(appHost.auth.kind).toBe("app");

    const minted = await repoToken(appHost, { owner: "acme", repo: "app" }, opts);
    const cred = { password: minted.token };
    expect(minted.token).toMatch(/^ghs_/);
    expect(minted.expiresAt).toBeGreaterThan(Date.now());
    expect(gh.minted).toEqual([{ token: minted.token, repositories: ["app"] }]);
    // Reused while it has time left: a clone or push is several requests, one mint.
    expect(await repoToken(appHost, { owner: "acme", repo: "app" }, opts)).toEqual(minted);
    expect(gh.minted).toHaveLength(1);
    const tokenReq = gh.bodies.find((b) => b.call.endsWith("/access_tokens"));
    expect(tokenReq?.body).toEqual({
      repositories: ["app"],
      permissions: { contents: "write", pull_requests: "write" },
    });

    // The token opens that repository on the git server, and no other.
    // Async: the git server runs in this process, so a blocking child would deadlock it.
    const lsRemote = (name: string) => {
      const basic = Buffer.from(`x-access-token:${cred?.password}`).toString("base64");
      return new Promise<boolean>((resolve) => {
        execFile(
          "git",
          ["ls-remote", `${git.url}/acme/${name}.git`],
          {
            env: {
              ...process.env,
              GIT_TERMINAL_PROMPT: "0",
              GIT_ASKPASS: "/bin/false",
              GIT_CONFIG_COUNT: "1",
              GIT_CONFIG_KEY_0: "http.extraHeader",
              GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
            },
          },
          (err) => resolve(!err),
        );
      });
    };
    expect(await lsRemote("app")).toBe(true);
    expect(await lsRemote("other")).toBe(false);

    // A PKCS#8 key signs as well; a JWT with another key is refused by the stand-in.
    const jwt = await appJwt("12345", pkcs8);
    expect(jwt.split(".")).toHaveLength(3);
    const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const wrongHost = {
      ...appHost,
      auth: {
        kind: "app" as const,
        appId: "12345",
        privateKey: stranger.export({ type: "pkcs1", format: "pem" }) as string,
      },
    };
    // (another repository: the first one's token is cached)
    const refused = await failure(repoToken(wrongHost, { owner: "acme", repo: "other" }, opts));
    expect(refused.code).toBe("PUSH_AUTH_FAILED");
    expect(refused.message).toContain("401");

    // Pull requests through the App's installation token.
    branch("acme", "app", "agent/x");
    expect(await openPullRequest(appHost, { owner: "acme", repo: "app" }, pr(), opts)).toMatchObject({ number: 1 });
  });
});
