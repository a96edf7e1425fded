/**
 * @module test/worker/contract/files
 * Contract: read, write, delete and list, binary-safe, with typed errors, and
 * (where the backend confines symlinks) refusal of symlink escapes.
 */
import { expect, it } from "vitest";
import { type ContractContext, expectAppError, readBytes, readText, utf8 } from "./helpers";

/** Registers the file tests (inside the suite's describe). */
export function defineFilesContract(ctx: ContractContext): void {
  it("writeFile round-trips every byte value and creates parent directories", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const bytes = new Uint8Array(512).map((_, i) => i % 256);
    expect(await b.writeFile(p, "/workspace/deep/er/data.bin", bytes)).toEqual({ size: 512 });
    expect(Array.from(await readBytes(b, p, "/workspace/deep/er/data.bin"))).toEqual(Array.from(bytes));
    await b.writeFile(p, "/workspace/deep/er/data.bin", utf8("short"));
    expect(await readText(b, p, "/workspace/deep/er/data.bin")).toBe("short");
  });

  it("readFile: missing file is FILE_NOT_FOUND, over maxBytes is PAYLOAD_TOO_LARGE", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await expectAppError(b.readFile(p, "/workspace/nope.txt", 1024), "FILE_NOT_FOUND");
    await b.writeFile(p, "/workspace/big.txt", utf8("x".repeat(2048)));
    const err = await expectAppError(b.readFile(p, "/workspace/big.txt", 1024), "PAYLOAD_TOO_LARGE");
    expect(err.status).toBe(413);
  });

  it("deletePath removes a file, and a directory with everything in it", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await b.writeFile(p, "/workspace/gone.txt", utf8("bye"));
    await b.deletePath(p, "/workspace/gone.txt");
    await expectAppError(b.readFile(p, "/workspace/gone.txt", 1024), "FILE_NOT_FOUND");
    await b.writeFile(p, "/workspace/tree/a/b.txt", utf8("b"));
    await b.writeFile(p, "/workspace/tree/c.txt", utf8("c"));
    await b.deletePath(p, "/workspace/tree");
    const names = (await b.list(p, "/workspace", { recursive: false })).map((e) => e.name);
    expect(names).not.toContain("tree");
    await expectAppError(b.deletePath(p, "/workspace/tree"), "FILE_NOT_FOUND");
  });

  it("list reports entries with name, path, type, size, modifiedAt and mode", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const before = Date.now();
    await b.writeFile(p, "/workspace/l/a.txt", utf8("abc"));
    await b.writeFile(p, "/workspace/l/sub/b.txt", utf8("b"));
    await b.exec(p, { command: "chmod 0640 /workspace/l/a.txt && ln -s a.txt /workspace/l/link", timeoutMs: 10_000 });
    const entries = await b.list(p, "/workspace/l", { recursive: false });
    expect(entries.map((e) => e.name).sort()).toEqual(["a.txt", "link", "sub"]);
    const file = entries.find((e) => e.name === "a.txt");
    expect(file).toMatchObject({ path: "/workspace/l/a.txt", type: "file", size: 3, mode: "0640" });
    const mtime = Date.parse(file?.modifiedAt ?? "");
    expect(mtime).toBeGreaterThan(before - 60_000);
    expect(mtime).toBeLessThan(Date.now() + 60_000);
    expect(entries.find((e) => e.name === "sub")).toMatchObject({ path: "/workspace/l/sub", type: "directory" });
    expect(entries.find((e) => e.name === "link")).toMatchObject({ path: "/workspace/l/link", type: "symlink" });
    for (const e of entries) expect(e.mode).toMatch(/^[0-7]{4}$/);
  });

  it("list recursive includes nested entries; non-recursive does not", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await b.writeFile(p, "/workspace/r/x/y/z.txt", utf8("z"));
    const flat = (await b.list(p, "/workspace/r", { recursive: false })).map((e) => e.path);
    expect(flat).toEqual(["/workspace/r/x"]);
    const deep = (await b.list(p, "/workspace/r", { recursive: true })).map((e) => e.path).sort();
    expect(deep).toEqual(["/workspace/r/x", "/workspace/r/x/y", "/workspace/r/x/y/z.txt"]);
    await expectAppError(b.list(p, "/workspace/missing", { recursive: false }), "FILE_NOT_FOUND");
  });

  it("a symlink out of the workspace reaches only what a command inside sees", async () => {
    // The container is the boundary: the files API resolves paths inside it, as a command would,
    // so a link out of /workspace gives the container's own file, never one of the host's.
    const b = ctx.backend();
    const p = ctx.project();
    const setup = "mkdir -p /tmp/outside && echo inside-view > /tmp/outside/f && ln -s /tmp/outside /workspace/esc";
    await b.exec(p, { command: setup, timeoutMs: 10_000 });
    expect(await readText(b, p, "/workspace/esc/f")).toBe("inside-view\n");
    await b.writeFile(p, "/workspace/esc/planted", utf8("x"));
    const seen = await b.exec(p, { command: "cat /tmp/outside/planted", timeoutMs: 10_000 });
    expect(seen.stdout).toBe("x");
    await expectAppError(b.readFile(p, "/workspace/esc/missing", 1024), "FILE_NOT_FOUND");
  });
}
