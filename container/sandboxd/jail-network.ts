/**
 * @module sandboxd/jail-network
 * A jail's internet: user-mode networking by slirp4netns (Debian package `slirp4netns`)
 * attached to the jail's network namespace, with the host's loopback disabled (10.0.2.2
 * does not lead to the host's 127.0.0.1), so git, npm and pip work where the host has
 * internet while nothing listening on the host's loopback is reachable. Servers the host
 * exposes on its other addresses are reachable as they are from the network. Off
 * (SANDBOXD_INTERNET=off), a jail has only its loopback and its egress (jail-egress.ts).
 *
 * slirp4netns runs in a sandbox of its own (an empty root, no capabilities it does not
 * need) under its seccomp filter; it ends with the jail (killed) or with sandboxd (its
 * exit pipe closes).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { SandboxdError } from "./errors.ts";
import { findOnPath } from "./which.ts";

/** The nameserver slirp4netns answers on inside the jail. */
export const SLIRP_DNS = "10.0.2.3";

/** Whether jails get the internet, and how. */
export type Internet = { kind: "slirp4netns"; path: string } | { kind: "off"; reason: string };

/** SANDBOXD_INTERNET: "auto" uses slirp4netns when installed; "on" requires it. */
export function detectInternet(setting: "auto" | "on" | "off"): Internet {
  if (setting === "off") return { kind: "off", reason: "SANDBOXD_INTERNET=off" };
  const path = findOnPath("slirp4netns");
  if (path) return { kind: "slirp4netns", path };
  const reason = "slirp4netns (Debian/Ubuntu package `slirp4netns`) is not on PATH";
  if (setting === "on") throw new Error(`SANDBOXD_INTERNET=on, but ${reason}`);
  return { kind: "off", reason };
}

/** What a jail's network reaches, for the banners (sandboxd's, and npm run dev's through /health). */
export function describeNetwork(internet: Internet, hostPorts: readonly number[]): string {
  const net =
    internet.kind === "slirp4netns"
      ? "own namespace; internet through slirp4netns (the host's loopback unreachable)"
      : `own namespace; no internet (${internet.reason})`;
  const ports =
    hostPorts.length > 0
      ? `HOST LOOPBACK PORTS LET IN: ${hostPorts.join(", ")} (SANDBOXD_HOST_PORTS)`
      : "no host loopback port let in (SANDBOXD_HOST_PORTS)";
  return `${net}; ${ports}`;
}

/** A jail's /etc/resolv.conf: slirp4netns's resolver, or none (a lookup then fails at once). */
export function jailResolvConf(internet: Internet): string {
  return internet.kind === "slirp4netns" ? `nameserver ${SLIRP_DNS}\n` : "# This jail has no internet.\n";
}

/**
 * Attaches slirp4netns to the network namespace of `initPid` (the jail's init) and
 * resolves once the jail's interface is configured. As root it enters the namespace
 * directly (/dev/net/tun is often root's alone); otherwise it joins the jail's user
 * namespace, which sandboxd's user owns.
 */
export async function connectInternet(
  internet: Extract<Internet, { kind: "slirp4netns" }>,
  initPid: number,
): Promise<ChildProcess> {
  const args = ["--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"];
  if (process.getuid?.() !== 0) args.push(`--userns-path=/proc/${initPid}/ns/user`);
  args.push("--ready-fd=3", "--exit-fd=4", String(initPid), "tap0");
  const child = spawn(internet.path, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], env: {} });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-4096);
  });
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      child.kill("SIGKILL");
      reject(new SandboxdError("JAIL_NETWORK_FAILED", `slirp4netns ${why}: ${stderr.trim() || "no output"}`));
    };
    const timer = setTimeout(() => fail("did not configure the jail's network within 10 s"), 10_000);
    ready.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      fail(`exited (${signal ?? `exit code ${code}`}) before the jail's network was up`);
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      fail(`could not start (${err.message})`);
    });
  });
  return child;
}
