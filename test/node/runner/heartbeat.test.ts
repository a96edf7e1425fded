/**
 * The heartbeat loop (container/runner/heartbeat.ts) against a scripted client:
 * a cancel request aborts with "cancel" and beating goes on; 409 or 401 aborts
 * with "lease-lost" and stops the loop; any other failure is only logged; stop()
 * waits for a heartbeat in flight and no beat follows it.
 */
import { describe, expect, it } from "vitest";
import { RunnerError } from "../../../container/runner/errors.ts";
import { Heartbeat, type HeartbeatClient } from "../../../container/runner/heartbeat.ts";

type Answer = { cancelRequested: boolean } | Error;

/** A client answering from `script` in turn (the last answer repeats), counting calls. */
function scripted(script: Answer[]): HeartbeatClient & { calls: number } {
  const client = {
    calls: 0,
    async heartbeat(): Promise<{ cancelRequested: boolean }> {
      const a = script[Math.min(client.calls, script.length - 1)] as Answer;
      client.calls++;
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return client;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (s: number, code = "API_ERROR") => new RunnerError(code, `status ${s}`, { details: { status: s } });
const ok = { cancelRequested: false };

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await wait(5);
  }
}

describe("Heartbeat", () => {
  it("a cancel request aborts with 'cancel' once, and beating goes on", async () => {
    const client = scripted([ok, { cancelRequested: true }]);
    const logs: string[] = [];
    const hb = new Heartbeat({ client, attempt: 1, intervalMs: 5, cancelRequested: false, log: (m) => logs.push(m) });
    await until(() => client.calls >= 4);
    await hb.stop();
    expect(hb.signal.aborted).toBe(true);
    expect(hb.signal.reason).toBe("cancel");
    expect(hb.cancelRequested).toBe(true);
    expect(hb.leaseLost).toBe(false);
    expect(logs.filter((l) => l.includes("cancel requested"))).toHaveLength(1);
  });

  it("a job fetched with cancelRequested does not abort again on its heartbeats", async () => {
    const client = scripted([{ cancelRequested: true }]);
    const hb = new Heartbeat({ client, attempt: 1, intervalMs: 5, cancelRequested: true, log: () => {} });
    await until(() => client.calls >= 2);
    await hb.stop();
    expect(hb.cancelRequested).toBe(true);
    expect(hb.signal.aborted).toBe(false);
  });

  it.each([
    ["409 LEASE_LOST", status(409, "LEASE_LOST")],
    ["409 JOB_FINISHED", status(409, "JOB_FINISHED")],
    ["401", status(401)],
  ])("%s aborts with 'lease-lost' and stops beating", async (_name, err) => {
    const client = scripted([ok, err, ok]);
    const hb = new Heartbeat({ client, attempt: 2, intervalMs: 5, cancelRequested: false, log: () => {} });
    await until(() => hb.leaseLost);
    const calls = client.calls;
    await wait(50);
    expect(client.calls).toBe(calls);
    expect(hb.signal.reason).toBe("lease-lost");
    await hb.stop();
  });

  it("any other failure is logged and the next beat tries again", async () => {
    const client = scripted([status(503), new RunnerError("NETWORK_ERROR", "down"), ok]);
    const logs: string[] = [];
    const hb = new Heartbeat({ client, attempt: 1, intervalMs: 5, cancelRequested: false, log: (m) => logs.push(m) });
    await until(() => client.calls >= 4);
    await hb.stop();
    expect(hb.signal.aborted).toBe(false);
    expect(logs.filter((l) => l.startsWith("heartbeat failed"))).toHaveLength(2);
  });

  it("stop() waits for the heartbeat in flight; none follows", async () => {
    let release: () => void = () => {};
    let calls = 0;
    let settled = false;
    const client: HeartbeatClient = {
      heartbeat: () => {
        calls++;
        return new Promise((r) => {
          release = () => {
            settled = true;
            r(ok);
          };
        });
      },
    };
    const hb = new Heartbeat({ client, attempt: 1, intervalMs: 5, cancelRequested: false, log: () => {} });
    await until(() => calls === 1);
    const stopped = hb.stop();
    setTimeout(() => release(), 20);
    await stopped;
    expect(settled).toBe(true);
    await wait(30);
    expect(calls).toBe(1);
  });
});
