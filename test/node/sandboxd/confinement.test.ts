/**
 * @module test/node/sandboxd/confinement.test
 * Confinement by construction: file operations happen inside the jail (the container
 * runtime's file API, through sandboxd's proxy), so a symlink in a jail's /workspace that
 * names an absolute host path resolves in the jail's mount namespace: it reads and writes
 * the jail's view of that path, never the host file. sandboxd itself touches one path the
 * jail can write: its runtime's socket in the jail's run directory, which must reach the
 * jail's runtime and nothing else (not a host socket a symlink names, and never with
 * sandboxd's token).
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
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSIONLESS } from "../../../src/shared/container-runtime.ts";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, eventually, execInJail, jailDir, newJailId, runtimeEnv, startJail } from "./helpers.ts";

const env = await runtimeEnv();
const J = newJailId();
/** This file, in the repository: a host path the jail must not reach. */
const REPO_FILE = import.meta.filename;

let sd: RunningSandboxd;
/** A host directory outside every jail, holding secret.txt. */
let outside: string;

beforeAll(async () => {
  sd = await startSandboxd({ token: "confinement-secret-token", env });
  outside = mkdtempSync(join(tmpdir(), "sandboxd-outside-"));
  writeFileSync(join(outside, "secret.txt"), "host secret");
  await startJail(sd, J);
  // Planted from the host, as a cloned repository or an unpacked archive could bring them.
  const ws = join(jailDir(sd, J), "workspace");
  symlinkSync(outside, join(ws, "out-dir"));
  symlinkSync(join(outside, "secret.txt"), join(ws, "out-file"));
  symlinkSync(join(outside, "not-yet.txt"), join(ws, "dangling"));
  symlinkSync(REPO_FILE, join(ws, "repo-file"));
  symlinkSync(sd.root, join(ws, "sandboxd-root"));
  writeFileSync(join(ws, "inside.txt"), "inside");
  symlinkSync("inside.txt", join(ws, "in-link"));
});
afterAll(async () => {
  await sd?.stop();
  rmSync(outside, { recursive: true, force: true });
});

/** One call of the runtime's API in J, sessionless. */
async function api(path: string, body: Record<string, unknown>) {
  return await call(sd, "POST", `/jails/${J}/container${path}`, { json: { sessionId: SESSIONLESS, ...body } });
}

function expectHostUntouched(): void {
  expect(readdirSync(outside).sort()).toEqual(["secret.txt"]);
  expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe("host secret");
  expect(readFileSync(REPO_FILE, "utf8")).toContain("@module test/node/sandboxd/confinement.test");
  const ws = join(jailDir(sd, J), "workspace");
  for (const link of ["out-dir", "out-file", "dangling", "repo-file", "sandboxd-root"]) {
    expect(lstatSync(join(ws, link)).isSymbolicLink()).toBe(true);
  }
}

describe("symlinks out of a jail's workspace resolve inside the jail", () => {
  it("reads through them find nothing of the host", async () => {
    for (const path of ["/workspace/out-file", "/workspace/out-dir/secret.txt", "/workspace/repo-file"]) {
      const r = await api("/api/read", { path });
      expect(r.status, path).toBe(404);
      expect(r.json?.code).toBe("FILE_NOT_FOUND");
      expect(r.text).not.toContain("host secret");
    }
    for (const path of ["/workspace/out-dir", "/workspace/sandboxd-root"]) {
      const list = await api("/api/list-files", { path });
      expect(list.status, path).toBe(404);
      expect(list.text).not.toContain("secret.txt");
    }
    expectHostUntouched();
  });

  it("reads the jail's own file at the host path once a command makes one there", async () => {
    // The jail's /tmp is its own tmpfs: the host directory's path is free in it.
    const made = await execInJail(sd, J, `mkdir -p ${outside} && echo -n decoy > ${outside}/secret.txt`);
    expect(made.exitCode, made.text).toBe(0);
    const r = await api("/api/read", { path: "/workspace/out-file", encoding: "utf-8" });
    expect(r.json).toMatchObject({ success: true, content: "decoy" });
    expect((await execInJail(sd, J, "cat /workspace/out-dir/secret.txt")).stdout).toBe("decoy");
    expectHostUntouched();
  });

  it("writes, deletes and commands through them stay in the jail", async () => {
    for (const path of ["/workspace/out-file", "/workspace/dangling", "/workspace/out-dir/new.txt"]) {
      expect((await api("/api/write", { path, content: "overwritten" })).status, path).toBe(200);
    }
    const inJail = await execInJail(sd, J, `cat ${outside}/secret.txt; echo; ls ${outside}`);
    expect(inJail.stdout).toBe("overwritten\nnew.txt\nnot-yet.txt\nsecret.txt\n");
    // The host file of repo-file does not exist in the jail: the write fails there.
    expect((await api("/api/write", { path: "/workspace/repo-file", content: "overwritten" })).status).not.toBe(200);
    expect((await api("/api/delete", { path: "/workspace/out-dir/secret.txt" })).status).toBe(200);
    // The cwd resolves in the jail: to the jail's directory at the host directory's path.
    const cwd = await execInJail(sd, J, "touch planted && pwd -P", { cwd: "/workspace/out-dir" });
    expect(cwd.stdout).toBe(`${outside}\n`);
    expect((await execInJail(sd, J, `ls ${outside}`)).stdout).toBe("new.txt\nnot-yet.txt\nplanted\n");
    const viaRoot = await execInJail(sd, J, "touch /workspace/sandboxd-root/planted");
    expect(viaRoot.exitCode).not.toBe(0);
    expect(existsSync(join(sd.root, "planted"))).toBe(false);
    expectHostUntouched();
  });

  it("still follows symlinks that stay inside the workspace", async () => {
    expect((await api("/api/read", { path: "/workspace/in-link", encoding: "utf-8" })).json).toMatchObject({
      content: "inside",
    });
  });
});

describe("the jail's runtime socket, which sandboxd connects to", () => {
  let hostServer: Server | undefined;

  afterAll(() => {
    hostServer?.close();
  });

  it("carries requests to whatever listens on it in the jail, never with sandboxd's token", async () => {
    // A command replaces the runtime's socket with its own server, which records what it gets.
    const server = [
      "const fs = require('node:fs');",
      "const s = '/run/sandbox-runtime/runtime.sock';",
      "fs.rmSync(s, { force: true });",
      "require('node:http').createServer((req, res) => {",
      "  fs.writeFileSync('/workspace/seen.json', JSON.stringify({ url: req.url, headers: req.headers }));",
      "  res.end('jail server');",
      "}).listen(s);",
    ].join("\n");
    writeFileSync(join(jailDir(sd, J), "workspace", "server.js"), server);
    const started = await api("/api/process/start", { command: "node /workspace/server.js" });
    expect(started.status, started.text).toBe(200);
    const answer = async () => (await call(sd, "GET", `/jails/${J}/container/probe?x=1`)).text;
    expect(await eventually(async () => (await answer()) === "jail server")).toBe(true);
    const seen = JSON.parse(readFileSync(join(jailDir(sd, J), "workspace", "seen.json"), "utf8")) as {
      url: string;
      headers: Record<string, string>;
    };
    expect(seen.url).toBe("/probe?x=1");
    expect(seen.headers.authorization).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain("confinement-secret-token");
  });

  // Does not hold today: sandboxd connects to <jail>/run/runtime.sock on the host, following
  // a symlink a command put there (the jail can write its run directory), so a jail reaches
  // any unix socket on the host through sandboxd's proxy.
  it("does not follow a symlink the jail puts in place of the socket to a host socket", async () => {
    const hostSocket = join(outside, "host.sock");
    const hits: string[] = [];
    hostServer = createServer((req, res) => {
      hits.push(String(req.url));
      res.end("host socket");
    });
    await new Promise<void>((r) => hostServer?.listen(hostSocket, r));
    // The jail's server of the test before holds the socket: restart the runtime (which gets a fresh one).
    await call(sd, "POST", `/jails/${J}/signal`, { json: { signal: "SIGKILL" } });
    await call(sd, "GET", `/jails/${J}/wait`);
    await startJail(sd, J);
    const planted = await execInJail(
      sd,
      J,
      `rm -f /run/sandbox-runtime/runtime.sock && ln -s ${hostSocket} /run/sandbox-runtime/runtime.sock && echo planted`,
    );
    expect(planted.stdout).toBe("planted\n");
    const r = await call(sd, "GET", `/jails/${J}/container/api/ping`);
    expect(r.text).not.toBe("host socket");
    expect([r.status, r.json?.code]).toEqual([502, "JAIL_SOCKET_INVALID"]);
    expect(hits).toEqual([]);
  });
});
