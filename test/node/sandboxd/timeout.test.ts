/**
 * @module test/node/sandboxd/timeout.test
 * Shutdown: SIGTERM stops sandboxd and every process it started: each jail's bwrap, the
 * jail's init, its container runtime and the commands running in it (backgrounded ones
 * and ones in a new session too). Timeouts, output caps and process logs of commands are
 * the container runtime's now (the Worker's adapter tests cover them on the real runtime).
 */
import { describe, expect, it } from "vitest";
import { SESSIONLESS } from "../../../src/shared/container-runtime.ts";
import { startSandboxd } from "../../support/sandboxd-process.ts";
import {
  call,
  eventually,
  newJailId,
  parentOf,
  pidAlive,
  processesMatching,
  runtimeEnv,
  startJail,
} from "./helpers.ts";

const env = await runtimeEnv();

describe("sandboxd shutdown", () => {
  it("SIGTERM stops sandboxd and every child it started", async () => {
    const own = await startSandboxd({ env });
    const jails = [newJailId(), newJailId()];
    const runtimes = await Promise.all(jails.map((id) => startJail(own, id)));
    // The runtime's parent is the jail's init, whose parent is bwrap (sandboxd's child).
    const inits = runtimes.map((pid) => parentOf(pid) ?? 0);
    const bwraps = inits.map((pid) => parentOf(pid) ?? 0);
    expect(bwraps.map(parentOf)).toEqual([own.child.pid, own.child.pid]);

    for (const [i, id] of jails.entries()) {
      const started = await call(own, "POST", `/jails/${id}/container/api/process/start`, {
        json: { command: `sleep 44.${i}1 & setsid sleep 44.${i}2 & sleep 44.${i}3`, sessionId: SESSIONLESS },
      });
      expect(started.status, started.text).toBe(200);
    }
    // A streamed command still running when sandboxd goes.
    const stream = await fetch(`${own.url}/jails/${jails[0]}/container/api/execute/stream`, {
      method: "POST",
      headers: { authorization: `Bearer ${own.token}`, "content-type": "application/json" },
      body: JSON.stringify({ command: "echo go; sleep 44.04", sessionId: SESSIONLESS }),
    });
    await stream.body?.getReader().read();
    expect(await eventually(() => processesMatching("sleep 44.").length === 7)).toBe(true);

    expect(await own.stop()).toBe(0);
    expect(own.output()).toContain("SIGTERM: stopped 2 jail(s)");
    const ours = [...runtimes, ...inits, ...bwraps];
    expect(await eventually(() => ours.every((pid) => !pidAlive(pid)))).toBe(true);
    expect(await eventually(() => processesMatching("sleep 44.").length === 0)).toBe(true);
  });
});
