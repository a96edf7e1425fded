/**
 * @module test/node/sandboxd/no-bwrap.test
 * Without bubblewrap (SANDBOXD_ISOLATION=none, which is also the path taken when bwrap
 * is missing): a loud warning at start, `isolated: false`, and a jail's runtime on the
 * host whose commands (as unisolated as the warning says) still get the jail's HOME and
 * never sandboxd's environment. How an unisolated jail starts, finds its workspace and is
 * destroyed is jails.test.ts. Also: no token, no start.
 */
import { readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, execInJail, jailDir, newJailId, runtimeEnv, startJail } from "./helpers.ts";

const env = await runtimeEnv();
const J = newJailId();

describe("sandboxd without bubblewrap", () => {
  let sd: RunningSandboxd;
  let runtimePid = 0;

  beforeAll(async () => {
    sd = await startSandboxd({ token: "unisolated-secret", env: { ...env, SANDBOXD_ISOLATION: "none" } });
    runtimePid = await startJail(sd, J);
  });
  afterAll(async () => {
    await sd?.stop();
  });

  it("warns loudly at start and reports isolated: false", async () => {
    expect(sd.output()).toContain("NO ISOLATION");
    expect(sd.output()).toContain("SANDBOXD_ISOLATION=none");
    expect(sd.output()).toContain("isolation OFF");
    // Unisolated, nothing runs as the jail user: commands are sandboxd's own uid's.
    expect((await call(sd, "GET", "/health", { token: null })).json).toEqual({
      ok: true,
      isolated: false,
      jailUid: process.getuid?.(),
      // Unisolated, a jail has the host's network, the internet and its loopback alike.
      internet: true,
      hostPorts: [],
      network: "the host's (no isolation)",
      limits: "none (no isolation)",
    });
  });

  it("runs a jail's commands on the host with the jail's HOME and without sandboxd's environment", async () => {
    const ws = realpathSync(join(jailDir(sd, J), "workspace"));
    // No /workspace on the host: sessionless commands need a cwd (jails.test.ts shows the default).
    const r = await execInJail(
      sd,
      J,
      `pwd -P; echo "$HOME"; env | grep -c -e unisolated-secret -e SANDBOXD; test -e ${JSON.stringify(sd.root)} && echo host-visible`,
      { cwd: ws },
    );
    expect(r.stdout.split("\n")).toEqual([ws, join(jailDir(sd, J), "home"), "0", "host-visible", ""]);
    // Nor is it in the runtime's own environment, which the commands inherit.
    const runtimeEnviron = readFileSync(`/proc/${runtimePid}/environ`, "utf8");
    expect(runtimeEnviron).toContain(`HOME=${join(jailDir(sd, J), "home")}`);
    expect(runtimeEnviron).not.toContain("unisolated-secret");
    expect(runtimeEnviron).not.toContain("SANDBOXD");
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
      expect((await call(open, "GET", "/jails", { token: null })).json).toEqual({ jails: [] });
    } finally {
      await open.stop();
    }
  });
});
