/**
 * @module bench/workerd
 * The production-like Worker path of the benches: the Worker bundle wrangler would
 * deploy, run in workerd by Miniflare directly — without `wrangler dev`'s proxy
 * worker (a second workerd hop in front of the user worker), without the dev-only
 * middleware wrangler dev wraps around the bundle, and with the listening socket bound
 * straight to the Worker (Miniflare's `unsafeDirectSockets`) rather than to Miniflare's
 * entry worker, a JS router that measured ~0.4 ms per request on its own. In production
 * the Worker runs in workerd with none of these, so the 1.3× target is checked here.
 * One Miniflare-only hop remains on the way out: every fetch the Worker makes passes
 * Miniflare's small outbound-interceptor worker (it cannot be turned off).
 *
 * Containers are off, as under `wrangler dev --enable-containers=false`: the Sandbox
 * Durable Object has no `ctx.container`, so with SANDBOXD_URL (and SANDBOXD_TOKEN) among
 * the vars its container is a local jail in that sandboxd (src/sandbox-class.ts,
 * src/backend/jail-container.ts), exactly as under `wrangler dev`. The Worker's console
 * output (the SDK logs every call at info) is dropped below warn, as `wrangler dev
 * --log-level warn` drops it; warnings and errors go to stderr.
 *
 * The rest of the configuration is what wrangler itself derives from wrangler.jsonc for
 * Miniflare (compatibility date and flags, vars, Durable Object, D1 and R2 bindings, …),
 * with the caller's vars on top, as `wrangler dev --var` does; local D1/R2/DO state is
 * in memory and thrown away, unless `persistTo` names a directory laid out as
 * `wrangler dev --persist-to` lays it out (bench/snapshot.ts: R2 on disk, D1 migrated).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { convertV4MiniflareOptions, Miniflare, NoOpLog } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { sandboxdServiceBinding } from "../scripts/lib/sandboxd-binding.ts";
import { applyLocalD1Migrations, REPO_ROOT, WRANGLER_JS } from "../scripts/lib/services.ts";

/** A Worker running in workerd under Miniflare. */
export interface WorkerdWorker {
  url: string;
  /** The bundle served (`outDir`/index.js, or the one passed in): reusable by another call. */
  scriptPath: string;
  /** The miniflare version in use, and the one wrangler itself runs (they should match). */
  miniflareVersion: string;
  wranglerMiniflareVersion: string;
  stop(): Promise<void>;
}

/** Options for {@link startWorkerd}. */
export interface WorkerdOptions {
  /** An empty directory for the bundle (the caller removes it). */
  outDir: string;
  port: number;
  /** Override wrangler.jsonc vars (and add secrets such as API_TOKEN). */
  vars: Record<string, string>;
  /** Bounds the bundle build. */
  buildTimeoutMs?: number;
  /**
   * Keep D1/R2/DO state on disk here, where `wrangler … --persist-to <dir>` keeps it
   * (`<dir>/v3`), so e.g. `wrangler d1 migrations apply --local --persist-to <dir>`
   * prepares the database this Worker sees. Default: in memory.
   */
  persistTo?: string;
  /** A bundle an earlier call built (its `scriptPath`) to serve instead of building again. */
  scriptPath?: string;
}

/** `wrangler deploy --dry-run`: the exact bundle a deploy would upload, written to `outDir`. */
async function buildBundle(outDir: string, timeoutMs: number): Promise<string> {
  const args = [WRANGLER_JS, "deploy", "--dry-run", "--containers-rollout=none", "--outdir", outDir];
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: REPO_ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
        timeout: timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`wrangler deploy --dry-run failed (${err.message}):\n${stdout}\n${stderr}`));
        else resolve();
      },
    );
  });
  return join(outDir, "index.js");
}

function packageVersion(packageJsonPath: string): string {
  return (JSON.parse(readFileSync(packageJsonPath, "utf8")) as { version?: string }).version ?? "unknown";
}

/** Which miniflare wrangler resolves (hoisted or nested), so a mismatch can be reported. */
function miniflareVersions(): { ours: string; wranglers: string } {
  const fromRepo = createRequire(join(REPO_ROOT, "package.json"));
  const fromWrangler = createRequire(fromRepo.resolve("wrangler/package.json"));
  return {
    ours: packageVersion(fromRepo.resolve("miniflare/package.json")),
    wranglers: packageVersion(fromWrangler.resolve("miniflare/package.json")),
  };
}

/** Builds the deploy bundle and serves it from workerd on 127.0.0.1:`port`. */
export async function startWorkerd(opts: WorkerdOptions): Promise<WorkerdWorker> {
  const scriptPath = opts.scriptPath ?? (await buildBundle(opts.outDir, opts.buildTimeoutMs ?? 60_000));
  // modulesRules are for resolving src/ imports; Miniflare 5 refuses them next to a
  // finished bundle, which needs none.
  const derived = unstable_getMiniflareWorkerOptions(join(REPO_ROOT, "wrangler.jsonc"), undefined, {
    overrides: { enableContainers: false },
  });
  const { modulesRules: _unused, ...fromConfig } = derived.workerOptions;
  const name = "sandbox-worker";
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      // Miniflare's own entry socket (unused by the benchmark), on any free loopback port.
      host: "127.0.0.1",
      port: 0,
      // Per-request logging would cost time on every request measured (wrangler dev turns it off too).
      logRequests: false,
      log: new NoOpLog(),
      handleStructuredLogs: ({ level, message }) => {
        if (level === "warn" || level === "error") process.stderr.write(`workerd ${level}: ${message}\n`);
      },
      ...(opts.persistTo ? { resourcePersistencePath: join(opts.persistTo, "v3") } : {}),
      workers: [
        {
          ...fromConfig,
          name,
          // The deploy bundle instead of src/: one ES module, nothing left to resolve.
          modules: true,
          scriptPath,
          modulesRoot: dirname(scriptPath),
          bindings: { ...(fromConfig.bindings ?? {}), ...opts.vars },
          // The Durable Objects' jails straight, not through Miniflare's outbound interceptor.
          ...(opts.vars.SANDBOXD_URL
            ? {
                serviceBindings: {
                  ...(fromConfig.serviceBindings ?? {}),
                  SANDBOXD: sandboxdServiceBinding(opts.vars.SANDBOXD_URL),
                },
              }
            : {}),
          // The socket the benchmark uses: workerd hands its requests to the Worker itself.
          unsafeDirectSockets: [{ host: "127.0.0.1", port: opts.port }],
        },
      ],
    }),
  );
  let url: URL;
  try {
    await mf.ready;
    url = await mf.unsafeGetDirectURL(name);
  } catch (err) {
    await mf.dispose().catch(() => undefined);
    throw err;
  }
  const versions = miniflareVersions();
  return {
    url: url.origin,
    scriptPath,
    miniflareVersion: versions.ours,
    wranglerMiniflareVersion: versions.wranglers,
    stop: () => mf.dispose(),
  };
}

/**
 * {@link startWorkerd} with its state on disk in `dir` and the D1 migrations applied
 * there first (by wrangler, as `npm run dev` applies them): the bundle goes to
 * `dir/bundle` (unless `scriptPath` reuses one), the state to `dir/worker-state`.
 */
export async function startMigratedWorkerd(
  dir: string,
  opts: Omit<WorkerdOptions, "outDir" | "persistTo">,
): Promise<WorkerdWorker> {
  const outDir = join(dir, "bundle");
  const persistTo = join(dir, "worker-state");
  await mkdir(outDir, { recursive: true });
  await applyLocalD1Migrations({ persistTo, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  return await startWorkerd({ ...opts, outDir, persistTo });
}
