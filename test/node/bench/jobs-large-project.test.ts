/**
 * How bench/jobs-large-project.ts reads the counting proxy's log: each runner API
 * route goes to the phase that sends it, and a manifest crosses once per fetch and
 * once per commit.
 */
import { describe, expect, it } from "vitest";
import type { ProxiedRequest } from "../../../bench/counting-proxy.ts";
import { byPhase, classify, manifestCrossings } from "../../../bench/jobs-large-project.ts";

const id = "a".repeat(64);
const req = (method: string, path: string, extra: Partial<ProxiedRequest> = {}): ProxiedRequest => ({
  method,
  path,
  status: 200,
  up: 0,
  down: 0,
  ...extra,
});

describe("classify", () => {
  it.each([
    ["GET", "/runner/v1/jobs/j1", "start", "GET job"],
    ["POST", "/runner/v1/jobs/j1/events", "report", "POST events"],
    ["POST", "/runner/v1/jobs/j1/result", "report", "POST result"],
    ["GET", "/runner/v1/projects/p/head", "restore", "GET head"],
    ["GET", `/runner/v1/projects/p/snapshots/${id}`, "restore", "GET manifest"],
    ["GET", `/runner/v1/projects/p/packs/${id}`, "restore", "GET pack range"],
    ["PUT", `/runner/v1/projects/p/packs/${id}`, "snapshot", "PUT pack"],
    ["POST", "/runner/v1/projects/p/snapshots", "snapshot", "POST commit (manifest)"],
    ["GET", "/v1/models", "other", "GET /v1/models"],
  ])("%s %s is %s", (method, path, phase, route) => {
    expect(classify({ method, path })).toEqual({ phase, route });
  });
});

describe("byPhase and manifestCrossings", () => {
  it("sums requests and bytes per phase and counts each manifest's fetches and commits", () => {
    const log = [
      req("GET", "/runner/v1/projects/p/head", { down: 10 }),
      req("GET", `/runner/v1/projects/p/snapshots/${id}`, { down: 3000 }),
      req("GET", `/runner/v1/projects/p/snapshots/${id}`, { down: 3000 }),
      req("POST", "/runner/v1/projects/p/snapshots", { up: 4000, committed: "b".repeat(64) }),
    ];
    const phases = byPhase(log);
    expect(phases.get("restore")).toMatchObject({ requests: 3, up: 0, down: 6010 });
    expect(phases.get("snapshot")).toMatchObject({ requests: 1, up: 4000 });
    expect([...manifestCrossings(log)]).toEqual([
      [id, 2],
      ["b".repeat(64), 1],
    ]);
  });
});
