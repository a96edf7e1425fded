/**
 * Committing snapshots through the runner API against real (miniflare) R2 and D1:
 * the head moves by compare-and-swap, concurrent commits from one parent have
 * exactly one winner, missing packs leave the head alone, listings show parents.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { manifestText } from "../../src/shared/snapshot-format";
import { manifestKey } from "../../src/snapshots/packs";
import { uniqueProject } from "./support/http";
import { buildManifest, buildPack, commit, head, putPack, runner, snapshotIdOf } from "./support/snapshots";

describe("runner API commits", () => {
  it("a commit stores the manifest, records the snapshot and moves the head", async () => {
    const projectId = uniqueProject("commit");
    expect(await head(projectId)).toBeNull();
    const pack = await buildPack({ "src/a.ts": "export const a = 1;\n", "b b.txt": "unicode ✓\n" });
    expect((await putPack(projectId, pack)).status).toBe(201);
    const manifest = buildManifest(
      projectId,
      null,
      [pack],
      [
        { type: "dir", path: "empty", mode: 0o755 },
        {
          type: "file",
          path: "empty.txt",
          mode: 0o644,
          size: 0,
          mtimeMs: 1,
          blob: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        },
        { type: "symlink", path: "link", target: "src/a.ts" },
      ],
    );
    const id = await snapshotIdOf(manifest);

    const { status, body } = await commit(projectId, manifest);
    expect(status).toBe(201);
    expect(body).toEqual({ snapshotId: id, head: id });
    expect(await head(projectId)).toBe(id);

    const stored = await runner(projectId, `/snapshots/${id}`);
    expect(stored.status).toBe(200);
    expect(await stored.text()).toBe(manifestText(manifest));

    const missing = await runner(projectId, `/snapshots/${"a".repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe("SNAPSHOT_NOT_FOUND");
  });

  it("lists snapshots newest first with parents, sizes and the head", async () => {
    const projectId = uniqueProject("commit");
    const p1 = await buildPack({ a: "one" });
    await putPack(projectId, p1);
    const m1 = buildManifest(projectId, null, [p1]);
    const id1 = await snapshotIdOf(m1);
    expect((await commit(projectId, m1)).status).toBe(201);

    const p2 = await buildPack({ b: "two two" });
    await putPack(projectId, p2);
    const m2 = buildManifest(projectId, id1, [p1, p2]);
    const id2 = await snapshotIdOf(m2);
    expect((await commit(projectId, m2)).status).toBe(201);

    const res = await runner(projectId, "/snapshots");
    const { snapshots } = (await res.json()) as { snapshots: Array<Record<string, unknown>> };
    expect(snapshots.map((s) => [s.snapshotId, s.parent, s.isHead])).toEqual([
      [id2, id1, true],
      [id1, null, false],
    ]);
    expect(snapshots[0]).toMatchObject({ files: 2, bytes: 10, uploadedBytes: p2.bytes.byteLength });
    expect(snapshots[1]).toMatchObject({ files: 1, bytes: 3, uploadedBytes: p1.bytes.byteLength });
  });

  it("two concurrent commits from the same parent: exactly one wins, the other gets 409 HEAD_MOVED", async () => {
    const projectId = uniqueProject("race");
    const base = await buildPack({ a: "base" });
    await putPack(projectId, base);
    const m0 = buildManifest(projectId, null, [base]);
    const id0 = await snapshotIdOf(m0);
    expect((await commit(projectId, m0)).status).toBe(201);

    const left = await buildPack({ left: "left side" });
    const right = await buildPack({ right: "right side" });
    await Promise.all([putPack(projectId, left), putPack(projectId, right)]);
    const ml = buildManifest(projectId, id0, [base, left]);
    const mr = buildManifest(projectId, id0, [base, right]);
    const [rl, rr] = await Promise.all([commit(projectId, ml), commit(projectId, mr)]);

    const statuses = [rl.status, rr.status].sort();
    expect(statuses).toEqual([201, 409]);
    const winner = rl.status === 201 ? ml : mr;
    const loser = rl.status === 201 ? rr : rl;
    const winnerId = await snapshotIdOf(winner);
    expect(loser.body).toMatchObject({ success: false, code: "HEAD_MOVED", details: { head: winnerId } });
    expect(await head(projectId)).toBe(winnerId);

    // The loser left no record and no manifest behind.
    const loserId = await snapshotIdOf(rl.status === 201 ? mr : ml);
    const list = (await (await runner(projectId, "/snapshots")).json()) as { snapshots: Array<{ snapshotId: string }> };
    expect(list.snapshots.map((s) => s.snapshotId).sort()).toEqual([id0, winnerId].sort());
    expect(await env.SNAPSHOTS.head(manifestKey(projectId, loserId))).toBeNull();
  });

  it("a commit naming a pack that is not stored is a 400 MISSING_PACKS and the head stays", async () => {
    const projectId = uniqueProject("missing");
    const p1 = await buildPack({ a: "stored" });
    await putPack(projectId, p1);
    const m1 = buildManifest(projectId, null, [p1]);
    const id1 = await snapshotIdOf(m1);
    await commit(projectId, m1);

    const absent = await buildPack({ b: "never uploaded" });
    const m2 = buildManifest(projectId, id1, [p1, absent]);
    const { status, body } = await commit(projectId, m2);
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: "MISSING_PACKS", details: { missing: [absent.id] } });
    expect(await head(projectId)).toBe(id1);
    expect(await env.SNAPSHOTS.head(manifestKey(projectId, await snapshotIdOf(m2)))).toBeNull();
  });

  it("a retried commit whose answer was lost succeeds again; a stale parent is a 409", async () => {
    const projectId = uniqueProject("retry");
    const p1 = await buildPack({ a: "x" });
    await putPack(projectId, p1);
    const m1 = buildManifest(projectId, null, [p1]);
    const id1 = await snapshotIdOf(m1);
    expect((await commit(projectId, m1)).status).toBe(201);
    expect(await commit(projectId, m1)).toMatchObject({ status: 201, body: { snapshotId: id1, head: id1 } });

    const stale = buildManifest(projectId, null, [p1], [{ type: "dir", path: "d", mode: 0o755 }]);
    expect(await commit(projectId, stale)).toMatchObject({ status: 409, body: { code: "HEAD_MOVED" } });
    expect(await head(projectId)).toBe(id1);
  });

  it("refuses invalid manifests: another project, escaping paths, blobs outside their pack", async () => {
    const projectId = uniqueProject("invalid");
    const p1 = await buildPack({ a: "content" });
    await putPack(projectId, p1);

    const other = buildManifest("someone-else", null, [p1]);
    expect(await commit(projectId, other)).toMatchObject({ status: 400, body: { code: "PROJECT_MISMATCH" } });

    const escaping = buildManifest(projectId, null, [p1], [{ type: "dir", path: "../etc", mode: 0o755 }]);
    expect(await commit(projectId, escaping)).toMatchObject({ status: 400, body: { code: "VALIDATION_ERROR" } });

    const beyond = buildManifest(projectId, null, [p1]);
    const entry = beyond.entries[0];
    if (entry?.type !== "file" || !entry.loc) throw new Error("expected a file");
    entry.loc.offset = p1.bytes.byteLength;
    expect(await commit(projectId, beyond)).toMatchObject({ status: 400, body: { code: "BLOB_OUT_OF_PACK" } });
    expect(await head(projectId)).toBeNull();
  });
});
