/**
 * The idle TTL (issue 13, point 6): set at create, shown by GET /sandboxes/:id and the
 * listing, validated; which sandboxes a cron round finds idle (D1, real SQL); and that a
 * round never stops a sandbox it could not snapshot first. The whole path (snapshot, stop,
 * the next use restores) runs end to end in test/node/jobs-e2e.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import type { SandboxBackend } from "../../src/backend/types";
import { loadConfig } from "../../src/config";
import type { AppDeps } from "../../src/deps";
import { stopIdleSandboxes } from "../../src/sandboxes/idle";
import { createSandboxRegistry } from "../../src/sandboxes/registry";
import { apiJson, uniqueProject } from "./support/http";
import { queue, shellJob } from "./support/jobs";
import { snapshotsAt } from "./support/snapshots";

const registry = createSandboxRegistry(env.DB);
const MINUTE = 60_000;

describe("idle TTL", () => {
  it("is set at create, shown by status and listing, kept by a create without it, removed by null", async () => {
    const p = uniqueProject("idle-set");
    const created = await apiJson<{ settings: { idleTtl: number | null } }>(`/sandboxes/${p}`, {
      method: "POST",
      json: { idleTtl: "30m" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.data.settings.idleTtl).toBe(1800);
    await apiJson(`/sandboxes/${p}`, { method: "POST" });
    const status = await apiJson<{ settings: { idleTtl: number | null } }>(`/sandboxes/${p}`);
    expect(status.body.data.settings.idleTtl).toBe(1800);
    const listed = await apiJson<{ sandboxes: Array<{ projectId: string; idleTtlSeconds: number | null }> }>(
      "/sandboxes?limit=200",
    );
    expect(listed.body.data.sandboxes.find((s) => s.projectId === p)?.idleTtlSeconds).toBe(1800);
    await apiJson(`/sandboxes/${p}`, { method: "POST", json: { idleTtl: 3600 } });
    expect((await registry.idleTtlOf(p)) ?? 0).toBe(3600);
    const cleared = await apiJson<{ settings: { idleTtl: number | null } }>(`/sandboxes/${p}`, {
      method: "POST",
      json: { idleTtl: null },
    });
    expect(cleared.body.data.settings.idleTtl).toBeNull();
  });

  it("refuses durations outside a minute to 30 days, and malformed ones, changing nothing", async () => {
    const p = uniqueProject("idle-bad");
    await apiJson(`/sandboxes/${p}`, { method: "POST", json: { idleTtl: "2h" } });
    for (const idleTtl of ["forever", 59, "59s", "31d", 2_592_001, 1.5, "10 m", true]) {
      const res = await apiJson(`/sandboxes/${p}`, { method: "POST", json: { idleTtl } });
      expect(res.status, String(idleTtl)).toBe(400);
      expect(JSON.stringify(res.body), String(idleTtl)).toMatch(/idleTtl/);
    }
    expect(await registry.idleTtlOf(p)).toBe(7200);
    // The bounds themselves are allowed.
    for (const idleTtl of [60, "1m", "30d"]) {
      expect((await apiJson(`/sandboxes/${p}`, { method: "POST", json: { idleTtl } })).status).toBe(200);
    }
  });

  it("finds the sandboxes unused for their TTL: not those without one, in use, running a job, destroyed or stopped", async () => {
    const t = Date.parse("2001-01-01T00:00:00Z");
    const ids = Object.fromEntries(
      ["expired", "fresh", "none", "job", "destroyed", "stopped"].map((k) => [k, uniqueProject(`idle-${k}`)]),
    );
    for (const id of Object.values(ids)) await registry.noteUse(id, { force: true }, t);
    for (const k of ["expired", "job", "destroyed", "stopped"]) await registry.setIdleTtl(ids[k] as string, 600);
    await registry.setIdleTtl(ids.fresh as string, 3600);
    await registry.noteDestroyed(ids.destroyed as string, t);
    await registry.noteIdleStopped(ids.stopped as string, t + 11 * MINUTE);
    const { job } = await queue.create(shellJob(ids.job as string));
    await queue.leaseJob(job.id);

    const ours = (ids2: string[]) => ids2.filter((id) => Object.values(ids).includes(id));
    // Not yet: 10 minutes less a second.
    expect(ours(await registry.idleCandidates(t + 10 * MINUTE - 1000, 100))).toEqual([]);
    expect(ours(await registry.idleCandidates(t + 10 * MINUTE, 100))).toEqual([ids.expired]);
    expect(ours(await registry.idleCandidates(t + 60 * MINUTE, 100)).sort()).toEqual([ids.expired, ids.fresh].sort());
    // A use clears the stop and restarts the clock.
    await registry.noteUse(ids.stopped as string, { force: true }, t + 20 * MINUTE);
    expect(ours(await registry.idleCandidates(t + 29 * MINUTE, 100))).toEqual([ids.expired]);
    expect(ours(await registry.idleCandidates(t + 30 * MINUTE, 100)).sort()).toEqual([ids.expired, ids.stopped].sort());
    await queue.cancel(job.id).catch(() => {});
  });

  it("leaves a sandbox running, unmarked, when its snapshot fails", async () => {
    const p = uniqueProject("idle-fail");
    const backend: SandboxBackend = createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" });
    const deps: AppDeps = {
      backend,
      config: loadConfig(env as unknown as Record<string, unknown>),
      version: "test",
      sandboxes: registry,
      // A runner API no sandbox can reach: every snapshot fails.
      snapshots: snapshotsAt("http://127.0.0.1:9"),
    };
    await backend.ensure(p);
    const t = Date.parse("2001-06-01T00:00:00Z");
    await registry.noteUse(p, { force: true }, t);
    await registry.setIdleTtl(p, 60);
    const round = await stopIdleSandboxes(deps, t + 2 * MINUTE);
    expect(round.stopped.map((s) => s.projectId)).not.toContain(p);
    expect(round.failed.find((f) => f.projectId === p)?.error).toMatch(/ECONNREFUSED/);
    expect((await backend.status(p)).status).toBe("ready");
    expect(await registry.idleCandidates(t + 2 * MINUTE, 100)).toContain(p);
    await backend.destroy(p);
  });

  it("skips the whole round, stopping nothing, when no runner API could snapshot first", async () => {
    const deps = {
      backend: {} as SandboxBackend,
      config: loadConfig(env as unknown as Record<string, unknown>),
      version: "test",
      sandboxes: registry,
    } satisfies AppDeps;
    const round = await stopIdleSandboxes(deps, Date.now() + 365 * 24 * 60 * MINUTE);
    expect(round).toEqual({ stopped: [], failed: [], skipped: expect.stringMatching(/RUNNER_API_URL/) });
  });
});
