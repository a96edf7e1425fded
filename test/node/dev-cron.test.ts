/**
 * The cron subset `npm run dev` follows (scripts/lib/cron.ts): parsing, the next
 * due minute in UTC, the banner's wording, wrangler.jsonc's own schedule, and the
 * runner firing at due minutes and never twice for one minute.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { describeCron, nextRun, parseCron, readCrons, runCrons } from "../../scripts/lib/cron.ts";
import { REPO_ROOT } from "../../scripts/lib/services.ts";

const at = (iso: string) => new Date(iso);
const next = (expr: string, after: string) => nextRun(parseCron(expr), at(after)).toISOString();

describe("cron schedule", () => {
  it("finds the next due minute, strictly after the given time, in UTC", () => {
    expect(next("* * * * *", "2026-01-01T10:00:00.000Z")).toBe("2026-01-01T10:01:00.000Z");
    expect(next("* * * * *", "2026-01-01T10:00:59.999Z")).toBe("2026-01-01T10:01:00.000Z");
    expect(next("*/5 * * * *", "2026-01-01T10:02:10Z")).toBe("2026-01-01T10:05:00.000Z");
    expect(next("*/5 * * * *", "2026-01-01T10:55:00Z")).toBe("2026-01-01T11:00:00.000Z");
    expect(next("30 2 * * *", "2026-01-01T03:00:00Z")).toBe("2026-01-02T02:30:00.000Z");
    expect(next("0 9-17/4 * * *", "2026-01-01T09:00:00Z")).toBe("2026-01-01T13:00:00.000Z");
    expect(next("0 0 1 1,7 *", "2026-01-01T00:00:00Z")).toBe("2026-07-01T00:00:00.000Z");
    // Sunday is 0 or 7; 2026-01-04 is a Sunday.
    expect(next("0 0 * * 7", "2026-01-01T00:00:00Z")).toBe("2026-01-04T00:00:00.000Z");
    // Both day fields restricted: either one matches (the 2nd, or the Sunday before it).
    expect(next("0 0 10 * 0", "2026-01-01T00:00:00Z")).toBe("2026-01-04T00:00:00.000Z");
  });

  it("refuses what it cannot follow rather than misfire", () => {
    for (const bad of ["* * * *", "60 * * * *", "0 0 * JAN *", "0 0 L * *", "5-1 * * * *", "*/0 * * * *"]) {
      expect(() => parseCron(bad), bad).toThrow();
    }
    expect(() => nextRun(parseCron("0 0 31 2 *"), at("2026-01-01T00:00:00Z"))).toThrow(/never runs/);
  });

  it("describes schedules for the banner", () => {
    expect(describeCron("* * * * *")).toBe("every minute");
    expect(describeCron("*/10 * * * *")).toBe("every 10 minutes");
    expect(describeCron("0 3 * * *")).toBe('on "0 3 * * *" (UTC)');
  });

  it("reads wrangler.jsonc's schedule, which it can follow", () => {
    const crons = readCrons(join(REPO_ROOT, "wrangler.jsonc"));
    expect(crons.length).toBeGreaterThan(0);
    for (const cron of crons) expect(() => parseCron(cron)).not.toThrow();
  });
});

describe("runCrons", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("fires at each due minute, once per minute", async () => {
    vi.useFakeTimers({ now: at("2026-01-01T10:00:30Z") });
    const fired: string[] = [];
    const stop = runCrons([parseCron("* * * * *"), parseCron("*/2 * * * *")], async (cron) => {
      fired.push(`${new Date().toISOString().slice(11, 16)} ${cron}`);
    });
    await vi.advanceTimersByTimeAsync(29_000);
    expect(fired).toEqual([]);
    await vi.advanceTimersByTimeAsync(3 * 60_000);
    stop();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(fired.sort()).toEqual(["10:01 * * * * *", "10:02 * * * * *", "10:02 */2 * * * *", "10:03 * * * * *"]);
  });
});
