/**
 * @module sandboxd/main
 * Entry point of sandboxd, the local jail host: reads the config from the
 * environment, detects bubblewrap, listens, and on SIGINT/SIGTERM stops every
 * jail before exiting. Run with `npm run sandboxd` (Node 22, type stripping).
 *
 * Environment: SANDBOXD_HOST (127.0.0.1), SANDBOXD_PORT (8790), SANDBOXD_TOKEN
 * (required unless SANDBOXD_INSECURE_NO_TOKEN=1), SANDBOXD_ROOT (./.sandboxd),
 * SANDBOXD_ISOLATION (auto | none), SANDBOXD_RUNTIME_BUN and SANDBOXD_RUNTIME_BUNDLE
 * (the runtime jails run) and SANDBOXD_MAX_JSON_BYTES.
 */
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { detectIsolation, type JailUser } from "./bwrap.ts";
import { loadConfig } from "./config.ts";
import { createSandboxd } from "./server.ts";

function warnUnisolated(reason: string): void {
  const bar = "!".repeat(78);
  console.warn(
    [
      bar,
      "!! sandboxd: NO ISOLATION. Commands run directly on this machine as this user,",
      "!! with the workspace directory as their cwd; they can read and write anything",
      "!! this user can. Install bubblewrap (apt-get install bubblewrap) to isolate them.",
      `!! Reason: ${reason}`,
      bar,
    ].join("\n"),
  );
}

/**
 * bwrap, run as the jail user, binds directories under `root`: each directory on the way must let
 * others through. sandboxd's own root it opens for passing (0711, nothing listable); a parent that
 * does not let others pass stops the start with what to change.
 */
async function letJailUserReach(root: string): Promise<void> {
  await chmod(root, ((await stat(root)).mode & 0o777) | 0o111);
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) {
      console.error(
        `sandboxd: jails run as an unprivileged uid, which cannot pass ${dir} to reach SANDBOXD_ROOT (${root}): ` +
          `allow it (chmod o+x ${dir}) or choose another SANDBOXD_ROOT`,
      );
      process.exit(2);
    }
    if (dirname(dir) === dir) break;
  }
}

async function main(): Promise<void> {
  let cfg: ReturnType<typeof loadConfig>;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(`sandboxd: ${(err as Error).message}`);
    process.exit(2);
  }
  if (!cfg.token) console.warn("sandboxd: WARNING: running WITHOUT a token (SANDBOXD_INSECURE_NO_TOKEN=1).");
  // Root in a jail must be no one on the host: as root, sandboxd runs jails as an unprivileged uid.
  const jailUser: JailUser | null = process.getuid?.() === 0 ? { uid: cfg.jailUid, gid: cfg.jailUid } : null;
  await mkdir(cfg.root, { recursive: true });
  if (jailUser) await letJailUserReach(cfg.root);
  const iso = detectIsolation(cfg.isolation, undefined, jailUser);
  if (iso.kind === "none") warnUnisolated(iso.reason);
  const { server, jails } = createSandboxd(cfg, iso);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const killed = jails.killEverything();
    console.log(`sandboxd: ${signal}: stopped ${killed} jail(s), exiting`);
    server.close();
    server.closeAllConnections();
    // Let the kills land and the log line flush; do not wait for open streams.
    setTimeout(() => process.exit(0), 100).unref();
  };
  // Last line of defence: a bug in one request must not take every sandbox down with it.
  process.on("uncaughtException", (err) => console.error("sandboxd: uncaught exception (continuing):", err));
  process.on("unhandledRejection", (err) => console.error("sandboxd: unhandled rejection (continuing):", err));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  server.on("error", (err) => {
    console.error(`sandboxd: cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(cfg.port, cfg.host, () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : cfg.port;
    console.log(`sandboxd listening on http://${cfg.host}:${port}`);
    console.log(
      `sandboxd: isolation ${iso.kind === "bwrap" ? `on (bubblewrap ${iso.bwrapPath})` : "OFF"}; jails under ${cfg.root}/jails`,
    );
  });
}

await main();
