/**
 * @module test/node/sandboxd/isolation.test
 * Real bubblewrap, through jails: a command run by a jail's container runtime (POST
 * /jails/:id/container/api/execute, sessionless) sees its workspace at /workspace, its
 * own HOME, runner state and runtime socket directory, read-only system directories and
 * runtime files, and nothing else of the host: not the repository, not the host's home
 * directories or sandboxd's root, not another jail's workspace, /tmp or processes, not
 * sandboxd's environment. /tmp is private per jail (shared by the jail's commands and its
 * runtime, no longer per command as with sandboxd's former exec). No capabilities undo the
 * read-only mounts. How the runtime itself is started and confined is jails.test.ts;
 * symlinks that point out of a jail are confinement.test.ts.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSIONLESS } from "../../../src/shared/container-runtime.ts";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, execInJail, jailDir, newJailId, runtimeEnv, startJail } from "./helpers.ts";

const env = await runtimeEnv();
const REPO = join(import.meta.dirname, "..", "..", "..");
const A = newJailId();
const B = newJailId();

let sd: RunningSandboxd;

beforeAll(async () => {
  sd = await startSandboxd({ token: "isolation-secret-token", env });
  await Promise.all([startJail(sd, A), startJail(sd, B)]);
});
afterAll(async () => {
  await sd?.stop();
});

const run = async (id: string, command: string) => await execInJail(sd, id, command);

describe("sandboxd isolation (bubblewrap jails)", () => {
  it("reports isolation on", async () => {
    expect(sd.output()).toContain("isolation on");
    expect((await call(sd, "GET", "/health", { token: null })).json).toEqual({
      ok: true,
      isolated: true,
      jailUid: expect.any(Number),
      internet: expect.any(Boolean),
      hostPorts: [],
      network: expect.stringContaining("own namespace"),
      limits: expect.stringContaining("1024 processes"),
    });
  });

  it("shows only the system directories, /workspace, HOME, the runner state, the runtime, /tmp, /proc and /dev at /", async () => {
    const r = await run(A, "ls -A / /opt /opt/opencode/bin /opt/sandbox-runtime /run /var /var/lib");
    expect(r.stdout).toBe(
      [
        "/:",
        ...[
          "bin",
          "dev",
          "etc",
          "lib",
          "lib64",
          "opt",
          "proc",
          "root",
          "run",
          "sbin",
          "tmp",
          "usr",
          "var",
          "workspace",
        ],
        "",
        "/opt:",
        ...["opencode", "sandbox-node", "sandbox-runtime", "sandbox-worker"],
        "",
        "/opt/opencode/bin:",
        "opencode",
        "",
        "/opt/sandbox-runtime:",
        ...["bun", "forwarder.ts", "runtime.js"],
        "",
        "/run:",
        ...["sandbox-egress", "sandbox-runtime"],
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

  it("hides the repository, home directories, the host's sandboxd root and where the runtime lives on the host", async () => {
    const hidden = ["/work", "/home", "/mnt", "/srv", process.cwd(), sd.root, dirname(env.SANDBOXD_RUNTIME_BUN ?? "")];
    const r = await run(
      A,
      `for p in ${hidden.map((p) => JSON.stringify(p)).join(" ")}; do test -e "$p" && echo "VISIBLE $p"; done; echo checked`,
    );
    expect(r).toMatchObject({ stdout: "checked\n", exitCode: 0 });
    // /root is the jail's own HOME (the host's jails/<id>/home), not the host's.
    writeFileSync(join(jailDir(sd, A), "home", "mine"), "");
    expect((await run(A, "ls /root")).stdout).toBe("mine\n");
  });

  it("keeps the runner bundle, the opencode binary and the runtime under /opt read-only", async () => {
    const r = await run(
      A,
      [
        "touch /opt/sandbox-worker/x /opt/sandbox-runtime/x /opt/opencode/bin/x 2>/dev/null || echo no-new-files",
        ": > /opt/sandbox-runtime/runtime.js 2>/dev/null || echo runtime.js-read-only",
        ": > /opt/sandbox-runtime/bun 2>/dev/null || echo bun-read-only",
        ": > /opt/opencode/bin/opencode 2>/dev/null || echo opencode-read-only",
        "test -s /opt/sandbox-runtime/runtime.js && test -x /opt/sandbox-runtime/bun && echo intact",
      ].join("; "),
    );
    expect(r.stdout).toBe("no-new-files\nruntime.js-read-only\nbun-read-only\nopencode-read-only\nintact\n");
  });

  it("cannot see another jail's workspace, /tmp or processes", async () => {
    // Counts the processes running `sleep 47.31` (the pattern does not match its own command line).
    const SLEEPS = "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 47[.]31'";
    writeFileSync(join(jailDir(sd, A), "workspace", "sentinel-of-a.txt"), "a's secret");
    expect((await run(A, "echo a > /tmp/sentinel-of-a-tmp")).exitCode).toBe(0);
    const started = await call(sd, "POST", `/jails/${A}/container/api/process/start`, {
      json: { command: "sleep 47.31", sessionId: SESSIONLESS },
    });
    expect(started.status, started.text).toBe(200);
    const hostA = join(jailDir(sd, A), "workspace");
    const r = await run(
      B,
      [
        "find /workspace /root /tmp /var /run /opt /dev -name 'sentinel-of-a*' 2>/dev/null",
        `test -e ${JSON.stringify(hostA)} && echo "VISIBLE ${hostA}"`,
        SLEEPS,
        "ls -A /workspace",
        "echo done",
      ].join("; "),
    );
    // A's sleep is not in B's PID namespace.
    expect(r.stdout).toBe("0\ndone\n");
    expect((await run(A, "cat /workspace/sentinel-of-a.txt")).stdout).toBe("a's secret");
    expect(Number((await run(A, SLEEPS)).stdout)).toBeGreaterThan(0);
    await call(sd, "POST", `/jails/${A}/container/api/process/kill-all`, { json: {} });
  });

  it("gives every jail a private /tmp, shared by that jail's commands (per jail, not per command)", async () => {
    expect((await run(A, "echo x > /tmp/private && cat /tmp/private")).stdout).toBe("x\n");
    expect((await run(A, "cat /tmp/private")).stdout).toBe("x\n");
    expect((await run(B, "test -e /tmp/private || echo absent")).stdout).toBe("absent\n");
    expect(existsSync("/tmp/private")).toBe(false);
  });

  it("keeps / and the system directories read-only; only the jail's own directories, /tmp and /dev are writable", async () => {
    const paths = [
      "/",
      "/usr",
      "/etc",
      "/bin",
      "/opt",
      "/run",
      "/var",
      "/var/lib",
      "/proc",
      "/workspace",
      "/tmp",
      "/root",
      "/var/lib/sandbox-worker",
      "/run/sandbox-runtime",
      "/dev",
    ];
    const r = await run(
      A,
      `for p in ${paths.join(" ")}; do f="\${p%/}/newfile"; if touch "$f" 2>/dev/null; then echo "rw $p"; rm -f "$f"; else echo "ro $p"; fi; done`,
    );
    expect(r.stdout.trim().split("\n")).toEqual([
      "ro /",
      "ro /usr",
      "ro /etc",
      "ro /bin",
      "ro /opt",
      "ro /run",
      "ro /var",
      "ro /var/lib",
      "ro /proc",
      // The jail's host directories: workspace, home, state (the runner's) and run (the runtime's socket).
      "rw /workspace",
      "rw /tmp",
      "rw /root",
      "rw /var/lib/sandbox-worker",
      "rw /run/sandbox-runtime",
      // bwrap's private /dev: a tmpfs of this jail's.
      "rw /dev",
    ]);
  });

  it("resolves node, python3 and git from /usr, with HOME=/root (tool caches stay out of /workspace)", async () => {
    const r = await run(A, 'which node python3 git; echo "$HOME"; git --version >/dev/null && echo git-ok');
    expect(r.stdout).toBe("/usr/bin/node\n/usr/bin/python3\n/usr/bin/git\n/root\ngit-ok\n");
  });

  it("never leaks sandboxd's environment (its token), not even the runtime's, and masks /etc/shadow", async () => {
    const r = await run(A, "env; cat /proc/[0-9]*/environ | tr '\\0' '\\n'; cat /etc/shadow 2>/dev/null | wc -c");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("HOME=/root");
    expect(r.stdout).not.toContain("isolation-secret-token");
    expect(r.stdout).not.toContain("SANDBOXD");
    expect(r.stdout.trim().endsWith("\n0")).toBe(true);
  });

  it("makes root in a jail no one on the host: an unprivileged uid owns its processes and files", async () => {
    const pid = await startJail(sd, A);
    const r = await run(A, "id -u; echo made > /workspace/owned.txt");
    expect(r.stdout).toBe("0\n");
    const hostUid = (p: string) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(p, "utf8"))?.[1]);
    const runtimeUid = hostUid(`/proc/${pid}/status`);
    const fileUid = statSync(join(jailDir(sd, A), "workspace", "owned.txt")).uid;
    const { jailUid } = (await call(sd, "GET", "/health")).json as { jailUid: number };
    expect([runtimeUid, fileUid]).toEqual([jailUid, jailUid]);
    // Run as root, sandboxd runs jails as SANDBOXD_JAIL_UID (100000) unless a directory on the way to
    // what a jail binds (this repository) does not let others pass; then it warns and they run as root.
    const reachable = !REPO.split("/").some((_, i, parts) => {
      const dir = parts.slice(0, i + 1).join("/") || "/";
      return (statSync(dir).mode & 0o001) === 0;
    });
    if (process.getuid?.() !== 0) expect(jailUid).toBe(process.getuid?.());
    else if (reachable) expect(jailUid).toBe(100_000);
    else console.warn(`isolation.test: ${REPO} is not passable by others: jails ran as uid ${jailUid}`);
  });

  it("keeps the kernel's knobs under /proc read-only: no sysctl, core_pattern or sysrq write reaches the host", async () => {
    // Each write puts back the value already there, so that if it got through it changed nothing.
    const knobs = [
      "/proc/sys/kernel/printk_ratelimit_burst",
      "/proc/sys/kernel/core_pattern",
      "/proc/sys/vm/swappiness",
    ];
    const writes = knobs.map((k) => `v=$(cat ${k}); printf '%s\\n' "$v" > ${k} 2>/dev/null && echo WROTE ${k}`);
    const r = await run(
      A,
      [...writes, "test -w /proc/sysrq-trigger && echo SYSRQ-WRITABLE", "cat /proc/kcore | wc -c", "true"].join("; "),
    );
    expect(r.stdout).toBe("0\n");
  });

  it("keeps the runner's environment and memory from every other process of the jail", async () => {
    // The runner's command line (RUNNER_NODE) beside the same program on the jail's plain node:
    // the second is readable, which shows the probe can see a secret where one is exposed.
    const start = (node: string, tag: string) =>
      `SANDBOX_RUNNER_TOKEN=tok-${tag} ${node} -e 'setTimeout(() => {}, 15000)' >/dev/null 2>&1 & echo $! > /tmp/${tag}.pid;`;
    await run(A, `${start("/opt/sandbox-node/node", "runner")} ${start("node", "plain")} sleep 0.3`);
    const probe = (tag: string) =>
      [
        `pid=$(cat /tmp/${tag}.pid)`,
        `tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | grep -c tok- || true`,
        // Opening /proc/<pid>/mem takes what ptrace takes (reading offset 0 would fail anyway: unmapped).
        `(exec 3< /proc/$pid/mem) 2>/dev/null && echo mem-readable || echo mem-refused`,
      ].join("; ");
    const r = await run(A, `${probe("runner")}; ${probe("plain")}`);
    expect(r.stdout).toBe("0\nmem-refused\n1\nmem-readable\n");
  });

  it("has no capabilities to undo the read-only mounts (only that of binding port 80 of its own network)", async () => {
    const r = await run(
      A,
      [
        "grep CapEff /proc/self/status",
        "mount -o remount,rw / 2>/dev/null && echo REMOUNTED",
        "mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED-usr",
        "unshare -rm sh -c 'mount -o remount,rw /usr && echo REMOUNTED-userns' 2>/dev/null",
        "true",
      ].join("; "),
    );
    // 0x400: CAP_NET_BIND_SERVICE alone (the egress forwarder's port 80, in the jail's own network namespace).
    expect(r.stdout).toBe("CapEff:\t0000000000000400\n");
  });
});
