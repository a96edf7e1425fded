/**
 * Cloudflare's sandbox runtime is found, never guessed (scripts/lib/sandbox-runtime.ts):
 * CF_SANDBOX_RUNTIME_DIR wins and, when wrong, fails with one sentence instead of falling
 * back; the verified cache comes next, then a verified clone of the tag; with none of them
 * the error is one sentence naming the fix. The bundle it builds runs under the Bun of the
 * `bun` devDependency and answers /api/ping on the unix socket SANDBOX_RUNTIME_SOCKET names.
 * The source is the vendored copy (CF_SANDBOX_RUNTIME_DIR, else ../shared/vendor/…): if it is
 * absent these tests fail, they do not skip.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  ensureSandboxRuntime,
  locateRuntimeSource,
  RUNTIME_NOT_FOUND_MESSAGE,
  RUNTIME_SOURCE_SHA256,
  RUNTIME_TAG,
  RUNTIME_VERSION,
  runtimeSourceChecksum,
} from "../../scripts/lib/sandbox-runtime.ts";
import { VENDORED_RUNTIME_DIR } from "../support/vendored-runtime.ts";

const root = join(import.meta.dirname, "..", "..");
const vendored = VENDORED_RUNTIME_DIR;

/** The vendored source; throws the not-found sentence when it is absent (a failure, not a skip). */
function source(): string {
  if (!existsSync(join(vendored, "packages", "sandbox-container", "src"))) throw new Error(RUNTIME_NOT_FOUND_MESSAGE);
  return vendored;
}

const temps: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sandbox-runtime-test-"));
  temps.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A writable copy of the vendored source (the vendored files are read-only). */
async function copyOfSource(to: string): Promise<string> {
  await cp(source(), to, { recursive: true });
  await makeWritable(to);
  return to;
}
async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(path);
    else await chmod(path, 0o644);
  }
}
/** Changes one byte of one source file. */
async function corrupt(dir: string): Promise<void> {
  const file = join(dir, "packages", "shared", "src", "index.ts");
  const bytes = await readFile(file);
  bytes[0] = (bytes[0] ?? 0) ^ 1;
  await writeFile(file, bytes);
}
/** A cache directory whose `source/` holds a good copy. */
async function seededCache(): Promise<string> {
  const cacheDir = await tempDir();
  await copyOfSource(join(cacheDir, "source"));
  return cacheDir;
}

describe("locateRuntimeSource", () => {
  it("uses CF_SANDBOX_RUNTIME_DIR first, even with a good cache", async () => {
    const cacheDir = await seededCache();
    const found = await locateRuntimeSource({ env: { CF_SANDBOX_RUNTIME_DIR: source() }, cacheDir, fetch: false });
    expect(found).toEqual({ dir: vendored, from: "env" });
  });

  it("fails with one sentence, without falling back, when CF_SANDBOX_RUNTIME_DIR does not exist", async () => {
    const cacheDir = await seededCache();
    const missing = join(await tempDir(), "nowhere");
    await expect(locateRuntimeSource({ env: { CF_SANDBOX_RUNTIME_DIR: missing }, cacheDir })).rejects.toThrow(
      `CF_SANDBOX_RUNTIME_DIR is set to ${missing}, which is not a directory: point it at Cloudflare's sandbox runtime ${RUNTIME_VERSION} source or unset it.`,
    );
  });

  it("fails with one sentence, without falling back, when CF_SANDBOX_RUNTIME_DIR differs by one byte", async () => {
    const cacheDir = await seededCache();
    const changed = await copyOfSource(join(await tempDir(), "runtime"));
    await corrupt(changed);
    const error = await locateRuntimeSource({ env: { CF_SANDBOX_RUNTIME_DIR: changed }, cacheDir }).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(
      new RegExp(
        `^CF_SANDBOX_RUNTIME_DIR \\(${changed}\\) is not Cloudflare's sandbox runtime ${RUNTIME_VERSION.replace(/\./g, "\\.")}: its source checksum is [0-9a-f]{64}, not the pinned ${RUNTIME_SOURCE_SHA256}, so point it at an unmodified copy of tag ${RUNTIME_TAG} or unset it\\.$`,
      ),
    );
  });

  it("uses the verified cache when CF_SANDBOX_RUNTIME_DIR is unset", async () => {
    const cacheDir = await seededCache();
    const found = await locateRuntimeSource({ env: {}, cacheDir, fetch: false });
    expect(found).toEqual({ dir: join(cacheDir, "source"), from: "cache" });
  });

  it("removes a cache that fails its checksum, and with fetching disabled fails with the one sentence", async () => {
    const cacheDir = await seededCache();
    await corrupt(join(cacheDir, "source"));
    const error = await locateRuntimeSource({ env: {}, cacheDir, fetch: false }).catch((e) => e);
    expect(error.message).toBe(RUNTIME_NOT_FOUND_MESSAGE);
    expect(existsSync(join(cacheDir, "source"))).toBe(false);
  });

  it("fails with the one sentence when nothing is there and the fetch fails", async () => {
    const cacheDir = await tempDir();
    const repository = `file://${join(cacheDir, "no-such-repository")}`;
    const error = await locateRuntimeSource({ env: { CF_SANDBOX_RUNTIME_DIR: "" }, cacheDir, repository }).catch(
      (e) => e,
    );
    expect(error.message).toBe(RUNTIME_NOT_FOUND_MESSAGE);
    expect(String(error.cause?.message)).toMatch(/^git clone failed/);
    expect(await readdir(cacheDir)).toEqual([]); // no half-fetched leftovers
  });

  it("fetches the tag with a sparse clone, checks its commit and checksum, and caches it", async () => {
    const work = await tempDir();
    const repo = await copyOfSource(join(work, "sandbox-sdk"));
    await writeFile(join(repo, "README.md"), "not part of the runtime\n");
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", ...args], {
        cwd: repo,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }).trim();
    git("init", "-q");
    git("config", "uploadpack.allowFilter", "true");
    git("add", "-A");
    git("commit", "-q", "-m", "runtime");
    git("tag", RUNTIME_TAG);
    const commit = git("rev-parse", "HEAD");
    const repository = `file://${repo}`;

    // The wrong commit (the real tag's is pinned): refused, nothing cached.
    const wrongCommit = join(work, "cache-wrong");
    const refused = await locateRuntimeSource({ env: {}, cacheDir: wrongCommit, repository }).catch((e) => e);
    expect(refused.message).toBe(RUNTIME_NOT_FOUND_MESSAGE);
    expect(String(refused.cause?.message)).toContain(`is commit ${commit}, not `);
    expect(existsSync(join(wrongCommit, "source"))).toBe(false);

    const cacheDir = join(work, "cache");
    const found = await locateRuntimeSource({ env: {}, cacheDir, repository, commit });
    expect(found).toEqual({ dir: join(cacheDir, "source"), from: "github" });
    expect(await runtimeSourceChecksum(found.dir)).toBe(RUNTIME_SOURCE_SHA256);
    expect((await readdir(cacheDir)).sort()).toEqual(["source"]);
    expect((await readdir(found.dir)).sort()).toEqual([".bun-version", "LICENSE", "packages"]);
    // The next call finds it in the cache without fetching.
    expect(await locateRuntimeSource({ env: {}, cacheDir, fetch: false })).toEqual({ ...found, from: "cache" });
  });
});

describe("ensureSandboxRuntime", () => {
  let runtime: ChildProcess | undefined;
  afterAll(() => {
    if (runtime?.exitCode === null && runtime.signalCode === null) runtime.kill("SIGKILL");
  });

  it("builds a bundle that Bun runs, serving /api/ping on SANDBOX_RUNTIME_SOCKET", async () => {
    const cacheDir = await tempDir();
    const built = await ensureSandboxRuntime({ env: { CF_SANDBOX_RUNTIME_DIR: source() }, cacheDir, fetch: false });
    expect(built).toMatchObject({
      version: RUNTIME_VERSION,
      bundle: join(cacheDir, "runtime.js"),
      sourceDir: vendored,
      from: "env",
      built: true,
    });
    expect(await readFile(join(cacheDir, "LICENSE"), "utf8")).toBe(await readFile(join(vendored, "LICENSE"), "utf8"));
    // A native executable (a jail bind-mounts it), the version package.json pins and the runtime's .bun-version.
    expect((await readFile(built.bun)).subarray(0, 4).toString("hex")).toMatch(
      /^(7f454c46|cffaedfe|feedfacf|cafebabe)$/,
    );
    expect(built.bunVersion).toBe(JSON.parse(await readFile(join(root, "package.json"), "utf8")).devDependencies.bun);
    expect(built.bunVersion).toBe((await readFile(join(vendored, ".bun-version"), "utf8")).trim());

    // Unchanged inputs: no rebuild.
    const bundleStat = await stat(built.bundle);
    const again = await ensureSandboxRuntime({ env: { CF_SANDBOX_RUNTIME_DIR: vendored }, cacheDir, fetch: false });
    expect(again.built).toBe(false);
    expect((await stat(again.bundle)).mtimeMs).toBe(bundleStat.mtimeMs);

    const run = await tempDir();
    const socketPath = join(run, "runtime.sock");
    let output = "";
    runtime = spawn(built.bun, [built.bundle], {
      cwd: run,
      env: { PATH: process.env.PATH, HOME: run, SANDBOX_RUNTIME_SOCKET: socketPath, SANDBOX_VERSION: RUNTIME_VERSION },
      stdio: ["ignore", "pipe", "pipe"],
    });
    runtime.stdout?.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    runtime.stderr?.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    const exited = new Promise<void>((done) => runtime?.once("exit", () => done()));
    try {
      const deadline = Date.now() + 8_000;
      let ping: { status: number; body: string } | undefined;
      while (!ping) {
        if (runtime.exitCode !== null) throw new Error(`the runtime exited (${runtime.exitCode}): ${output}`);
        if (Date.now() > deadline) throw new Error(`the runtime did not answer on ${socketPath}: ${output}`);
        ping = await get(socketPath, "/api/ping").catch(async () => {
          await new Promise((r) => setTimeout(r, 50));
          return undefined;
        });
      }
      expect(ping.status).toBe(200);
      expect(JSON.parse(ping.body)).toMatchObject({ success: true, status: "healthy" });
      const version = await get(socketPath, "/api/version");
      expect(JSON.parse(version.body)).toMatchObject({ success: true, version: RUNTIME_VERSION });
    } finally {
      runtime.kill("SIGTERM");
      const killer = setTimeout(() => runtime?.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(killer);
    }
  });
});

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ socketPath, path, method: "GET", timeout: 2_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => done({ status: res.statusCode ?? 0, body }));
      res.on("error", fail);
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", fail);
    req.end();
  });
}
