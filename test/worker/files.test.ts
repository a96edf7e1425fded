/**
 * Files and listings through the Worker (local jails): text, base64 and
 * raw bytes both ways, parents created on write, deletes, structured listings.
 */
import { describe, expect, it } from "vitest";
import { api, apiJson, createProject } from "./support/http";

const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);

describe("files", () => {
  it("writes text with parents created and reads it back", async () => {
    const p = await createProject("files");
    const put = await apiJson(`/sandboxes/${p}/files/workspace/deep/er/hello.txt`, {
      method: "PUT",
      json: { content: "héllo wörld\n" },
    });
    expect(put.body).toMatchObject({ success: true, data: { path: "/workspace/deep/er/hello.txt", size: 14 } });
    const get = await apiJson(`/sandboxes/${p}/files/workspace/deep/er/hello.txt`);
    expect(get.body.data).toEqual({
      path: "/workspace/deep/er/hello.txt",
      content: "héllo wörld\n",
      encoding: "utf8",
      size: 14,
    });
  });

  it("round-trips binary as base64 JSON", async () => {
    const p = await createProject("files");
    const b64 = btoa(String.fromCharCode(...allBytes));
    await apiJson(`/sandboxes/${p}/files/workspace/all.bin`, {
      method: "PUT",
      json: { content: b64, encoding: "base64" },
    });
    const get = await apiJson(`/sandboxes/${p}/files/workspace/all.bin?encoding=base64`);
    expect(get.body.data).toMatchObject({ content: b64, encoding: "base64", size: 256 });
    // Without ?encoding, bytes that are not UTF-8 still come back intact, as base64.
    const auto = await apiJson(`/sandboxes/${p}/files/workspace/all.bin`);
    expect(auto.body.data).toMatchObject({ content: b64, encoding: "base64" });
  });

  it("round-trips raw application/octet-stream bytes both ways", async () => {
    const p = await createProject("files");
    const put = await api(`/sandboxes/${p}/files/workspace/raw.bin`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: allBytes,
    });
    expect(put.status).toBe(200);
    const get = await api(`/sandboxes/${p}/files/workspace/raw.bin`, {
      headers: { accept: "application/octet-stream" },
    });
    expect(get.headers.get("content-type")).toBe("application/octet-stream");
    expect(new Uint8Array(await get.arrayBuffer())).toEqual(allBytes);
  });

  it("writes a file larger than one write part (joined in the container) byte for byte", async () => {
    const p = await createProject("files");
    // 2.5 parts of WRITE_PART_BYTES (8 MiB): cloudflare-files.ts streamParts, then cat.
    const big = new Uint8Array(20 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const digest = async (b: ArrayBuffer | Uint8Array) =>
      btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", b))));
    const put = await api(`/sandboxes/${p}/files/workspace/big.bin`, {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: big,
    });
    expect(put.status).toBe(200);
    const get = await api(`/sandboxes/${p}/files/workspace/big.bin`, {
      headers: { accept: "application/octet-stream" },
    });
    const back = await get.arrayBuffer();
    expect(back.byteLength).toBe(big.byteLength);
    expect(await digest(back)).toBe(await digest(big));
    const leftovers = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: "ls -A /workspace" },
    });
    expect(leftovers.body.data.stdout).toBe("big.bin\n");
  });

  it("handles names with spaces and unicode through percent-encoding", async () => {
    const p = await createProject("files");
    const path = `/sandboxes/${p}/files/workspace/${encodeURIComponent("a dir")}/${encodeURIComponent("ünï cødé.txt")}`;
    expect((await apiJson(path, { method: "PUT", json: { content: "ok" } })).status).toBe(200);
    const listing = await apiJson<{ entries: Array<{ name: string }> }>(
      `/sandboxes/${p}/ls?path=${encodeURIComponent("/workspace/a dir")}`,
    );
    expect(listing.body.data.entries.map((e) => e.name)).toEqual(["ünï cødé.txt"]);
  });

  it("answers 404 FILE_NOT_FOUND for a missing file", async () => {
    const p = await createProject("files");
    const { status, body } = await apiJson(`/sandboxes/${p}/files/workspace/missing.txt`);
    expect(status).toBe(404);
    expect(body).toMatchObject({ success: false, code: "FILE_NOT_FOUND" });
  });

  it("deletes files and whole directories", async () => {
    const p = await createProject("files");
    await apiJson(`/sandboxes/${p}/files/workspace/d/x.txt`, { method: "PUT", json: { content: "1" } });
    await apiJson(`/sandboxes/${p}/files/workspace/d/y/z.txt`, { method: "PUT", json: { content: "2" } });
    expect((await apiJson(`/sandboxes/${p}/files/workspace/d/x.txt`, { method: "DELETE" })).body).toMatchObject({
      success: true,
      data: { path: "/workspace/d/x.txt", deleted: true },
    });
    expect((await apiJson(`/sandboxes/${p}/files/workspace/d`, { method: "DELETE" })).status).toBe(200);
    const ls = await apiJson<{ entries: unknown[] }>(`/sandboxes/${p}/ls`);
    expect(ls.body.data.entries).toEqual([]);
  });

  it("refuses to delete the workspace root", async () => {
    const p = await createProject("files");
    const { status, body } = await apiJson(`/sandboxes/${p}/files/workspace`, { method: "DELETE" });
    expect(status).toBe(400);
    expect(body.code).toBe("INVALID_PATH");
  });
});

describe("ls", () => {
  it("lists structured entries, flat by default and recursive on request", async () => {
    const p = await createProject("files");
    await apiJson(`/sandboxes/${p}/files/workspace/a.txt`, { method: "PUT", json: { content: "abc" } });
    await apiJson(`/sandboxes/${p}/files/workspace/sub/b.txt`, { method: "PUT", json: { content: "b" } });
    const flat = await apiJson<{ path: string; entries: Array<Record<string, unknown>> }>(`/sandboxes/${p}/ls`);
    expect(flat.body.data.path).toBe("/workspace");
    const byName = Object.fromEntries(flat.body.data.entries.map((e) => [e.name, e]));
    expect(Object.keys(byName).sort()).toEqual(["a.txt", "sub"]);
    expect(byName["a.txt"]).toMatchObject({ path: "/workspace/a.txt", type: "file", size: 3 });
    expect(byName["a.txt"]?.mode).toMatch(/^0[0-7]{3}$/);
    expect(Date.parse(String(byName["a.txt"]?.modifiedAt))).toBeGreaterThan(0);
    expect(byName.sub).toMatchObject({ path: "/workspace/sub", type: "directory" });

    const deep = await apiJson<{ entries: Array<{ path: string }> }>(
      `/sandboxes/${p}/ls?path=/workspace&recursive=true`,
    );
    expect(deep.body.data.entries.map((e) => e.path).sort()).toEqual([
      "/workspace/a.txt",
      "/workspace/sub",
      "/workspace/sub/b.txt",
    ]);
  });
});
