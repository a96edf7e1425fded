/**
 * HttpStore against the stand-in runner API (test/support/standin-runner-api.ts,
 * a MemStore behind the runner API's routes): a full snapshot/restore over HTTP,
 * retries with backoff on 500/429/network errors, no retry on 4xx, and HEAD_MOVED
 * passed through.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_REBASES } from "../../../container/runner/archiver.ts";
import { HttpStore } from "../../../container/runner/http-store.ts";
import { describeTree, restore, snap, tempDir } from "../../support/runner-fixtures.ts";
import { startStandinRunnerApi } from "../../support/standin-runner-api.ts";
import { useStandinRunnerApi } from "../../support/use-standin-runner-api.ts";

const api = useStandinRunnerApi();
let retries: { attempt: number; delayMs: number }[];

function store(over: { token?: string; attempts?: number } = {}): HttpStore {
  return new HttpStore({
    apiUrl: api.url,
    token: over.token ?? api.token,
    projectId: api.projectId,
    attempts: over.attempts ?? 5,
    baseDelayMs: 20,
    maxDelayMs: 200,
    onRetry: (i) => retries.push({ attempt: i.attempt, delayMs: i.delayMs }),
  });
}

beforeEach(() => {
  retries = [];
});

describe("HttpStore (stand-in runner API)", () => {
  it("snapshots and restores over HTTP", async () => {
    const a = await tempDir();
    await writeFile(join(a, "a.txt"), "alpha");
    await writeFile(join(a, "b.bin"), Buffer.alloc(100_000, 3));
    const s = await snap(store(), a);
    expect(api.store.head).toBe(s.snapshotId);
    const b = await tempDir();
    const r = await restore(store(), b);
    expect(r.downloadedBytes).toBeGreaterThan(100_000);
    expect(await describeTree(b)).toEqual(await describeTree(a));
    expect(api.log.some((l) => l.startsWith("GET") && l.endsWith(" 206"))).toBe(true);
  });

  it("retries 500, 503 and 429 with growing backoff, then succeeds", async () => {
    api.faults.push({ path: "/head", status: 500 }, { path: "/head", status: 429 }, { path: "/head", status: 503 });
    const a = await tempDir();
    await writeFile(join(a, "a.txt"), "alpha");
    api.faults.push({ method: "PUT", status: 502 });
    const s = await snap(store(), a);
    expect(s.unchanged).toBe(false);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3, 1]);
    expect(retries.every((r) => r.delayMs <= 200)).toBe(true);
  });

  it("gives up after the bounded number of attempts", async () => {
    for (let i = 0; i < 10; i++) api.faults.push({ path: "/head", status: 500 });
    await expect(store({ attempts: 3 }).getHead()).rejects.toMatchObject({ code: "INJECTED", transient: true });
    expect(api.log.filter((l) => l.includes("/head"))).toHaveLength(3);
  });

  it("never retries a 4xx", async () => {
    api.faults.push({ path: "/head", status: 400, code: "VALIDATION_ERROR" });
    await expect(store().getHead()).rejects.toMatchObject({ code: "VALIDATION_ERROR" });
    await expect(store({ token: "wrong" }).getHead()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    expect(retries).toHaveLength(0);
    expect(api.log).toHaveLength(2);
  });

  it("retries network errors (connection refused) and reports NETWORK_ERROR", async () => {
    // An address nothing listens on any more: a stand-in started and closed again.
    const gone = await startStandinRunnerApi();
    await gone.close();
    const s = new HttpStore({ apiUrl: gone.url, token: "t", projectId: "demo", attempts: 3, baseDelayMs: 5 });
    await expect(s.getHead()).rejects.toMatchObject({ code: "NETWORK_ERROR" });
  });

  it("passes HEAD_MOVED (409) through without retrying (the archiver rebases, at most MAX_REBASES times)", async () => {
    const a = await tempDir();
    await writeFile(join(a, "a.txt"), "alpha");
    await snap(store(), a);
    for (let i = 0; i <= MAX_REBASES; i++) {
      api.faults.push({ method: "POST", path: "/snapshots", status: 409, code: "HEAD_MOVED" });
    }
    await writeFile(join(a, "a.txt"), "beta");
    await expect(snap(store(), a)).rejects.toMatchObject({ code: "HEAD_MOVED" });
    expect(retries).toHaveLength(0);
    expect(api.faults).toHaveLength(0);
  });

  it("a commit retried after its answer was lost counts as done", async () => {
    const a = await tempDir();
    await writeFile(join(a, "a.txt"), "alpha");
    // First POST succeeds server-side but we make the client see a 500 on a replay:
    // simulate by committing, then replaying the same manifest through HttpStore.
    const first = await snap(store(), a);
    const manifest = JSON.parse(api.store.manifests.get(first.snapshotId) as string);
    const res = await store().commit(manifest);
    expect(res.snapshotId).toBe(first.snapshotId);
  });
});
