/**
 * POST /clone through the Worker (local jails), against a real repository
 * served over http from 127.0.0.1: default directory, branch, conflicts, and
 * credentials in the URL never echoed — not on success, not in errors; URL schemes
 * in any case.
 */
import { describe, expect, inject, it } from "vitest";
import { checkRepoUrl, cloneArgv, RepoUrlError } from "../../src/shared/git";
import { apiJson, createProject } from "./support/http";

const password = "hunter2-very-secret";

function withCredentials(url: string, path = ""): string {
  const u = new URL(url);
  u.username = "deploy-user";
  u.password = password;
  return `${u.toString().replace(/\/$/, "")}${path}`;
}

describe("clone", () => {
  it("clones into /workspace/<repo name> by default and reports the commit", async () => {
    const p = await createProject("clone");
    const repoUrl = inject("gitRepoUrl");
    const name = new URL(repoUrl).pathname
      .split("/")
      .pop()
      ?.replace(/\.git$/, "");
    const { status, body } = await apiJson(`/sandboxes/${p}/clone`, { method: "POST", json: { repoUrl } });
    expect(status).toBe(200);
    expect(body.data).toMatchObject({
      repoUrl,
      directory: `/workspace/${name}`,
      commit: inject("gitMainCommit"),
      branch: "main",
    });
    const head = await apiJson(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: "git rev-parse HEAD", cwd: `/workspace/${name}` },
    });
    expect(head.body.data).toMatchObject({ stdout: `${inject("gitMainCommit")}\n`, exitCode: 0 });
  });

  it("checks out the requested branch into the requested directory", async () => {
    const p = await createProject("clone");
    const { body } = await apiJson(`/sandboxes/${p}/clone`, {
      method: "POST",
      json: { repoUrl: inject("gitRepoUrl"), directory: "/workspace/app", branch: "feature" },
    });
    expect(body.data).toMatchObject({
      directory: "/workspace/app",
      branch: "feature",
      commit: inject("gitFeatureCommit"),
    });
  });

  it("answers 409 CONFLICT for a non-empty target and leaves it alone", async () => {
    const p = await createProject("clone");
    await apiJson(`/sandboxes/${p}/files/workspace/app/mine.txt`, { method: "PUT", json: { content: "mine" } });
    const { status, body } = await apiJson(`/sandboxes/${p}/clone`, {
      method: "POST",
      json: { repoUrl: inject("gitRepoUrl"), directory: "/workspace/app" },
    });
    expect(status).toBe(409);
    expect(body.code).toBe("CONFLICT");
    expect((await apiJson(`/sandboxes/${p}/files/workspace/app/mine.txt`)).body.data).toMatchObject({
      content: "mine",
    });
  });

  it("never echoes credentials from the URL, on success or on failure", async () => {
    const p = await createProject("clone");
    const ok = await apiJson(`/sandboxes/${p}/clone`, {
      method: "POST",
      json: { repoUrl: withCredentials(inject("gitRepoUrl")), directory: "/workspace/with-creds" },
    });
    expect(ok.status).toBe(200);
    expect(JSON.stringify(ok.body)).not.toContain(password);
    expect(ok.body.data).toMatchObject({ repoUrl: expect.stringContaining("***@") });

    const missing = withCredentials(inject("gitRepoUrl").replace(/[^/]+$/, "no-such-repo.git"));
    const failed = await apiJson(`/sandboxes/${p}/clone`, {
      method: "POST",
      json: { repoUrl: missing, directory: "/workspace/missing" },
    });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(failed.status).toBeLessThan(500);
    expect(failed.body.success).toBe(false);
    expect(JSON.stringify(failed.body)).not.toContain(password);
    expect(JSON.stringify(failed.body)).not.toContain("deploy-user");
  });
});

describe("clone URL schemes", () => {
  it("treats the scheme case-insensitively: HTTP://… clones like http://…", async () => {
    const p = await createProject("clone");
    const repoUrl = inject("gitRepoUrl").replace(/^http:/, "HTTP:");
    expect(repoUrl).toMatch(/^HTTP:\/\//);
    const { status, body } = await apiJson(`/sandboxes/${p}/clone`, {
      method: "POST",
      json: { repoUrl, directory: "/workspace/upper" },
    });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body.data).toMatchObject({ directory: "/workspace/upper", commit: inject("gitMainCommit") });
  });

  it("checkRepoUrl and cloneArgv accept any case, against an allow-list in any case", () => {
    expect(checkRepoUrl("HTTPS://example.com/r.git", ["https"]).protocol).toBe("https:");
    expect(checkRepoUrl("https://example.com/r.git", ["HTTPS"]).protocol).toBe("https:");
    expect(() => checkRepoUrl("FILE:///etc", ["https"])).toThrow(RepoUrlError);
    const argv = cloneArgv({ repoUrl: "HTTPS://User:Pw@Example.com/Org/R.git", directory: "/workspace/r" });
    // Only the scheme changes: git picks its transport helper by the scheme's exact spelling.
    expect(argv.slice(-2)).toEqual(["https://User:Pw@Example.com/Org/R.git", "/workspace/r"]);
  });
});
