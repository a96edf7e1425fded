/**
 * @module test/node/sandboxd/limits.test
 * Per-jail limits (container/sandboxd/limits.ts): the SANDBOXD_LIMIT_* variables, and as root
 * real cgroups on the real kernel: the limits written, a fork storm stopped at pids.max, an
 * allocation killed at the memory limit, and destroy killing what is left and removing the
 * group. Without root only the parsing runs (the rest is skipped, saying so); a non-root
 * sandboxd's "none" is checked from a child running as nobody.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  type CgroupSupport,
  cpuShares,
  DEFAULT_LIMITS,
  detectCgroups,
  formatBytes,
  JailCgroup,
  type JailLimits,
  limitsFromEnv,
} from "../../../container/sandboxd/limits.ts";
import { callAsNobody, othersCanReach } from "./helpers.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const IS_ROOT = process.getuid?.() === 0;
const ROOT_ONLY = IS_ROOT ? "" : " (skipped: needs root to create cgroups)";
const LIMITS_TS = resolve(import.meta.dirname, "../../../container/sandboxd/limits.ts");

describe("limitsFromEnv", () => {
  it("defaults to DEFAULT_LIMITS, sized for a 2-core 24 GiB host", () => {
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS);
    expect(limitsFromEnv({ SANDBOXD_LIMIT_MEMORY: "", SANDBOXD_LIMIT_PIDS: " " })).toEqual(DEFAULT_LIMITS);
    expect(DEFAULT_LIMITS).toEqual({
      pids: 1024,
      memoryBytes: 4 * GiB,
      cpuWeight: 100,
      tmpBytes: GiB,
      workspaceBytes: 10 * GiB,
    });
  });

  it("reads sizes in bytes or with binary K, M, G, T suffixes", () => {
    const limits = limitsFromEnv({
      SANDBOXD_LIMIT_PIDS: "256",
      SANDBOXD_LIMIT_MEMORY: "512M",
      SANDBOXD_LIMIT_CPU_WEIGHT: "50",
      SANDBOXD_LIMIT_TMP: "2097152",
      SANDBOXD_LIMIT_DISK: "1T",
    });
    expect(limits).toEqual({
      pids: 256,
      memoryBytes: 512 * MiB,
      cpuWeight: 50,
      tmpBytes: 2 * MiB,
      workspaceBytes: 1024 * GiB,
    });
    const size = (v: string) => limitsFromEnv({ SANDBOXD_LIMIT_DISK: v }).workspaceBytes;
    expect(size("4G")).toBe(4 * GiB);
    expect(size("4g")).toBe(4 * GiB);
    expect(size("4GiB")).toBe(4 * GiB);
    expect(size("4 GB")).toBe(4 * GiB);
    expect(size("1.5G")).toBe(1.5 * GiB);
    expect(size("65536K")).toBe(64 * MiB);
    expect(size("20971520B")).toBe(20 * MiB);
  });

  it("throws a sentence naming the variable and the bad value", () => {
    const bad: Array<[string, string]> = [
      ["SANDBOXD_LIMIT_MEMORY", "lots"],
      ["SANDBOXD_LIMIT_MEMORY", "4X"],
      ["SANDBOXD_LIMIT_MEMORY", "-1G"],
      ["SANDBOXD_LIMIT_MEMORY", "64"],
      ["SANDBOXD_LIMIT_TMP", "1.5"],
      ["SANDBOXD_LIMIT_DISK", "1e9"],
      ["SANDBOXD_LIMIT_DISK", "0"],
      ["SANDBOXD_LIMIT_PIDS", "12.5"],
      ["SANDBOXD_LIMIT_PIDS", "0"],
      ["SANDBOXD_LIMIT_PIDS", "many"],
      ["SANDBOXD_LIMIT_CPU_WEIGHT", "0"],
      ["SANDBOXD_LIMIT_CPU_WEIGHT", "10001"],
    ];
    for (const [name, value] of bad) {
      expect(() => limitsFromEnv({ [name]: value }), `${name}=${value}`).toThrow(name);
      expect(() => limitsFromEnv({ [name]: value }), `${name}=${value}`).toThrow(JSON.stringify(value));
    }
    expect(() => limitsFromEnv({ SANDBOXD_LIMIT_MEMORY: "64" })).toThrow(/at least 16 MiB/);
  });

  it("formats sizes for banners and scales cpu weights to v1 shares", () => {
    expect(formatBytes(4 * GiB)).toBe("4 GiB");
    expect(formatBytes(512 * MiB)).toBe("512 MiB");
    expect(formatBytes(1.5 * GiB)).toBe("1.5 GiB");
    expect(formatBytes(100)).toBe("100 B");
    expect(formatBytes(10 * 1024 * GiB)).toBe("10 TiB");
    expect(cpuShares(100)).toBe(1024);
    expect(cpuShares(50)).toBe(512);
    expect(cpuShares(1)).toBe(10);
    expect(cpuShares(10_000)).toBe(102_400);
  });
});

/** What a process run in a group did. */
interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` in `cg` (its wrapper), SIGKILLed after `timeoutMs`. */
function runIn(cg: JailCgroup, argv: string[], timeoutMs = 8000): Promise<Ran> {
  const [program = "", ...args] = cg.wrap(argv);
  const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH ?? "" } });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((done, fail) => {
    child.once("error", fail);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

function read(file: string): string {
  return readFileSync(file, "utf8").trim();
}

describe(`JailCgroup on the real kernel${ROOT_ONLY}`, () => {
  const support: CgroupSupport = IS_ROOT ? detectCgroups() : { kind: "none", reason: "not root" };
  const groups: JailCgroup[] = [];

  function usable(): Exclude<CgroupSupport, { kind: "none" }> {
    if (support.kind === "none") throw new Error(`no cgroups here: ${support.reason}`);
    return support;
  }

  /** A group for this test, destroyed after it even when it fails. */
  async function group(limits: Partial<JailLimits> = {}): Promise<JailCgroup> {
    const cg = await JailCgroup.create(usable(), `test-${process.pid}-${randomBytes(4).toString("hex")}`, {
      ...DEFAULT_LIMITS,
      ...limits,
    });
    groups.push(cg);
    return cg;
  }

  afterEach(async () => {
    for (const cg of groups.splice(0)) await cg.destroy();
  });

  it.skipIf(!IS_ROOT)("finds a usable hierarchy as root, again and again", () => {
    expect(support.kind, support.kind === "none" ? support.reason : "").not.toBe("none");
    expect(detectCgroups()).toEqual(support);
    console.log(`limits.test: cgroups ${JSON.stringify(support)}`);
  });

  it.skipIf(!IS_ROOT)("writes the limits, rewrites them on reuse, and refuses bad names", async () => {
    const cg = await group({ pids: 20, memoryBytes: 64 * MiB, cpuWeight: 50 });
    const knobs = () =>
      support.kind === "v1"
        ? {
            pids: read(join(support.mounts.pids, "sandboxd", cg.name, "pids.max")),
            memory: read(join(support.mounts.memory, "sandboxd", cg.name, "memory.limit_in_bytes")),
            cpu: read(join(support.mounts.cpu, "sandboxd", cg.name, "cpu.shares")),
          }
        : {
            pids: read(join(cg.dirs[0] ?? "", "pids.max")),
            memory: read(join(cg.dirs[0] ?? "", "memory.max")),
            cpu: read(join(cg.dirs[0] ?? "", "cpu.weight")),
          };
    const cpu = (weight: number) => String(support.kind === "v1" ? cpuShares(weight) : weight);
    expect(knobs()).toEqual({ pids: "20", memory: String(64 * MiB), cpu: cpu(50) });
    expect(cg.procsFiles).toHaveLength(support.kind === "v1" ? 3 : 1);
    for (const file of cg.procsFiles) expect(existsSync(file)).toBe(true);
    if (support.kind === "v1") {
      const memsw = join(support.mounts.memory, "sandboxd", cg.name, "memory.memsw.limit_in_bytes");
      if (existsSync(memsw)) expect(read(memsw)).toBe(String(64 * MiB));
    } else {
      const swap = join(cg.dirs[0] ?? "", "memory.swap.max");
      if (existsSync(swap)) expect(read(swap)).toBe("0");
    }

    // Reused under its name, both ways: up (memsw lifted first on v1) and down again.
    await JailCgroup.create(usable(), cg.name, { ...DEFAULT_LIMITS, pids: 30, memoryBytes: 128 * MiB, cpuWeight: 200 });
    expect(knobs()).toEqual({ pids: "30", memory: String(128 * MiB), cpu: cpu(200) });
    await JailCgroup.create(usable(), cg.name, { ...DEFAULT_LIMITS, pids: 10, memoryBytes: 32 * MiB, cpuWeight: 1 });
    expect(knobs()).toEqual({ pids: "10", memory: String(32 * MiB), cpu: cpu(1) });

    for (const name of ["", ".", "..", "a/b", "../x", "x".repeat(65), "a b"]) {
      await expect(JailCgroup.create(usable(), name, DEFAULT_LIMITS), name).rejects.toThrow(/cgroup name/);
    }
    await expect(JailCgroup.create(usable(), "ok-name", { ...DEFAULT_LIMITS, pids: 0 })).rejects.toThrow(/pids/);
  });

  it.skipIf(!IS_ROOT)("stops a fork storm at pids.max and counts it", async () => {
    const cg = await group({ pids: 20 });
    // 100 `sleep 5` at once from Node (whose own ~7 threads count too): the forks past 20 tasks fail with
    // EAGAIN ("Resource temporarily unavailable"), at once (bash would retry a failed fork for 15 s).
    const storm = `
      const { spawn } = require("node:child_process");
      const r = { started: 0, refused: 0, other: [] };
      for (let i = 0; i < 100; i++) {
        const c = spawn("sleep", ["5"], { stdio: "ignore" });
        c.on("spawn", () => r.started++);
        c.on("error", (e) => (e.code === "EAGAIN" ? r.refused++ : r.other.push(e.code)));
      }
      setTimeout(() => { process.stdout.write(JSON.stringify(r)); process.exit(0); }, 300);`;
    const t0 = performance.now();
    const ran = await runIn(cg, [process.execPath, "-e", storm]);
    expect(ran.code, ran.stderr).toBe(0);
    const r = JSON.parse(ran.stdout) as { started: number; refused: number; other: string[] };
    expect(r.other).toEqual([]);
    expect(r.refused).toBeGreaterThan(0);
    expect(r.started).toBeGreaterThan(0);
    expect(r.started + r.refused).toBe(100);
    expect(r.started).toBeLessThan(20);
    expect((await cg.events()).pidsMax).toBeGreaterThan(0);
    // The sleeps outlived their parent, still in the group: destroy's to kill.
    const left = await cg.pids();
    expect(left.length).toBe(r.started);
    console.log(
      `limits.test: pids.max 20: ${r.started} started, ${r.refused} refused (${(performance.now() - t0).toFixed(0)} ms)`,
    );
  });

  it.skipIf(!IS_ROOT)("kills an allocation past the memory limit and counts the OOM kill", async () => {
    const cg = await group({ memoryBytes: 64 * MiB });
    const t0 = performance.now();
    // Buffer.alloc(n, 1) touches every page: 512 MiB really resident, not just reserved.
    const ran = await runIn(cg, [
      process.execPath,
      "-e",
      "Buffer.alloc(512 * 1024 * 1024, 1); console.log('survived')",
    ]);
    expect(ran.stdout).not.toContain("survived");
    expect(ran.signal).toBe("SIGKILL");
    const events = await cg.events();
    const oomControl =
      support.kind === "v1" ? read(join(support.mounts.memory, "sandboxd", cg.name, "memory.oom_control")) : "";
    if (support.kind === "v1" && !/^oom_kill /m.test(oomControl)) {
      // Kernels before 4.13 count no OOM kills: the limit was hit, and the signal says the rest.
      expect(Number(read(join(support.mounts.memory, "sandboxd", cg.name, "memory.failcnt")))).toBeGreaterThan(0);
    } else {
      expect(events.oomKills).toBeGreaterThan(0);
    }
    console.log(
      `limits.test: 512 MiB in a 64 MiB group: ${ran.signal}, oom kills ${events.oomKills} (${(performance.now() - t0).toFixed(0)} ms)`,
    );
  });

  it.skipIf(!IS_ROOT)("destroy kills every process left in the group and removes it, twice without error", async () => {
    const cg = await group({ pids: 64 });
    // Backgrounded, re-sessioned and orphaned (their output away from our pipes): only the group still knows them.
    const sleeper = "sleep 30 </dev/null >/dev/null 2>&1";
    const ran = await runIn(cg, ["/bin/sh", "-c", `${sleeper} & ${sleeper} & setsid ${sleeper} & echo started`]);
    expect(ran.stdout.trim()).toBe("started");
    const pids = await cg.pids();
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    const t0 = performance.now();
    await cg.destroy();
    const ms = performance.now() - t0;
    for (const pid of pids) expect(alive(pid), `pid ${pid}`).toBe(false);
    for (const dir of cg.dirs) expect(existsSync(dir), dir).toBe(false);
    await cg.destroy();
    expect(await cg.pids()).toEqual([]);
    expect(await cg.events()).toEqual({ oomKills: 0, pidsMax: 0 });
    console.log(`limits.test: destroy with 3 processes left took ${ms.toFixed(0)} ms`);
  });

  // Skipped where nobody cannot reach this Node or the module (a clone in a 0700 directory).
  it.skipIf(!IS_ROOT || !othersCanReach(LIMITS_TS) || !othersCanReach(process.execPath))(
    "says none, with the reason, for a sandboxd that is not root",
    () => {
      expect(callAsNobody(LIMITS_TS, "detectCgroups")).toEqual({
        kind: "none",
        reason: "sandboxd is not root (uid 65534): only root can create a cgroup per jail",
      });
    },
  );

  it.skipIf(IS_ROOT)("says none, with the reason, when not root", () => {
    const s = detectCgroups();
    expect(s.kind).toBe("none");
    expect(s.kind === "none" && s.reason).toMatch(/not root/);
  });
});
