/**
 * Retention and pack GC against real (miniflare) R2 and D1: the newest N snapshots
 * and the head survive with every pack they need; older records, manifests and
 * unreferenced packs go, but never a pack inside the grace period.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { manifestKey, packKey } from "../../src/snapshots/packs";
import { createSnapshotService } from "../../src/snapshots/service";
import { uniqueProject } from "./support/http";
import { type BuiltPack, buildManifest, buildPack, snapshotIdOf } from "./support/snapshots";

function service(keep: number) {
  // A grace period far in the future so commits' own retention runs collect no packs;
  // each test then applies retention explicitly with the grace it is about.
  return createSnapshotService({
    bucket: env.SNAPSHOTS,
    db: env.DB,
    keep,
    secrets: { RUNNER_TOKEN_SECRET: "retention-test" },
    runnerApiUrl: null,
    packGraceMs: 24 * 3_600_000,
  });
}

async function storePack(projectId: string, pack: BuiltPack): Promise<void> {
  await env.SNAPSHOTS.put(packKey(projectId, pack.id), pack.bytes);
}

/** Commit a chain of `n` snapshots: each adds its own pack and all share `shared`. */
async function chain(svc: ReturnType<typeof service>, projectId: string, n: number) {
  const shared = await buildPack({ "shared.txt": "needed by every snapshot" });
  await storePack(projectId, shared);
  const ids: string[] = [];
  const own: BuiltPack[] = [];
  let parent: string | null = null;
  for (let i = 0; i < n; i++) {
    const pack = await buildPack({ [`file-${i}.txt`]: `version ${i}` });
    await storePack(projectId, pack);
    const manifest = buildManifest(projectId, parent, [shared, pack]);
    const { snapshotId } = await svc.commit(projectId, manifest);
    expect(snapshotId).toBe(await snapshotIdOf(manifest));
    ids.push(snapshotId);
    own.push(pack);
    parent = snapshotId;
  }
  return { shared, ids, own };
}

async function storedPacks(projectId: string): Promise<string[]> {
  const prefix = `projects/${projectId}/packs/`;
  const list = await env.SNAPSHOTS.list({ prefix });
  return list.objects.map((o) => o.key.slice(prefix.length)).sort();
}

describe("retention and pack GC", () => {
  it("keeps the newest N plus the head, and every pack they reference", async () => {
    const projectId = uniqueProject("gc");
    const svc = service(2);
    const { shared, ids, own } = await chain(svc, projectId, 5);
    // Commits already applied retention: only the newest two records remain.
    expect((await svc.listSnapshots(projectId)).map((s) => s.snapshotId)).toEqual([ids[4], ids[3]]);

    // A pack uploaded but never committed; "now" a second ahead puts it past a zero grace.
    const stray = await buildPack({ "stray.bin": "uploaded, never committed" });
    await storePack(projectId, stray);
    const result = await svc.applyRetention(projectId, { graceMs: 0, now: new Date(Date.now() + 1000) });
    expect(result.deletedSnapshots).toEqual([]);
    expect(result.deletedPacks.sort()).toEqual([own[0]?.id, own[1]?.id, own[2]?.id, stray.id].sort());
    expect(await storedPacks(projectId)).toEqual([shared.id, own[3]?.id, own[4]?.id].sort());
    for (const old of ids.slice(0, 3)) {
      expect(await env.SNAPSHOTS.head(manifestKey(projectId, old as string))).toBeNull();
    }
  });

  it("the head survives however old it is, with its packs", async () => {
    const projectId = uniqueProject("gc-head");
    const svc = service(10);
    const { shared, ids, own } = await chain(svc, projectId, 4);
    // Point the head at the oldest snapshot (as a rollback would), then tighten retention.
    await env.DB.prepare("UPDATE heads SET snapshot_id = ? WHERE project_id = ?").bind(ids[0], projectId).run();
    const tight = service(1);
    const result = await tight.applyRetention(projectId, { graceMs: 0, now: new Date(Date.now() + 1000) });
    expect(result.deletedSnapshots.sort()).toEqual([ids[1], ids[2]].sort());
    const left = await tight.listSnapshots(projectId);
    expect(left.map((s) => [s.snapshotId, s.isHead])).toEqual([
      [ids[3], false],
      [ids[0], true],
    ]);
    expect(await storedPacks(projectId)).toEqual([shared.id, own[0]?.id, own[3]?.id].sort());
    expect(await env.SNAPSHOTS.head(manifestKey(projectId, ids[0] as string))).not.toBeNull();
  });

  it("deletes no pack uploaded within the grace period", async () => {
    const projectId = uniqueProject("gc-grace");
    const svc = service(1);
    const { ids } = await chain(svc, projectId, 3);
    const inFlight = await buildPack({ "new.txt": "a snapshot being uploaded right now" });
    await storePack(projectId, inFlight);
    const before = await storedPacks(projectId);
    const result = await svc.applyRetention(projectId); // default grace: 24 h here
    expect(result.deletedPacks).toEqual([]);
    expect(await storedPacks(projectId)).toEqual(before);
    expect((await svc.listSnapshots(projectId)).map((s) => s.snapshotId)).toEqual([ids[2]]);

    // The default of the module (1 h) also keeps them.
    const fresh = await svc.applyRetention(projectId, { graceMs: 3_600_000 });
    expect(fresh.deletedPacks).toEqual([]);
  });
});
