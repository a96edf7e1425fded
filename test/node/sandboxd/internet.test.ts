/**
 * @module test/node/sandboxd/internet.test
 * A jail's internet (slirp4netns, host loopback disabled), proved without leaving this
 * machine: test/support/internet-probe.ts runs in a network namespace this test creates
 * (`unshare --net`, root only), where an address on the namespace's loopback plays the
 * internet. With SANDBOXD_INTERNET auto a jail reaches it and resolves through slirp4netns's
 * DNS, and still not the namespace's 127.0.0.1 (directly or through the gateway); with
 * SANDBOXD_INTERNET=off it reaches neither.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const PROBE = join(import.meta.dirname, "..", "..", "support", "internet-probe.ts");
const ADDRESS = "198.51.100.1";
const isRoot = process.getuid?.() === 0;

describe("a jail's internet", () => {
  it.skipIf(!isRoot)("reaches the internet through slirp4netns, never the host's loopback; off, nothing", () => {
    const script = `set -e; ip link set lo up; ip addr add ${ADDRESS}/32 dev lo; exec "$0" "$1"`;
    const r = spawnSync("unshare", ["--net", "--", "sh", "-c", script, process.execPath, PROBE], {
      encoding: "utf8",
      timeout: 60_000,
      env: process.env,
    });
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    const results = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<
      string,
      { stdout: string; banner: string }
    >;
    expect(results.auto?.banner).toContain("internet through slirp4netns");
    expect(results.auto?.stdout).toBe("200 internet\nunreachable\nunreachable\nnameserver 10.0.2.3\n");
    expect(results.off?.banner).toContain("no internet (SANDBOXD_INTERNET=off)");
    expect(results.off?.stdout).toBe("unreachable\nunreachable\nunreachable\n# This jail has no internet.\n");
  });
});
