/**
 * @module test/node/sandboxd/no-bwrap.test
 * Without bubblewrap (SANDBOXD_ISOLATION=none, which is also the path taken when
 * bwrap is missing): a loud warning at start, `isolated: false`, commands run
 * with the workspace directory as cwd and HOME and without sandboxd's
 * environment, and timeouts still kill the process group. Also: no token, no start.
 */
import { realpathSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, eventually, exec, hostWorkspace, processesMatching } from "./helpers.ts";

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ token: "unisolated-secret", env: { SANDBOXD_ISOLATION: "none" } });
  await call(sd, "POST", "/projects/plain");
});
afterAll(async () => {
  await sd?.stop();
});

describe("sandboxd without bubblewrap", () => {
  it("warns loudly at start and reports isolated: false", async () => {
    expect(sd.output()).toContain("NO ISOLATION");
    expect(sd.output()).toContain("SANDBOXD_ISOLATION=none");
    expect(sd.output()).toContain("isolation OFF");
    expect((await call(sd, "GET", "/health", { token: null })).json).toEqual({ ok: true, isolated: false });
    expect((await call(sd, "GET", "/projects/plain")).json).toMatchObject({ isolated: false });
  });

  it("runs commands in the workspace directory with the project's HOME and a clean environment", async () => {
    const ws = realpathSync(hostWorkspace(sd, "plain"));
    const r = await exec(sd, "plain", 'pwd -P; echo "$HOME"; env | grep -c unisolated-secret');
    const home = join(hostWorkspace(sd, "plain"), "..", "home");
    expect(String(r.json?.stdout).split("\n").slice(0, 3)).toEqual([ws, home, "0"]);
    await call(sd, "POST", "/projects/plain/exec", { json: { command: "mkdir -p sub" } });
    const sub = await exec(sd, "plain", "pwd -P", { cwd: "/workspace/sub" });
    expect(sub.json?.stdout).toBe(`${ws}/sub\n`);
  });

  it("still kills the process group on timeout", async () => {
    const r = await exec(sd, "plain", "sleep 45.1 & echo bg; sleep 45.2", { timeoutMs: 500 });
    expect(r.json).toMatchObject({ code: "TIMEOUT", details: { stdout: "bg\n" } });
    expect(await eventually(() => processesMatching("sleep 45.").length === 0)).toBe(true);
  });

  it("still confines file paths", async () => {
    const r = await call(sd, "GET", "/projects/plain/files?path=/etc/passwd");
    expect(r.json?.code).toBe("INVALID_PATH");
  });
});

describe("sandboxd start-up checks", () => {
  it("refuses to start without SANDBOXD_TOKEN", async () => {
    await expect(startSandboxd({ token: "", env: { SANDBOXD_TOKEN: "" } })).rejects.toThrow(
      /SANDBOXD_TOKEN is not set/,
    );
  });

  it("starts without a token only when SANDBOXD_INSECURE_NO_TOKEN=1, and says so", async () => {
    const open = await startSandboxd({ env: { SANDBOXD_TOKEN: "", SANDBOXD_INSECURE_NO_TOKEN: "1" } });
    try {
      expect(open.output()).toContain("WITHOUT a token");
      expect((await call(open, "POST", "/projects/open", { token: null })).status).toBe(200);
    } finally {
      await open.stop();
    }
  });
});
