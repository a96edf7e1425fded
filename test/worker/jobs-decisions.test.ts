/**
 * The job queue's pure rules (src/jobs/decisions.ts), table-driven: lease expiry,
 * deadlines, retries after a failed start, cancel, transitions, whether a job token
 * still lives. No I/O.
 */
import { describe, expect, it } from "vitest";
import {
  cancelAction,
  canTransition,
  deadlineFrom,
  freeSlots,
  isTerminal,
  jobTokenRefusal,
  type LeaseState,
  leaseExpiryAction,
  leaseUntilFrom,
  ownsLease,
  retryOrFail,
  TIMEOUT_GRACE_MS,
} from "../../src/jobs/decisions";
import { type JobStatus, LEASE_MS } from "../../src/shared/job-format";

const T = 1_700_000_000_000;
const running = (over: Partial<LeaseState> = {}): LeaseState => ({
  status: "running",
  attempt: 1,
  maxAttempts: 3,
  leaseUntil: T + LEASE_MS,
  deadlineAt: deadlineFrom(T, 60),
  timeoutSeconds: 60,
  cancelRequested: false,
  ...over,
});

describe("leaseExpiryAction", () => {
  const cases: Array<[string, LeaseState, number, string, string?]> = [
    ["lease still valid", running(), T + LEASE_MS - 1, "none"],
    ["lease ends exactly now", running(), T + LEASE_MS, "requeue"],
    ["expired, attempts left", running({ attempt: 2 }), T + LEASE_MS + 1, "requeue"],
    ["expired on the last attempt", running({ attempt: 3 }), T + LEASE_MS + 1, "fail", "LEASE_EXPIRED"],
    ["expired past maxAttempts (lowered)", running({ attempt: 4 }), T + LEASE_MS + 1, "fail", "LEASE_EXPIRED"],
    ["expired with a cancel request", running({ cancelRequested: true }), T + LEASE_MS + 1, "cancel"],
    [
      "past the deadline while heartbeating",
      running({ leaseUntil: T + 999_999 }),
      deadlineFrom(T, 60),
      "fail",
      "TIMEOUT",
    ],
    ["deadline beats retry", running({ attempt: 1 }), deadlineFrom(T, 60) + 1, "fail", "TIMEOUT"],
    ["no lease at all", running({ leaseUntil: null }), T, "requeue"],
    ["queued job", running({ status: "queued" }), T + 10 * LEASE_MS, "none"],
    ["finished job", running({ status: "succeeded" }), T + 10 * LEASE_MS, "none"],
  ];
  it.each(cases)("%s", (_name, job, now, kind, code) => {
    const action = leaseExpiryAction(job, now);
    expect(action.kind).toBe(kind);
    if (code) expect(action).toMatchObject({ code });
    if (action.kind !== "none") expect(action.reason).toMatch(/\S/);
  });

  it("reasons say what happened and how many attempts were used", () => {
    const requeue = leaseExpiryAction(running({ attempt: 1 }), T + LEASE_MS);
    expect(requeue).toMatchObject({ kind: "requeue" });
    expect(requeue.kind !== "none" && requeue.reason).toMatch(/lease expired.*no heartbeat.*attempt 1 of 3; requeued/);
    const fail = leaseExpiryAction(running({ attempt: 3 }), T + LEASE_MS);
    expect(fail.kind !== "none" && fail.reason).toMatch(/attempt 3 of 3; no attempts left/);
  });
});

describe("retryOrFail (a failed start)", () => {
  it.each([
    [1, 3, false, "requeue"],
    [2, 3, false, "requeue"],
    [3, 3, false, "fail"],
    [1, 1, false, "fail"],
    [1, 3, true, "cancel"],
  ] as const)("attempt %i of %i, cancel requested %s → %s", (attempt, maxAttempts, cancelRequested, kind) => {
    const action = retryOrFail(running({ attempt, maxAttempts, cancelRequested }), "START_FAILED", "boom");
    expect(action.kind).toBe(kind);
    if (kind === "fail") expect(action).toMatchObject({ code: "START_FAILED" });
  });
});

describe("cancelAction", () => {
  it.each([
    ["queued", false, "cancel-now"],
    ["running", false, "request"],
    ["running", true, "already-requested"],
    ["succeeded", false, "refuse"],
    ["failed", false, "refuse"],
    ["cancelled", false, "refuse"],
  ] as const)("%s (cancel requested %s) → %s", (status, cancelRequested, kind) => {
    expect(cancelAction({ status, cancelRequested }).kind).toBe(kind);
  });
});

describe("transitions", () => {
  const all: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];
  const allowed = new Set([
    "queued>running",
    "queued>cancelled",
    "running>queued",
    "running>succeeded",
    "running>failed",
    "running>cancelled",
  ]);
  for (const from of all) {
    for (const to of all) {
      it(`${from} → ${to}: ${allowed.has(`${from}>${to}`) ? "allowed" : "refused"}`, () => {
        expect(canTransition(from, to)).toBe(allowed.has(`${from}>${to}`));
      });
    }
  }
  it("terminal statuses", () => {
    expect(all.filter(isTerminal)).toEqual(["succeeded", "failed", "cancelled"]);
  });
});

describe("leases, deadlines, slots, ownership", () => {
  it("computes lease ends and deadlines", () => {
    expect(leaseUntilFrom(T)).toBe(T + LEASE_MS);
    expect(deadlineFrom(T, 900)).toBe(T + 900_000 + TIMEOUT_GRACE_MS);
  });
  it.each([
    [0, 4, 4],
    [3, 4, 1],
    [4, 4, 0],
    [6, 4, 0],
  ])("%i running of %i → %i free", (runningNow, max, free) => {
    expect(freeSlots(runningNow, max)).toBe(free);
  });
  it.each([
    ["running", 2, 2, true],
    ["running", 2, 1, false],
    ["queued", 2, 2, false],
    ["succeeded", 2, 2, false],
  ] as const)("%s attempt %i, runner of attempt %i owns it: %s", (status, attempt, mine, owns) => {
    expect(ownsLease({ status, attempt }, mine)).toBe(owns);
  });
});

describe("jobTokenRefusal", () => {
  const expired = new Date(T + LEASE_MS).toISOString();
  it.each([
    ["running its attempt, lease live", running(), 1, T + 1, null],
    ["a token without an attempt takes the current one", running({ attempt: 2 }), undefined, T + 1, null],
    ["a cancel was asked: still live until it ends", running({ cancelRequested: true }), 1, T + 1, null],
    ["succeeded", running({ status: "succeeded" }), 1, T + 1, "is succeeded"],
    ["failed", running({ status: "failed" }), 1, T + 1, "is failed"],
    ["cancelled", running({ status: "cancelled" }), 1, T + 1, "is cancelled"],
    ["requeued", running({ status: "queued" }), 1, T + 1, "is queued"],
    ["a later attempt runs", running({ attempt: 2 }), 1, T + 1, "runs attempt 2, not attempt 1"],
    ["lease ran out (not yet swept)", running(), 1, T + LEASE_MS, `lost its lease (the lease expired at ${expired})`],
    [
      "past the deadline, lease fresh",
      running({ leaseUntil: T + 10 * LEASE_MS }),
      1,
      deadlineFrom(T, 60),
      "ran past its deadline",
    ],
  ] as const)("%s", (_name, job, attempt, now, refusal) => {
    expect(jobTokenRefusal(job, attempt, now)).toBe(refusal);
  });
});
