/**
 * @module test/node/sandboxd/limits-jail.test
 * Limits, attacked from inside real jails: a bounded fork bomb, a memory hog, a workspace
 * filler and a /tmp filler each fail in their own jail (EAGAIN, an OOM kill, ENOSPC) and
 * sandboxd says so (GET /jails/:id `limited`), while the other jail keeps answering and the
 * offending one keeps running. Destroy takes the jail's cgroup and volume along. The
 * mechanisms alone are limits.test.ts and workspace-volume.test.ts; root only.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, execInJail, jailDir, newJailId, runtimeEnv, startJail } from "./helpers.ts";

const isRoot = process.getuid?.() === 0;
const env = await runtimeEnv();
const A = newJailId();
const B = newJailId();
let sd: RunningSandboxd;

const bun = "/opt/sandbox-runtime/bun";
const limited = async (id: string) => (await call(sd, "GET", `/jails/${id}`)).json?.limited as Record<string, number>;

describe.skipIf(!isRoot)("a jail's limits (root)", () => {
  beforeAll(async () => {
    sd = await startSandboxd({
      env: {
        ...env,
        SANDBOXD_LIMIT_PIDS: "64",
        SANDBOXD_LIMIT_MEMORY: "256M",
        SANDBOXD_LIMIT_TMP: "16M",
        SANDBOXD_LIMIT_DISK: "64M",
      },
    });
    await Promise.all([startJail(sd, A), startJail(sd, B)]);
  });
  afterAll(async () => {
    await sd?.stop();
  });

  it("says what it enforces", () => {
    expect(sd.output()).toMatch(
      /limits per jail: 64 processes, 256 MiB memory, CPU weight 100 \(cgroup v[12]\), \/tmp 16 MiB, workspace 64 MiB \(ext4 volume\)\n/,
    );
  });

  it("stops a fork bomb at the pids limit; the other jail and this one keep answering", async () => {
    const bomb = `${bun} -e 'const { spawn } = require("node:child_process"); let ok = 0, refused = 0;
      for (let i = 0; i < 200; i++) await new Promise((r) => { const c = spawn("sleep", ["3"]);
        c.once("spawn", () => { ok++; r(); }); c.once("error", (e) => { if (e.code === "EAGAIN") refused++; r(); }); });
      console.log(ok < 64, refused > 0)'`;
    const r = await execInJail(sd, A, bomb);
    expect(r.stdout).toBe("true true\n");
    expect((await limited(A)).pidsMax).toBeGreaterThan(0);
    expect((await execInJail(sd, B, "echo alive")).stdout).toBe("alive\n");
    await new Promise((r) => setTimeout(r, 3000));
    expect((await execInJail(sd, A, "echo alive")).stdout).toBe("alive\n");
  });

  it("OOM-kills a memory hog inside its jail, not the jail's runtime, not the other jail", async () => {
    const hog = `${bun} -e 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1))'; echo "exit $?"`;
    const r = await execInJail(sd, A, hog);
    expect(r.stdout).toBe("exit 137\n");
    expect((await limited(A)).oomKills).toBeGreaterThan(0);
    expect((await execInJail(sd, A, "echo alive")).stdout).toBe("alive\n");
    expect((await execInJail(sd, B, "echo alive")).stdout).toBe("alive\n");
  });

  it("fills a workspace only to its size (ENOSPC), and a /tmp only to its own", async () => {
    const fill = (path: string) =>
      `dd if=/dev/zero of=${path} bs=1M count=100 2>&1 | grep -o 'No space left on device'`;
    const r = await execInJail(sd, A, `${fill("/workspace/big")}; ${fill("/tmp/big")}; rm /workspace/big /tmp/big`);
    expect(r.stdout).toBe("No space left on device\nNo space left on device\n");
    expect((await execInJail(sd, B, "df -m /workspace | tail -1 | awk '{print $2}'")).stdout.trim()).toMatch(
      /^[56]\d$/,
    );
  });

  it("takes the jail's cgroup and volume along on destroy", async () => {
    const image = join(jailDir(sd, A), "workspace.img");
    const groups = (await call(sd, "GET", `/jails/${A}`)).json?.cgroupDirs as string[];
    expect(groups.length).toBeGreaterThan(0);
    expect([image, ...groups].every(existsSync)).toBe(true);
    expect((await call(sd, "DELETE", `/jails/${A}`)).status).toBe(200);
    expect([image, jailDir(sd, A), ...groups].some(existsSync)).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(jailDir(sd, A));
  });
});
