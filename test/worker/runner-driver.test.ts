/**
 * How a runner's failure is answered (src/runner-driver/run.ts): the codes a route
 * answers as its own keep their status from the one map, every other failure of the
 * runner is the sandbox's (502), and a code outside the shared map is not passed on
 * as if it were part of the API.
 */
import { describe, expect, it } from "vitest";
import { errorBody } from "../../src/http/envelope";
import { RunnerFailedError } from "../../src/runner-driver/run";

describe("RunnerFailedError", () => {
  it.each([
    ["HEAD_MOVED", 409],
    ["WORKSPACE_NOT_RESTORED", 409],
    ["SNAPSHOT_NOT_FOUND", 404],
    ["RESTORE_INCOMPLETE", 500],
  ] as const)("%s keeps its own status (%i)", (code, status) => {
    const err = new RunnerFailedError("no", code);
    expect({ code: err.code, status: err.status }).toEqual({ code, status });
  });

  it.each(["NETWORK_ERROR", "INVALID_MANIFEST", "UNAUTHORIZED", "PACK_HASH_MISMATCH", "INTERNAL_ERROR"])(
    "%s is passed on with 502",
    (code) => {
      const err = new RunnerFailedError("no", code);
      expect({ code: err.code, status: err.status }).toEqual({ code, status: 502 });
    },
  );

  it("a code outside the shared map becomes RUNNER_FAILED, the runner's code in details", () => {
    const err = new RunnerFailedError("it broke", "SOMETHING_ELSE");
    expect(err.status).toBe(502);
    expect(errorBody(err)).toEqual({
      success: false,
      error: "it broke",
      code: "RUNNER_FAILED",
      details: { runnerCode: "SOMETHING_ELSE" },
    });
  });
});
