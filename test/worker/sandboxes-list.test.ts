/**
 * GET /sandboxes: the registry of sandboxes the API has seen (D1), through the real
 * entry and local jails — created, used, destroyed, with heads and running jobs joined
 * — and its pagination and throttled writes against D1 directly.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createSandboxRegistry, type SandboxListing, USE_WRITE_MS } from "../../src/sandboxes/registry";
import { moveHead } from "../../src/snapshots/heads";
import { api, apiJson, createProject, uniqueProject } from "./support/http";
import { queue, shellJob } from "./support/jobs";

type Page = { sandboxes: SandboxListing[]; nextCursor: string | null };

/** Every listed sandbox, page by page (`limit` per page), checking no page repeats a row. */
async function listAll(query = "", limit = 50): Promise<SandboxListing[]> {
  const all: SandboxListing[] = [];
  let cursor: string | null = null;
  do {
    const qs: string = `?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ""}`;
    const page: { status: number; body: { data: Page } } = await apiJson<Page>(`/sandboxes${qs}`);
    expect(page.status).toBe(200);
    all.push(...page.body.data.sandboxes);
    cursor = page.body.data.nextCursor;
  } while (cursor);
  expect(new Set(all.map((s) => s.projectId)).size).toBe(all.length);
  return all;
}

const find = (all: SandboxListing[], id: string) => all.find((s) => s.projectId === id);

describe("GET /sandboxes", () => {
  it("lists what was created, used and destroyed, with its head", async () => {
    const used = await createProject("list");
    const gone = await createProject("list");
    await apiJson(`/sandboxes/${gone}/files/workspace/a.txt`, { method: "PUT", json: { content: "a" } });
    const destroyed = await apiJson(`/sandboxes/${gone}?destroy=true&snapshot=false`, { method: "DELETE" });
    expect(destroyed.status).toBe(200);
    // The head is joined from the snapshots' table (snapshots need the runner API, absent here).
    const head = "a".repeat(64);
    expect(await moveHead(env.DB, gone, null, head)).toEqual({ moved: true });
    // A project never reached is not listed, even after a status query.
    const never = uniqueProject("list");
    expect((await api(`/sandboxes/${never}`)).status).toBe(404);

    const all = await listAll();
    expect(find(all, used)).toMatchObject({
      state: "active",
      destroyedAt: null,
      runningJobId: null,
      headSnapshotId: null,
      idleTtlSeconds: null,
      idleStoppedAt: null,
    });
    expect(find(all, gone)).toMatchObject({ state: "destroyed", headSnapshotId: head });
    expect(Date.parse(find(all, gone)?.destroyedAt ?? "")).toBeGreaterThan(0);
    expect(find(all, never)).toBeUndefined();
    const active = await listAll("&state=active");
    expect(find(active, used)).toBeDefined();
    expect(find(active, gone)).toBeUndefined();

    // Any way back in (here an exec, no create) makes it active again, as a new sandbox.
    const before = find(all, gone)?.createdAt ?? "";
    expect((await apiJson(`/sandboxes/${gone}/exec`, { method: "POST", json: { command: "cat a.txt" } })).status).toBe(
      200,
    );
    const again = find(await listAll(), gone);
    expect(again).toMatchObject({ state: "active", destroyedAt: null });
    expect(Date.parse(again?.createdAt ?? "")).toBeGreaterThanOrEqual(Date.parse(before));
  });

  it("pages by project id with an opaque cursor; a bad cursor or limit is a 400", async () => {
    const registry = createSandboxRegistry(env.DB);
    const ids = ["pg-a", "pg-b", "pg-c"].map((p) => uniqueProject(p));
    for (const id of ids) await registry.noteUse(id);
    const ones = await listAll("", 1);
    const ours = ones.map((s) => s.projectId).filter((id) => ids.includes(id));
    expect(ours).toEqual([...ids].sort());
    for (const [qs, code] of [
      ["?cursor=%%%", "INVALID_CURSOR"],
      [`?cursor=${btoa("UPPER")}`, "INVALID_CURSOR"],
      ["?limit=0", "VALIDATION_ERROR"],
      ["?limit=201", "VALIDATION_ERROR"],
      ["?state=asleep", "VALIDATION_ERROR"],
    ]) {
      const res = await apiJson(`/sandboxes${qs}`);
      expect(res.status, qs).toBe(400);
      expect(res.body.code, qs).toBe(code);
    }
  });

  it("shows the job running in a sandbox", async () => {
    const registry = createSandboxRegistry(env.DB);
    const p = uniqueProject("jobrun");
    await registry.noteUse(p);
    const { job } = await queue.create(shellJob(p));
    await queue.leaseJob(job.id);
    expect(find(await listAll(), p)?.runningJobId).toBe(job.id);
  });

  it("writes a use at most once a minute unless forced; a destroy makes the next use write", async () => {
    const registry = createSandboxRegistry(env.DB);
    const p = uniqueProject("throttle");
    const lastUsed = async () =>
      (
        await env.DB.prepare("SELECT last_used_at, state FROM sandboxes WHERE project_id = ?")
          .bind(p)
          .first<{ last_used_at: string; state: string }>()
      )?.last_used_at;
    const t = Date.parse("2030-01-01T00:00:00Z");
    await registry.noteUse(p, {}, t);
    await registry.noteUse(p, {}, t + USE_WRITE_MS - 1);
    expect(await lastUsed()).toBe(new Date(t).toISOString());
    await registry.noteUse(p, { force: true }, t + 5);
    expect(await lastUsed()).toBe(new Date(t + 5).toISOString());
    await registry.noteUse(p, {}, t + 5 + USE_WRITE_MS);
    expect(await lastUsed()).toBe(new Date(t + 5 + USE_WRITE_MS).toISOString());
    await registry.noteDestroyed(p, t + USE_WRITE_MS + 10);
    await registry.noteUse(p, {}, t + USE_WRITE_MS + 20);
    expect(await lastUsed()).toBe(new Date(t + USE_WRITE_MS + 20).toISOString());
  });
});
