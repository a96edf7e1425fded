/**
 * @module bench/api-jail
 * The second half of `npm run bench:api`: the cloudflare backend on local jails.
 *
 * Starts the stack the end-to-end tests use (test/support/stack.ts: sandboxd, migrated
 * local D1, the Worker under `wrangler dev` without containers) with
 * `SANDBOX_BACKEND=cloudflare`, so each sandbox is the SDK's Sandbox Durable Object whose
 * container is a jail in sandboxd running Cloudflare's container runtime. Measures:
 *  - `echo hi` and a 4 KiB read through the Worker (`POST /sandboxes/:id/exec`,
 *    `GET /sandboxes/:id/files/...`) against the runtime called straight through the jail
 *    proxy (`/jails/:id/container/api/{execute,read}`, sessionless), alternating per
 *    iteration so drift hits both alike; p50/p95 and the p50 ratio;
 *  - the start of a fresh jail: `POST /jails/:id` until the first exec through the proxy
 *    answers, over a few jails (each destroyed after);
 *  - the VmRSS of an idle jail's runtime (the pid `POST /jails/:id` returns) after 2 s idle.
 * Prints a table with the targets and met/MISSED; a miss is reported, not an exit code.
 * Env: BENCH_JAIL_N (default 100), BENCH_JAIL_STARTS (default 10).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { SESSIONLESS } from "../src/shared/container-runtime.ts";
import { startStack } from "../test/support/stack.ts";
import { guardRun, runBench } from "./lifecycle.ts";
import { expectOk, type Op, quantile } from "./measure.ts";

const N = Number(process.env.BENCH_JAIL_N ?? "100");
const STARTS = Number(process.env.BENCH_JAIL_STARTS ?? "10");
const WARMUP = Math.min(20, N);
const TOTAL_BUDGET_MS = 4 * 60_000;
const TARGET_RATIO = 1.3;
const TARGET_START_MS = 500;
const TARGET_RSS_MIB = 80;
const IDLE_MS = 2000;
const FILE_BYTES = 4096;
const FILE_PATH = "/workspace/bench.txt";
/** ASCII, so the runtime's JSON read returns exactly FILE_BYTES characters. */
const CONTENT = randomBytes(FILE_BYTES).toString("base64").slice(0, FILE_BYTES);

interface Stats {
  p50: number;
  p95: number;
}

const stats = (ms: number[]): Stats => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
};

async function timed(op: Op): Promise<number> {
  const t0 = performance.now();
  await op();
  return performance.now() - t0;
}

/** VmRSS of `pid` in MiB (NaN when the process or the field is gone). */
async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

async function main(): Promise<void> {
  console.log(`bench(jail): starting sandboxd and wrangler dev with SANDBOX_BACKEND=cloudflare (N=${N}) …`);
  const stack = await startStack({ SANDBOX_BACKEND: "cloudflare" }, ["--log-level", "warn"]);
  const guard = guardRun(TOTAL_BUDGET_MS, () => stack.stop());
  try {
    const sd = stack.sandboxd;
    const jail = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${sd.url}/jails/${path}`, {
        method,
        headers: { authorization: `Bearer ${sd.token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return JSON.parse(new TextDecoder().decode(await expectOk(res, `${method} /jails/${path}`)));
    };
    const directExec =
      (id: string): Op =>
      async () => {
        const r = await jail("POST", `${id}/container/api/execute`, { command: "echo hi", sessionId: SESSIONLESS });
        if (r.exitCode !== 0 || r.stdout !== "hi\n") throw new Error(`direct exec: ${JSON.stringify(r).slice(0, 200)}`);
      };
    const worker = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${stack.apiToken}`, ...(init.headers as Record<string, string>) },
      });

    // The Worker's sandbox (a jail named by its Durable Object id) and a jail of our own.
    const projectId = `bench-${randomBytes(4).toString("hex")}`;
    const directId = `bench-direct-${randomBytes(4).toString("hex")}`;
    await expectOk(await worker(`/sandboxes/${projectId}`, { method: "POST" }), "create");
    const put = await worker(`/sandboxes/${projectId}/files${FILE_PATH}`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: CONTENT,
    });
    await expectOk(put, "write");
    await jail("POST", directId);
    await jail("POST", `${directId}/container/api/write`, {
      path: FILE_PATH,
      content: CONTENT,
      sessionId: SESSIONLESS,
    });

    const ops: Array<{ op: string; direct: Op; worker: Op }> = [
      {
        op: "exec echo hi",
        direct: directExec(directId),
        worker: async () => {
          const res = await worker(`/sandboxes/${projectId}/exec`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ command: "echo hi" }),
          });
          const body = JSON.parse(new TextDecoder().decode(await expectOk(res, "exec"))) as {
            data?: { exitCode?: number; stdout?: string };
          };
          if (body.data?.exitCode !== 0 || body.data.stdout !== "hi\n")
            throw new Error(`exec: ${JSON.stringify(body)}`);
        },
      },
      {
        op: "read 4 KiB",
        direct: async () => {
          const r = await jail("POST", `${directId}/container/api/read`, { path: FILE_PATH, sessionId: SESSIONLESS });
          if (r.content !== CONTENT) throw new Error(`direct read: ${String(r.content).length} chars`);
        },
        worker: async () => {
          const res = await worker(`/sandboxes/${projectId}/files${FILE_PATH}`, {
            headers: { accept: "application/octet-stream" },
          });
          const bytes = await expectOk(res, "read");
          if (bytes.byteLength !== FILE_BYTES) throw new Error(`read: ${bytes.byteLength} bytes`);
        },
      },
    ];

    const rows: string[][] = [["measure", "direct (jail proxy)", "Worker (wrangler dev)", "result", "target", ""]];
    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
    for (const { op, direct, worker: viaWorker } of ops) {
      for (let i = 0; i < WARMUP; i++) {
        await direct();
        await viaWorker();
      }
      const d: number[] = [];
      const w: number[] = [];
      // Alternating per iteration, so slow drift (CPU frequency, other load) hits both paths alike.
      for (let i = 0; i < N; i++) {
        d.push(await timed(direct));
        w.push(await timed(viaWorker));
      }
      const [ds, ws] = [stats(d), stats(w)];
      const ratio = ws.p50 / ds.p50;
      rows.push([
        `${op}, p50 / p95 ms`,
        `${f(ds.p50)} / ${f(ds.p95)}`,
        `${f(ws.p50)} / ${f(ws.p95)}`,
        `${f(ratio)}× at p50`,
        `≤ ${TARGET_RATIO}×`,
        verdict(ratio <= TARGET_RATIO),
      ]);
      console.log(`bench(jail): ${op}: done (${N} + ${N} requests after ${WARMUP} warm-up each)`);
    }

    // Fresh jails: start → first successful exec through the proxy; the first one also gives the idle RSS.
    const startMs: number[] = [];
    let rss = Number.NaN;
    for (let i = 0; i < STARTS; i++) {
      const id = `bench-start-${randomBytes(4).toString("hex")}`;
      const t0 = performance.now();
      const started = await jail("POST", id);
      for (let tries = 0; ; tries++) {
        try {
          await directExec(id)();
          break;
        } catch (err) {
          if (tries >= 200) throw err;
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      startMs.push(performance.now() - t0);
      if (i === 0) {
        await new Promise((r) => setTimeout(r, IDLE_MS));
        rss = await rssMiB(Number(started.pid));
      }
      await jail("DELETE", id);
    }
    const ss = stats(startMs);
    console.log(`bench(jail): ${STARTS} fresh jails started and destroyed`);
    rows.push([
      "jail start → first exec, p50 / p95 ms",
      `${f(ss.p50, 0)} / ${f(ss.p95, 0)}`,
      "",
      `${f(ss.p50, 0)} ms p50`,
      `≤ ${TARGET_START_MS} ms`,
      verdict(ss.p50 <= TARGET_START_MS),
    ]);
    rows.push([
      `idle jail runtime VmRSS (${IDLE_MS / 1000} s idle)`,
      `${f(rss, 1)} MiB`,
      "",
      `${f(rss, 1)} MiB`,
      `≤ ${TARGET_RSS_MIB} MiB`,
      verdict(rss <= TARGET_RSS_MIB),
    ]);

    const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
    console.log(`\ncloudflare backend on jails (${N} iterations, 1 client; ${STARTS} fresh jails)`);
    for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  "));

    await worker(`/sandboxes/${projectId}?destroy=true`, { method: "DELETE" }).catch(() => undefined);
    await jail("DELETE", directId).catch(() => undefined);
  } catch (err) {
    for (const c of stack.supervisor.children)
      console.error(`--- last output of ${c.name} ---\n${c.tail().join("\n")}`);
    throw err;
  } finally {
    await guard.finish();
  }
}

runBench(main);
