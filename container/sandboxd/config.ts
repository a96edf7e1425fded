/**
 * @module sandboxd/config
 * sandboxd's settings, read once from the environment at start. The JSON limit keeps
 * one huge control request from exhausting sandboxd's memory (the jails' own traffic
 * streams through the proxy).
 */
import { isAbsolute, resolve } from "node:path";
import { type JailLimits, limitsFromEnv } from "./limits.ts";

/** Everything sandboxd needs to know to run. */
export interface SandboxdConfig {
  host: string;
  port: number;
  /** Bearer token every request but GET /health must carry; null only with SANDBOXD_INSECURE_NO_TOKEN=1. */
  token: string | null;
  /** Holds `jails/<id>/{workspace,state,home,run}`. */
  root: string;
  /** "auto" uses bubblewrap when it works; "none" runs unisolated (loudly). */
  isolation: "auto" | "none";
  maxJsonBytes: number;
  /** The host uid (and gid) jails run as when sandboxd runs as root (bwrap.ts, JailUser). */
  jailUid: number;
  /**
   * The container runtime jails run (see jails.ts): the Bun executable and the
   * runtime bundle, absolute host paths built by `npm run build:runtime`. Null
   * when unset: sandboxd still starts, starting a jail answers 503 RUNTIME_MISSING.
   */
  runtimeBun: string | null;
  runtimeBundle: string | null;
  /** Jails' internet (jail-network.ts): "auto" where slirp4netns is installed. */
  internet: "auto" | "on" | "off";
  /** Host loopback ports let into every jail (jail-egress.ts); none by default. */
  hostPorts: number[];
  /** What each jail may use (limits.ts: SANDBOXD_LIMIT_*). */
  limits: JailLimits;
}

function portsFrom(value: string | undefined): number[] {
  const text = value?.trim() ?? "";
  if (text === "") return [];
  return [
    ...new Set(
      text.split(/[\s,]+/).map((p) => {
        const n = Number(p);
        // 80 is the jail's way to the Worker's hosts.
        if (!Number.isInteger(n) || n < 1 || n > 65535 || n === 80) {
          throw new Error(`SANDBOXD_HOST_PORTS must list TCP ports (1-65535, not 80), got ${JSON.stringify(p)}`);
        }
        return n;
      }),
    ),
  ];
}

const MiB = 1024 * 1024;

function intFrom(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function absolutePathFrom(value: string | undefined, name: string): string | null {
  const v = value?.trim();
  if (!v) return null;
  if (!isAbsolute(v)) throw new Error(`${name} must be an absolute path, got ${JSON.stringify(v)}`);
  return v;
}

/** Reads the config from `env`; throws with a message for the operator when it is unusable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): SandboxdConfig {
  const token = env.SANDBOXD_TOKEN?.trim() || null;
  if (!token && env.SANDBOXD_INSECURE_NO_TOKEN !== "1") {
    throw new Error(
      "SANDBOXD_TOKEN is not set. Set it to a secret shared with the Worker (SANDBOXD_TOKEN in .dev.vars), " +
        "or set SANDBOXD_INSECURE_NO_TOKEN=1 to run without authentication (never on a shared machine).",
    );
  }
  const isolation = env.SANDBOXD_ISOLATION ?? "auto";
  if (isolation !== "auto" && isolation !== "none" && isolation !== "bwrap") {
    throw new Error(`SANDBOXD_ISOLATION must be "auto" (or "bwrap") or "none", got ${JSON.stringify(isolation)}`);
  }
  const internet = env.SANDBOXD_INTERNET || "auto";
  if (internet !== "auto" && internet !== "on" && internet !== "off") {
    throw new Error(`SANDBOXD_INTERNET must be "auto", "on" or "off", got ${JSON.stringify(internet)}`);
  }
  // 0 asks the OS for a free port (tests read the printed URL).
  const port = env.SANDBOXD_PORT === "0" ? 0 : intFrom(env.SANDBOXD_PORT, 8790, "SANDBOXD_PORT");
  if (port > 65535) throw new Error("SANDBOXD_PORT must be at most 65535");
  return {
    host: env.SANDBOXD_HOST || "127.0.0.1",
    port,
    token,
    root: resolve(cwd, env.SANDBOXD_ROOT || ".sandboxd"),
    isolation: isolation === "none" ? "none" : "auto",
    maxJsonBytes: intFrom(env.SANDBOXD_MAX_JSON_BYTES, MiB, "SANDBOXD_MAX_JSON_BYTES"),
    // Far above the uids of accounts and system services: owns nothing on the host but the jails' files.
    jailUid: intFrom(env.SANDBOXD_JAIL_UID, 100_000, "SANDBOXD_JAIL_UID"),
    runtimeBun: absolutePathFrom(env.SANDBOXD_RUNTIME_BUN, "SANDBOXD_RUNTIME_BUN"),
    runtimeBundle: absolutePathFrom(env.SANDBOXD_RUNTIME_BUNDLE, "SANDBOXD_RUNTIME_BUNDLE"),
    internet,
    hostPorts: portsFrom(env.SANDBOXD_HOST_PORTS),
    limits: limitsFromEnv(env),
  };
}
