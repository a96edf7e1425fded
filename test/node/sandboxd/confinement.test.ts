/**
 * @module test/node/sandboxd/confinement.test
 * Host-side path confinement: lexical escapes are 400 INVALID_PATH; symlinks that
 * lead out of the workspace are 403 PATH_FORBIDDEN for read, write, list, delete
 * and exec cwd, and the files they point at are left untouched.
 */
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, hostWorkspace } from "./helpers.ts";

let sd: RunningSandboxd;
let outside: string;
const P = "/projects/conf";

beforeAll(async () => {
  sd = await startSandboxd();
  outside = mkdtempSync(join(tmpdir(), "sandboxd-outside-"));
  writeFileSync(join(outside, "secret.txt"), "host secret");
  expect((await call(sd, "POST", P)).status).toBe(200);
  const ws = hostWorkspace(sd, "conf");
  symlinkSync(outside, join(ws, "out-dir"));
  symlinkSync(join(outside, "secret.txt"), join(ws, "out-file"));
  symlinkSync(join(outside, "not-yet.txt"), join(ws, "dangling"));
  writeFileSync(join(ws, "inside.txt"), "inside");
  symlinkSync("inside.txt", join(ws, "in-link"));
});
afterAll(async () => {
  await sd?.stop();
  rmSync(outside, { recursive: true, force: true });
});

const q = (path: string) => `?path=${encodeURIComponent(path)}`;

function expectUntouched(): void {
  expect(readdirSync(outside).sort()).toEqual(["secret.txt"]);
  expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("host secret");
  const ws = hostWorkspace(sd, "conf");
  for (const link of ["out-dir", "out-file", "dangling"]) expect(lstatSync(join(ws, link)).isSymbolicLink()).toBe(true);
}

describe("sandboxd path confinement", () => {
  it.each([
    ["/workspace/../etc/passwd"],
    ["/workspace/a/../../x"],
    ["/etc/passwd"],
    ["relative.txt"],
    ["/workspacex/file"],
    ["/workspace/a\0b"],
    [""],
  ])("refuses %j with 400 INVALID_PATH", async (path) => {
    for (const [method, route] of [
      ["GET", "/files"],
      ["PUT", "/files"],
      ["DELETE", "/files"],
      ["GET", "/list"],
    ] as const) {
      const r = await call(sd, method, `${P}${route}${q(path)}`, method === "PUT" ? { body: "x" } : {});
      expect(r.status, `${method} ${route} ${JSON.stringify(path)}`).toBe(400);
      expect(r.json?.code).toBe("INVALID_PATH");
    }
    const ex = await call(sd, "POST", `${P}/exec`, { json: { command: "pwd", cwd: path } });
    expect(ex.json?.code).toBe("INVALID_PATH");
  });

  it("refuses reads through symlinks that leave the workspace", async () => {
    for (const path of ["/workspace/out-file", "/workspace/out-dir/secret.txt", "/workspace/dangling"]) {
      const r = await call(sd, "GET", `${P}/files${q(path)}`);
      expect(r.status, path).toBe(403);
      expect(r.json?.code).toBe("PATH_FORBIDDEN");
      expect(r.text).not.toContain("host secret");
    }
    expectUntouched();
  });

  it("refuses writes through symlinks (existing, dangling and in a parent) and creates nothing", async () => {
    for (const path of [
      "/workspace/out-file",
      "/workspace/dangling",
      "/workspace/out-dir/new.txt",
      "/workspace/out-dir/sub/new.txt",
    ]) {
      const r = await call(sd, "PUT", `${P}/files${q(path)}`, { body: "overwritten" });
      expect(r.status, path).toBe(403);
      expect(r.json?.code).toBe("PATH_FORBIDDEN");
    }
    expect(existsSync(join(outside, "not-yet.txt"))).toBe(false);
    expectUntouched();
  });

  it("refuses listing and deleting through escaping symlinks", async () => {
    for (const path of ["/workspace/out-dir", "/workspace/out-file"]) {
      const list = await call(sd, "GET", `${P}/list${q(path)}`);
      expect(list.status).toBe(403);
      expect(list.text).not.toContain("secret.txt");
    }
    for (const path of ["/workspace/out-dir/secret.txt", "/workspace/out-dir", "/workspace/out-file"]) {
      const del = await call(sd, "DELETE", `${P}/files${q(path)}`);
      expect(del.status, path).toBe(403);
      expect(del.json?.code).toBe("PATH_FORBIDDEN");
    }
    expectUntouched();
  });

  it("refuses an exec, process or clone whose cwd/target escapes through a symlink", async () => {
    const ex = await call(sd, "POST", `${P}/exec`, { json: { command: "touch planted", cwd: "/workspace/out-dir" } });
    expect(ex.json?.code).toBe("PATH_FORBIDDEN");
    const proc = await call(sd, "POST", `${P}/processes`, {
      json: { command: "touch planted", cwd: "/workspace/out-dir" },
    });
    expect(proc.json?.code).toBe("PATH_FORBIDDEN");
    const clone = await call(sd, "POST", `${P}/clone`, {
      json: { repoUrl: "http://127.0.0.1:9/x.git", directory: "/workspace/out-dir/repo" },
    });
    expect(clone.json?.code).toBe("PATH_FORBIDDEN");
    expectUntouched();
  });

  it("still follows symlinks that stay inside the workspace", async () => {
    expect((await call(sd, "GET", `${P}/files${q("/workspace/in-link")}`)).text).toBe("inside");
    const list = await call(sd, "GET", `${P}/list${q("/workspace")}`);
    const entries = list.json?.entries as Array<{ name: string; type: string }>;
    expect(entries.find((e) => e.name === "out-dir")?.type).toBe("symlink");
    expect(entries.find((e) => e.name === "in-link")?.type).toBe("symlink");
  });

  it("refuses to delete the workspace root itself", async () => {
    const r = await call(sd, "DELETE", `${P}/files${q("/workspace")}`);
    expect(r.status).toBe(400);
    expect(existsSync(hostWorkspace(sd, "conf"))).toBe(true);
  });
});
