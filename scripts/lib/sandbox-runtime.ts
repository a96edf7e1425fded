/**
 * @module scripts/lib/sandbox-runtime
 * Cloudflare's sandbox container runtime (the HTTP server inside the `cloudflare/sandbox`
 * image that `@cloudflare/sandbox`'s Durable Object talks to on port 3000), built into one
 * JS file that Bun runs, for the local jail host. Its source is located and verified by
 * sandbox-runtime-source.ts (whose exports this module passes on, so callers import one
 * module); this one finds the Bun executable and builds the bundle.
 *
 * The bundle (`runtime.js`, with Cloudflare's LICENSE beside it) is built with esbuild into the
 * same cache directory as the fetched source, replaced atomically, and rebuilt only when its
 * inputs change (a stamp JSON records them). One change to the runtime: `serve` from "bun", in
 * server.ts only, listens on the unix socket named by `SANDBOX_RUNTIME_SOCKET` when that is set
 * (instead of 0.0.0.0:3000), so a jail needs no network namespace port for it.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, open, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, version as esbuildVersion, type Plugin } from "esbuild";
import {
  DEFAULT_CACHE_DIR,
  locateRuntimeSource,
  RUNTIME_COMMIT,
  RUNTIME_REPOSITORY,
  RUNTIME_SOURCE_SHA256,
  RUNTIME_TAG,
  RUNTIME_VERSION,
  type RuntimeOptions,
  type RuntimeSource,
  SandboxRuntimeError,
} from "./sandbox-runtime-source.ts";

export * from "./sandbox-runtime-source.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
/** The code a bundle is built by (the stamp records its hash): this module and the source one, whose constants the banner quotes. */
const BUILD_SCRIPTS = [fileURLToPath(import.meta.url), join(here, "sandbox-runtime-source.ts")];

/** The environment variable the bundled runtime reads: the unix socket to listen on. */
export const RUNTIME_SOCKET_ENV = "SANDBOX_RUNTIME_SOCKET";

/** What {@link ensureSandboxRuntime} returns. */
export interface SandboxRuntime {
  version: string;
  /** Absolute path of the Bun executable (a native binary, not a wrapper script). */
  bun: string;
  bunVersion: string;
  /** Absolute path of the bundle; Cloudflare's LICENSE lies beside it. */
  bundle: string;
  sourceDir: string;
  from: RuntimeSource["from"];
  /** Whether this call (re)built the bundle. */
  built: boolean;
}

/** The Bun executable the `bun` devDependency installed, and its version. */
export async function resolveBun(): Promise<{ path: string; version: string }> {
  const rootPackage = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as {
    devDependencies?: Record<string, string>;
  };
  const missing = () =>
    new SandboxRuntimeError(
      `Bun was not found: the \`bun\` devDependency (${rootPackage.devDependencies?.bun ?? "not declared in package.json"}) ships it, so run \`npm install\` with install scripts enabled.`,
    );
  let pkgDir: string;
  try {
    pkgDir = dirname(createRequire(join(root, "package.json")).resolve("bun/package.json"));
  } catch {
    throw missing();
  }
  // The postinstall script replaces bin/bun.exe (a text placeholder) with the platform's binary;
  // without it the binary is still in the platform package it came from.
  const candidates = [join(pkgDir, "bin", "bun.exe")];
  const arch = process.arch === "x64" ? "x64" : process.arch === "arm64" ? "aarch64" : null;
  if (arch && (process.platform === "linux" || process.platform === "darwin")) {
    const fromBun = createRequire(join(pkgDir, "package.json"));
    const variants =
      process.platform === "darwin" ? ["", "-baseline"] : isGlibc() ? ["", "-baseline"] : ["-musl", "-musl-baseline"];
    for (const variant of variants) {
      try {
        const platformPkg = fromBun.resolve(`@oven/bun-${process.platform}-${arch}${variant}/package.json`);
        candidates.push(join(dirname(platformPkg), "bin", "bun"));
      } catch {
        // not installed for this machine
      }
    }
  }
  for (const candidate of candidates) {
    if (!(await isNativeExecutable(candidate))) continue;
    const path = await realpath(candidate);
    const version = await bunVersion(path);
    if (version) return { path, version };
  }
  throw missing();
}

function isGlibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return Boolean(report?.header?.glibcVersionRuntime);
}

/** An executable ELF or Mach-O file (a jail bind-mounts it: no script, no Node wrapper). */
async function isNativeExecutable(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isFile() || (info.mode & 0o111) === 0) return false;
    const file = await open(path, "r");
    try {
      const head = Buffer.alloc(4);
      await file.read(head, 0, 4, 0);
      const magic = head.toString("hex");
      return ["7f454c46", "cffaedfe", "feedfacf", "cafebabe"].includes(magic);
    } finally {
      await file.close();
    }
  } catch {
    return false;
  }
}

function bunVersion(path: string): Promise<string | null> {
  return new Promise((resolvePromise) => {
    const child = spawn(path, ["--version"], { stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on("error", () => resolvePromise(null));
    child.on("close", (code) => resolvePromise(code === 0 && /^\d+\.\d+\.\d+/.test(out.trim()) ? out.trim() : null));
  });
}

/** What a bundle was built from; a change in any of it means a rebuild. */
interface Stamp {
  runtimeVersion: string;
  sourceSha256: string;
  scriptSha256: string;
  esbuild: string;
  /** npm packages bundled in: package directory → version. */
  packages: Record<string, string>;
  bundleSha256: string;
}

const BANNER = [
  `// Cloudflare's sandbox container runtime ${RUNTIME_VERSION}: ${RUNTIME_REPOSITORY}, tag ${RUNTIME_TAG},`,
  `// commit ${RUNTIME_COMMIT}. Apache License 2.0: see LICENSE beside this file.`,
  '// Bundled by sandbox-worker\'s scripts/lib/sandbox-runtime.ts. One change: `serve` from "bun" in',
  `// server.ts listens on the unix socket $${RUNTIME_SOCKET_ENV} when that is set, instead of 0.0.0.0:3000.`,
].join("\n");

/**
 * Locates the runtime source ({@link locateRuntimeSource}) and makes sure a bundle built from
 * it exists: `<cacheDir>/runtime.js`, with Cloudflare's LICENSE beside it. Builds only when the
 * source, these scripts (BUILD_SCRIPTS), esbuild or a bundled npm package changed. Run it with
 * `SANDBOX_RUNTIME_SOCKET=/path.sock <bun> <bundle>`.
 */
export function ensureSandboxRuntime(opts: RuntimeOptions = {}): Promise<SandboxRuntime> {
  // Every sandboxd a process starts (a test file starts several stacks) asks for the same
  // runtime: the checksum of its sources and Bun's version are read once per process.
  if (Object.keys(opts).length > 0) return prepareRuntime(opts);
  defaultRuntime ??= prepareRuntime({});
  return defaultRuntime;
}

let defaultRuntime: Promise<SandboxRuntime> | undefined;

async function prepareRuntime(opts: RuntimeOptions): Promise<SandboxRuntime> {
  const bun = await resolveBun();
  const source = await locateRuntimeSource(opts);
  const cacheDir = resolve(opts.cacheDir ?? DEFAULT_CACHE_DIR);
  await mkdir(cacheDir, { recursive: true });
  const bundle = join(cacheDir, "runtime.js");
  const stampPath = join(cacheDir, "runtime.stamp.json");
  const scriptSha256 = sha256(Buffer.concat(await Promise.all(BUILD_SCRIPTS.map((file) => readFile(file)))));

  let built = false;
  if (!(await upToDate(stampPath, bundle, scriptSha256))) {
    await buildBundle(source.dir, cacheDir, bundle, stampPath, scriptSha256);
    built = true;
  }
  return {
    version: RUNTIME_VERSION,
    bun: bun.path,
    bunVersion: bun.version,
    bundle,
    sourceDir: source.dir,
    from: source.from,
    built,
  };
}

async function upToDate(stampPath: string, bundle: string, scriptSha256: string): Promise<boolean> {
  let stamp: Stamp;
  try {
    stamp = JSON.parse(await readFile(stampPath, "utf8")) as Stamp;
  } catch {
    return false;
  }
  if (
    stamp.runtimeVersion !== RUNTIME_VERSION ||
    stamp.sourceSha256 !== RUNTIME_SOURCE_SHA256 ||
    stamp.scriptSha256 !== scriptSha256 ||
    stamp.esbuild !== esbuildVersion ||
    !existsSync(join(dirname(bundle), "LICENSE"))
  ) {
    return false;
  }
  for (const [dir, version] of Object.entries(stamp.packages ?? {})) {
    if ((await packageVersion(dir)) !== version) return false;
  }
  try {
    return sha256(await readFile(bundle)) === stamp.bundleSha256;
  } catch {
    return false;
  }
}

async function buildBundle(
  sourceDir: string,
  cacheDir: string,
  bundle: string,
  stampPath: string,
  scriptSha256: string,
): Promise<void> {
  const suffix = `${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  const tmpBundle = `${bundle}.${suffix}`;
  const tmpStamp = `${stampPath}.${suffix}`;
  const tmpLicense = join(cacheDir, `LICENSE.${suffix}`);
  try {
    let result: Awaited<ReturnType<typeof build<{ metafile: true }>>>;
    try {
      result = await build({
        absWorkingDir: sourceDir,
        entryPoints: [join(sourceDir, "packages/sandbox-container/src/main.ts")],
        outfile: tmpBundle,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "esnext",
        // capnweb has a Bun-only export (its Bun WebSocket transport).
        conditions: ["bun"],
        external: ["bun"],
        // The source may live outside this project (CF_SANDBOX_RUNTIME_DIR): its npm
        // dependencies (acorn, async-mutex, capnweb) come from ours.
        nodePaths: [join(root, "node_modules")],
        // The vendored tsconfigs extend a package (@repo/typescript-config) that is not there.
        tsconfigRaw: { compilerOptions: {} },
        plugins: [runtimePlugin(sourceDir)],
        legalComments: "inline",
        banner: { js: BANNER },
        metafile: true,
        logLevel: "silent",
      });
    } catch (error) {
      throw new SandboxRuntimeError(
        `Cloudflare's sandbox runtime ${RUNTIME_VERSION} could not be bundled from ${sourceDir}: ${firstLine(error)}.`,
        { cause: error },
      );
    }
    const packages: Record<string, string> = {};
    for (const input of Object.keys(result.metafile.inputs)) {
      const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
      if (!m?.[1]) continue;
      const dir = resolve(sourceDir, m[1]);
      packages[dir] ??= (await packageVersion(dir)) ?? "";
    }
    const stamp: Stamp = {
      runtimeVersion: RUNTIME_VERSION,
      sourceSha256: RUNTIME_SOURCE_SHA256,
      scriptSha256,
      esbuild: esbuildVersion,
      packages,
      bundleSha256: sha256(await readFile(tmpBundle)),
    };
    await copyFile(join(sourceDir, "LICENSE"), tmpLicense);
    await rename(tmpLicense, join(cacheDir, "LICENSE"));
    await rename(tmpBundle, bundle);
    await writeFile(tmpStamp, `${JSON.stringify(stamp, null, 2)}\n`);
    await rename(tmpStamp, stampPath);
  } finally {
    await Promise.all([tmpBundle, tmpStamp, tmpLicense].map((path) => rm(path, { force: true })));
  }
}

/**
 * Resolves `@repo/shared[/sub]` to the shared package's TypeScript source (its published
 * `exports` point at a `dist/` that only its own build creates), and gives server.ts a `bun`
 * whose `serve` can listen on a unix socket.
 */
function runtimePlugin(sourceDir: string): Plugin {
  const sharedSrc = join(sourceDir, "packages/shared/src");
  const serverTs = join(sourceDir, "packages/sandbox-container/src/server.ts");
  return {
    name: "sandbox-runtime",
    setup(b) {
      b.onResolve({ filter: /^@repo\/shared(\/.*)?$/ }, (args) => {
        const sub = args.path.slice("@repo/shared".length) || "/index";
        for (const path of [`${sharedSrc}${sub}.ts`, `${sharedSrc}${sub}/index.ts`]) {
          if (existsSync(path)) return { path };
        }
        return { errors: [{ text: `${args.path} has no source under ${sharedSrc}` }] };
      });
      b.onResolve({ filter: /^bun$/ }, (args) =>
        resolve(args.importer) === serverTs
          ? { path: "bun-serve", namespace: "sandbox-runtime" }
          : { path: "bun", external: true },
      );
      b.onLoad({ filter: /.*/, namespace: "sandbox-runtime" }, () => ({
        loader: "js",
        resolveDir: sourceDir,
        contents: [
          'export * from "bun";',
          'import { serve as bunServe } from "bun";',
          "export function serve(options) {",
          `  const unix = process.env.${RUNTIME_SOCKET_ENV};`,
          "  if (!unix) return bunServe(options);",
          "  const { hostname, port, ...rest } = options;",
          "  return bunServe({ ...rest, unix });",
          "}",
        ].join("\n"),
      }));
    },
  };
}

async function packageVersion(dir: string): Promise<string | null> {
  try {
    return (JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n").find((line) => line.trim()) ?? text).replace(/[.\s]+$/, "");
}
