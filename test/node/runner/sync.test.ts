/**
 * `sync --watch` as a real child process against the stand-in runner API:
 * package.json syncs at once, other files wait for the batch size or interval,
 * ignored paths do not count, and SIGTERM flushes pending changes before exit;
 * a second watcher in the same sandbox leaves the workspace to the first.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner, startRunner } from "../../support/runner-process.ts";
import { useStandinRunnerApi } from "../../support/use-standin-runner-api.ts";

const api = useStandinRunnerApi();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * How long a watcher may take to print its initial snapshot: it is a Node process loading
 * the runner's TypeScript sources, ~1 s idle but several times that on a loaded CI machine
 * (this bound is not what the tests pin; the batching windows after it are).
 */
const FIRST_LINE_MS = 20_000;

/** Waits until `count()` reaches `n` or `ms` pass; returns the final count. */
async function waitFor(count: () => number, n: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  while (count() < n && Date.now() < end) await sleep(25);
  return count();
}

function files(manifestText: string | undefined): string[] {
  const m = JSON.parse(manifestText ?? '{"entries":[]}') as { entries: { type: string; path: string }[] };
  return m.entries.filter((e) => e.type === "file").map((e) => e.path);
}

describe("sync --watch", () => {
  it("immediate for package.json, batched otherwise, ignored paths do not count, SIGTERM flushes", async () => {
    const ws = await tempDir();
    await writeFile(join(ws, "seed.txt"), "seed");
    let lines = 0;
    const run = startRunner(
      ["sync", "--watch", "--json", "--interval-ms", "2000", "--batch-files", "3"],
      runnerEnv(api, ws),
      {
        onStdoutLine: () => lines++,
      },
    );
    expect(await waitFor(() => lines, 1, FIRST_LINE_MS)).toBe(1); // initial snapshot
    await sleep(300); // let the recursive watcher settle

    // A normal file waits for the batch...
    await writeFile(join(ws, "a.ts"), "a");
    await sleep(600);
    expect(lines).toBe(1);
    // ...ignored paths never count...
    await mkdir(join(ws, "node_modules"));
    for (let i = 0; i < 5; i++) await writeFile(join(ws, "node_modules", `m${i}.js`), "m");
    await writeFile(join(ws, "x.log"), "log");
    await sleep(400);
    expect(lines).toBe(1);
    // ...and package.json goes at once (taking a.ts along).
    await writeFile(join(ws, "package.json"), "{}");
    expect(await waitFor(() => lines, 2, 1500)).toBe(2);
    expect(files(api.store.manifests.get(api.store.head as string))).toEqual(["a.ts", "package.json", "seed.txt"]);

    // Three files reach the batch size.
    for (const n of ["b", "c", "d"]) await writeFile(join(ws, `${n}.ts`), n);
    expect(await waitFor(() => lines, 3, 1500)).toBe(3);

    // One file goes with the interval.
    await writeFile(join(ws, "e.ts"), "e");
    await sleep(800);
    expect(lines).toBe(3);
    expect(await waitFor(() => lines, 4, 3000)).toBe(4);

    // A pending change is flushed on SIGTERM.
    await writeFile(join(ws, "f.ts"), "f");
    await sleep(200);
    expect(lines).toBe(4);
    run.child.kill("SIGTERM");
    const done = await run.done;
    expect(done.code).toBe(0);
    expect(done.result).toMatchObject({ ok: true, command: "snapshot", unchanged: false });
    expect(files(api.store.manifests.get(api.store.head as string))).toContain("f.ts");
  });

  it("is one per sandbox: a second watcher leaves at once while the first runs, and starts once it has gone", async () => {
    const ws = await tempDir();
    await writeFile(join(ws, "seed.txt"), "seed");
    const watch = ["sync", "--watch", "--json", "--interval-ms", "60000"];
    let lines = 0;
    const first = startRunner(watch, runnerEnv(api, ws), { onStdoutLine: () => lines++ });
    expect(await waitFor(() => lines, 1, FIRST_LINE_MS)).toBe(1);

    const second = await runRunner(watch, runnerEnv(api, ws));
    expect(second.code, second.stderr).toBe(0);
    expect(second.result).toEqual({ ok: true, command: "sync", alreadyRunning: true });
    expect(second.stderr).toContain("another sync watcher runs");

    first.child.kill("SIGTERM");
    expect((await first.done).code).toBe(0);
    let thirdLines = 0;
    const third = startRunner(watch, runnerEnv(api, ws), { onStdoutLine: () => thirdLines++ });
    expect(await waitFor(() => thirdLines, 1, FIRST_LINE_MS)).toBe(1);
    third.child.kill("SIGTERM");
    expect((await third.done).result).toMatchObject({ ok: true, command: "snapshot" });
  });
});
