/**
 * Bulk transfer through the Worker (local jails, GNU tar in the sandbox): a tree of
 * 1,000 files round-trips as tar and tar.gz, a refused archive changes nothing, and
 * the archive routes confine paths and answer the file routes' codes.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import { streamParts } from "../../src/backend/cloudflare-files";
import { loadConfig } from "../../src/config";
import { gunzip, gzip, readTar, type TarEntry, writeTar } from "../support/tar";
import { api, apiJson, createProject, TOKEN } from "./support/http";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** 1,000 files in 40 nested directories, one of them binary and one executable. */
function tree(): TarEntry[] {
  const entries: TarEntry[] = [];
  for (let i = 0; i < 1000; i++) {
    entries.push({ name: `src/d${i % 40}/sub${i % 3}/f${i}.txt`, type: "file", data: enc.encode(`file ${i}\n`) });
  }
  entries[0] = { name: "src/d0/sub0/f0.txt", type: "file", data: Uint8Array.from({ length: 256 }, (_, b) => b) };
  entries[1] = { name: "src/d1/sub1/run.sh", type: "file", data: enc.encode("#!/bin/sh\necho ran\n"), mode: 0o755 };
  return entries;
}

/** name → content of the files in an archive. */
function filesOf(entries: TarEntry[]): Map<string, string> {
  return new Map(
    entries.filter((e) => e.type === "file").map((e) => [e.name, Array.from(e.data ?? []).join(",")] as const),
  );
}

async function upload(path: string, body: Uint8Array, type = "application/x-tar"): Promise<Response> {
  return await api(path, { method: "PUT", headers: { "content-type": type }, body });
}

describe("archives", () => {
  it("round-trips a tree of 1,000 files as tar, and as tar.gz both ways", async () => {
    const p = await createProject("arch");
    const sent = tree();
    const put = await apiJson(`/sandboxes/${p}/archive/workspace/proj`, {
      method: "PUT",
      headers: { "content-type": "application/x-tar" },
      body: writeTar(sent),
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.data).toMatchObject({ path: "/workspace/proj", entries: 1000 });

    // The sandbox sees the files, modes included.
    const run = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: "find proj -type f | wc -l; ./proj/src/d1/sub1/run.sh" },
    });
    expect(run.body.data.stdout).toBe("1000\nran\n");

    const tar = await api(`/sandboxes/${p}/archive/workspace/proj`);
    expect(tar.status).toBe(200);
    expect(tar.headers.get("content-type")).toBe("application/x-tar");
    expect(tar.headers.get("content-disposition")).toBe('attachment; filename="proj.tar"');
    const back = readTar(new Uint8Array(await tar.arrayBuffer()));
    expect(filesOf(back)).toEqual(filesOf(sent));
    expect(back.find((e) => e.name === "src/d1/sub1/run.sh")?.mode).toBe(0o755);

    // gzip up into another directory, gzip down, same files.
    const gzPut = await upload(
      `/sandboxes/${p}/archive/workspace/copy`,
      await gzip(writeTar(sent)),
      "application/gzip",
    );
    expect(gzPut.status).toBe(200);
    const gz = await api(`/sandboxes/${p}/archive/workspace/copy?format=tar.gz`);
    expect(gz.headers.get("content-type")).toBe("application/gzip");
    expect(filesOf(readTar(await gunzip(new Uint8Array(await gz.arrayBuffer()))))).toEqual(filesOf(sent));
  });

  it("extracts over what is there, keeps the rest, and defaults to the workspace root", async () => {
    const p = await createProject("arch");
    await apiJson(`/sandboxes/${p}/files/workspace/keep.txt`, { method: "PUT", json: { content: "kept" } });
    await apiJson(`/sandboxes/${p}/files/workspace/over.txt`, { method: "PUT", json: { content: "old" } });
    const put = await upload(
      `/sandboxes/${p}/archive`,
      writeTar([
        { name: "over.txt", type: "file", data: enc.encode("new") },
        { name: "link", type: "symlink", link: "over.txt" },
      ]),
    );
    expect(put.status).toBe(200);
    const read = async (f: string) => (await apiJson<{ content: string }>(`/sandboxes/${p}/files/workspace/${f}`)).body;
    expect((await read("keep.txt")).data.content).toBe("kept");
    expect((await read("over.txt")).data.content).toBe("new");
    expect((await read("link")).data.content).toBe("new");
    const all = readTar(new Uint8Array(await (await api(`/sandboxes/${p}/archive`)).arrayBuffer()));
    expect(all.map((e) => e.name).sort()).toEqual(["keep.txt", "link", "over.txt"]);
  });

  it("refuses an archive tar does not take whole, and nothing of it lands", async () => {
    const p = await createProject("arch");
    for (const [label, body] of [
      [
        "a member climbing out",
        writeTar([
          { name: "good.txt", type: "file" },
          { name: "../../escape.txt", type: "file" },
        ]),
      ],
      ["not a tar at all", enc.encode("hello, not a tar archive".repeat(100))],
      ["a truncated tar", writeTar([{ name: "good.txt", type: "file", data: new Uint8Array(5000) }]).subarray(0, 1024)],
    ] as const) {
      const res = await upload(`/sandboxes/${p}/archive/workspace/in`, body);
      const json = (await res.json()) as { code: string; error: string };
      expect(res.status, label).toBe(400);
      expect(json.code, label).toBe("INVALID_ARCHIVE");
      expect(json.error, label).toContain("nothing changed");
    }
    const ls = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: {
        command:
          "ls -A /workspace; ls /escape.txt /workspace/../escape.txt 2>&1 | wc -l; ls -A /tmp | grep -c sandbox-archive",
      },
    });
    expect(ls.body.data.stdout.split("\n")).not.toContain("in");
    expect(ls.body.data.stdout).toMatch(/^(?:.*\n)*2\n0\n$/);
  });

  it("confines paths and answers the file routes' codes", async () => {
    const p = await createProject("arch");
    await apiJson(`/sandboxes/${p}/files/workspace/plain.txt`, { method: "PUT", json: { content: "x" } });
    const tar = writeTar([{ name: "a.txt", type: "file" }]);
    const cases: Array<[string, Promise<Response>, number, string]> = [
      ["encoded ..", upload(`/sandboxes/${p}/archive/workspace/..%2Fetc`, tar), 400, "INVALID_PATH"],
      ["outside the workspace", upload(`/sandboxes/${p}/archive/etc`, tar), 403, "PATH_FORBIDDEN"],
      ["download outside", api(`/sandboxes/${p}/archive/etc`), 403, "PATH_FORBIDDEN"],
      ["onto a file", upload(`/sandboxes/${p}/archive/workspace/plain.txt`, tar), 400, "NOT_A_DIRECTORY"],
      [
        "wrong type",
        upload(`/sandboxes/${p}/archive/workspace/x`, tar, "application/json"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
      ],
      ["download a missing dir", api(`/sandboxes/${p}/archive/workspace/nope`), 404, "FILE_NOT_FOUND"],
      ["download a file", api(`/sandboxes/${p}/archive/workspace/plain.txt`), 400, "NOT_A_DIRECTORY"],
      ["bad format", api(`/sandboxes/${p}/archive/workspace?format=zip`), 400, "VALIDATION_ERROR"],
    ];
    for (const [label, pending, status, code] of cases) {
      const res = await pending;
      expect(res.status, label).toBe(status);
      expect(((await res.json()) as { code: string }).code, label).toBe(code);
    }
  });

  it("answers 413 over MAX_ARCHIVE_BYTES both ways, writing nothing", async () => {
    const p = await createProject("arch");
    const config = loadConfig({ ...env, MAX_ARCHIVE_BYTES: "4096" } as Record<string, unknown>);
    const app = createApp({
      backend: createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" }),
      config,
      version: "0.0.0-test",
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const big = writeTar([{ name: "big.bin", type: "file", data: new Uint8Array(8192) }]);
    const put = await app.request(`/sandboxes/${p}/archive/workspace/big`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/x-tar" },
      body: big,
    });
    expect(put.status).toBe(413);
    expect(await put.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await upload(`/sandboxes/${p}/archive/workspace/big`, big); // through the real limit
    const get = await app.request(`/sandboxes/${p}/archive/workspace/big`, { headers: auth });
    expect(get.status).toBe(413);
    expect(dec.decode(new Uint8Array(await get.arrayBuffer()))).toContain("PAYLOAD_TOO_LARGE");
  });

  it("streams an upload in exact parts whatever the chunk sizes, and stops at the limit", async () => {
    const PART = 4096;
    const total = 2 * PART + 1234;
    const source = Uint8Array.from({ length: total }, (_, i) => (i * 7) & 0xff);
    // Chunks of awkward sizes, one larger than a part.
    const sizes = [1, 1000, PART + 3, 700, 7];
    const chunks = () => {
      let at = 0;
      let n = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (at >= total) return controller.close();
          const size = sizes[n++ % sizes.length] ?? 1;
          controller.enqueue(source.slice(at, at + size));
          at += size;
        },
      });
    };
    const written = new Map<string, Uint8Array>();
    const sandbox = {
      writeFile: async (path: string, content: string) => {
        written.set(
          path,
          Uint8Array.from(atob(content), (ch) => ch.charCodeAt(0)),
        );
        return {} as never;
      },
    };
    const { parts, bytes } = await streamParts(sandbox, "/tmp/x.part", chunks(), total, PART);
    expect(bytes).toBe(total);
    expect(parts).toEqual(["/tmp/x.part.0", "/tmp/x.part.1", "/tmp/x.part.2"]);
    expect(parts.map((part) => written.get(part)?.byteLength)).toEqual([PART, PART, 1234]);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      const bytesOf = written.get(part) ?? new Uint8Array();
      joined.set(bytesOf, at);
      at += bytesOf.byteLength;
    }
    expect(joined).toEqual(source);
    await expect(streamParts(sandbox, "/tmp/y.part", chunks(), total - 1, PART)).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
    });
  });
});
