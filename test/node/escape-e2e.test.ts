/**
 * @module test/node/escape-e2e.test
 * The escapes issue 11 found, replayed through the product as a user's code would try them:
 * commands sent to `POST /sandboxes/:id/exec` and a job's agent, on the whole local stack
 * (wrangler dev, sandboxd, jails). Each must fail: a connection to wrangler dev's inspector
 * (where the API token was read), to the Worker and to sandboxd on the host's loopback; a
 * write to /proc/sys or core_pattern; reading the runner's environment or memory from a job's
 * agent; finding another project's files. Each attack's jail-level twin, and the limits, are
 * in test/node/sandboxd/; the files API's rename race is test/node/sandboxd/rename-race.test.ts.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

/** TCP ports listened on by the process group `pgid` (wrangler and its workerd processes). */
function portsOfGroup(pgid: number): number[] {
  const inodes = new Set<string>();
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1]) inodes.add(m[1]);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === "0A" && f[9] && inodes.has(f[9])) ports.push(Number.parseInt(f[1]?.split(":").pop() ?? "", 16));
    }
  }
  return ports;
}

describe("escapes from a sandbox, through the product", () => {
  let stack: Stack;
  beforeAll(async () => {
    // As npm run dev runs it: without wrangler's DevTools inspector.
    stack = await startStack({}, [], { inspector: false });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const exec = async (p: string, command: string) => {
    const r = await stack.call("POST", `/sandboxes/${p}/exec`, { command });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.data as { stdout: string; stderr: string; exitCode: number };
  };
  const probe = (port: number) =>
    `timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null && echo OPEN-${port} || echo closed`;

  it("runs wrangler dev without a DevTools inspector", async () => {
    const wrangler = stack.supervisor.children.find((c) => c.name === "wrangler");
    const ports = portsOfGroup(wrangler?.pid ?? -1);
    // The scan sees wrangler's sockets: the Worker's own port is among them.
    expect(ports).toContain(Number(new URL(stack.url).port));
    const devtools: number[] = [];
    for (const port of ports) {
      const res = await fetch(`http://127.0.0.1:${port}/json/version`, { signal: AbortSignal.timeout(2000) }).catch(
        () => null,
      );
      if (res && (await res.text()).includes("Browser")) devtools.push(port);
    }
    expect(devtools).toEqual([]);
  });

  it("reaches neither the Worker nor sandboxd nor an inspector's port on the host's loopback", async () => {
    await stack.call("POST", "/sandboxes/attacker");
    // 9229: wrangler's inspector when `npm run dev -- --inspect` turns it on.
    const ports = [9229, Number(new URL(stack.url).port), Number(new URL(stack.sandboxd.url).port)];
    const r = await exec("attacker", ports.map(probe).join("; "));
    expect(r.stdout).toBe("closed\nclosed\nclosed\n");
    // The probe can see an open port: the sandbox's own.
    const serve = `/opt/sandbox-runtime/bun -e 'Bun.serve({ port: 18080, fetch: () => new Response("") })' >/dev/null 2>&1 &`;
    const own = await exec("attacker", `${serve} sleep 0.5; ${probe(18080)}; kill %1`);
    expect(own.stdout).toBe("OPEN-18080\n");
  });

  it("writes neither a kernel knob nor core_pattern", async () => {
    const r = await exec(
      "attacker",
      "echo 11 > /proc/sys/kernel/printk_ratelimit_burst 2>/dev/null && echo WROTE; echo '|/tmp/x' > /proc/sys/kernel/core_pattern 2>/dev/null && echo WROTE-core; echo done",
    );
    expect(r.stdout).toBe("done\n");
  });

  it("finds nothing of another project", async () => {
    await stack.call("POST", "/sandboxes/victim");
    await exec("victim", "echo secret > victim-only-7f3a.txt");
    const r = await exec(
      "attacker",
      "find / -xdev -name 'victim-only-7f3a*' 2>/dev/null; ls /proc | grep -c '^[0-9]' >/dev/null; echo searched",
    );
    expect(r.stdout).toBe("searched\n");
  });

  it("a job's agent reads neither the runner's environment nor its memory", async () => {
    const command = [
      `hits=$(for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < "$f" 2>/dev/null; done | grep -c '^SANDBOX_RUNNER_TOKEN=')`,
      `runner=$(grep -l runner.mjs /proc/[0-9]*/cmdline 2>/dev/null | grep -v self | head -1 | cut -d/ -f3)`,
      `mem=$( (exec 3< /proc/$runner/mem) 2>/dev/null && echo open || echo refused)`,
      `echo "ESCAPE environ=$hits runner=\${runner:+found} mem=$mem"`,
    ].join("; ");
    const created = await stack.call("POST", "/jobs", {
      projectId: "attacker",
      agent: "shell",
      prompt: "probe",
      command,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await stack.call("POST", "/run-next");
    const job = await stack.waitForJob(String(created.body.data?.id));
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    expect((job.result as { summary: string }).summary).toContain("ESCAPE environ=0 runner=found mem=refused");
  });
});
