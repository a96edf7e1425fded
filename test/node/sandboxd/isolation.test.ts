/**
 * @module test/node/sandboxd/isolation.test
 * Real bubblewrap: a command sees its workspace at /workspace, read-only system
 * directories and nothing else of the host: not the repository, not /root, not
 * another project's workspace, not sandboxd's environment; /tmp is private per
 * command and / is read-only outside /workspace.
 */
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, exec, hostWorkspace } from "./helpers.ts";

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ token: "isolation-secret-token" });
  for (const p of ["iso-a", "iso-b"]) expect((await call(sd, "POST", `/projects/${p}`)).status).toBe(200);
});
afterAll(async () => {
  await sd?.stop();
});

describe("sandboxd isolation (bubblewrap)", () => {
  it("reports isolation on", async () => {
    expect(sd.output()).toContain("isolation on");
    expect((await call(sd, "GET", "/projects/iso-a")).json).toMatchObject({ isolated: true, status: "ready" });
  });

  it("shows only the system directories, /workspace, the project's HOME and runner state, /tmp, /proc and /dev at /", async () => {
    const r = await exec(sd, "iso-a", "ls -A / /var /var/lib");
    expect(r.json?.stdout).toBe(
      [
        "/:",
        ...["bin", "dev", "etc", "lib", "lib64", "opt", "proc", "root", "sbin", "tmp", "usr", "var", "workspace"],
        "",
        "/var:",
        "lib",
        "",
        "/var/lib:",
        "sandbox-worker",
        "",
      ].join("\n"),
    );
  });

  it("hides the repository, home directories and the host's sandboxd root", async () => {
    const r = await exec(
      sd,
      "iso-a",
      `for p in /work /work/main /home /mnt ${JSON.stringify(sd.root)}; do if [ -e "$p" ]; then echo "VISIBLE $p"; fi; done; echo checked`,
    );
    expect(r.json).toMatchObject({ stdout: "checked\n", exitCode: 0 });
    // /root is the project's own HOME (empty at first), not the host's.
    writeFileSync(`${hostWorkspace(sd, "iso-a")}/../home/mine`, "");
    const home = await exec(sd, "iso-a", "ls -A /root");
    expect(home.json?.stdout).toBe("mine\n");
  });

  it("shows only the runner bundle's directory and the opencode binary under /opt, read-only", async () => {
    const r = await exec(
      sd,
      "iso-a",
      "ls -A /opt /opt/opencode/bin; touch /opt/sandbox-worker/x 2>/dev/null || echo read-only; test -w /opt/opencode/bin/opencode || echo read-only",
    );
    expect(r.json?.stdout).toBe(
      "/opt:\nopencode\nsandbox-worker\n\n/opt/opencode/bin:\nopencode\nread-only\nread-only\n",
    );
  });

  it("cannot see another project's workspace", async () => {
    writeFileSync(`${hostWorkspace(sd, "iso-a")}/sentinel-of-a.txt`, "a's secret");
    const r = await exec(sd, "iso-b", "find / -xdev -name 'sentinel-of-a*' 2>/dev/null; ls -A /workspace; echo done");
    expect(r.json?.stdout).toBe("done\n");
    const inA = await exec(sd, "iso-a", "cat /workspace/sentinel-of-a.txt");
    expect(inA.json?.stdout).toBe("a's secret");
  });

  it("gives every command a private /tmp", async () => {
    expect((await exec(sd, "iso-a", "echo x > /tmp/private && cat /tmp/private")).json?.stdout).toBe("x\n");
    expect((await exec(sd, "iso-a", "ls -A /tmp; echo end")).json?.stdout).toBe("end\n");
  });

  it("keeps / and the system directories read-only; only /workspace and /tmp are writable", async () => {
    const r = await exec(
      sd,
      "iso-a",
      'for p in /newfile /usr/newfile /etc/newfile /bin/newfile /workspace/newfile /tmp/newfile; do if touch $p 2>/dev/null; then echo "rw $p"; else echo "ro $p"; fi; done',
    );
    expect(r.json?.stdout).toBe(
      "ro /newfile\nro /usr/newfile\nro /etc/newfile\nro /bin/newfile\nrw /workspace/newfile\nrw /tmp/newfile\n",
    );
  });

  it("resolves node, python3 and git from /usr, with HOME=/root (tool caches stay out of /workspace)", async () => {
    const r = await exec(sd, "iso-a", 'which node python3 git; echo "$HOME"; git --version >/dev/null && echo git-ok');
    expect(r.json?.stdout).toBe("/usr/bin/node\n/usr/bin/python3\n/usr/bin/git\n/root\ngit-ok\n");
  });

  it("never leaks sandboxd's environment (its token) and masks /etc/shadow", async () => {
    const r = await exec(sd, "iso-a", "env; cat /etc/shadow 2>/dev/null | wc -c");
    const stdout = String(r.json?.stdout);
    expect(stdout).not.toContain("isolation-secret-token");
    expect(stdout).not.toContain("SANDBOXD");
    expect(stdout.trim().endsWith("0")).toBe(true);
  });

  it("has no capabilities to undo the read-only mounts", async () => {
    const r = await exec(
      sd,
      "iso-a",
      "grep CapEff /proc/self/status; mount -o remount,rw / 2>/dev/null && echo REMOUNTED; true",
    );
    expect(r.json?.stdout).toBe("CapEff:\t0000000000000000\n");
  });
});
