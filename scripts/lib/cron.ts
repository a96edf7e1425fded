/**
 * @module scripts/lib/cron
 * Just enough cron for `npm run dev` to fire the Worker's cron triggers on their
 * schedule, which `wrangler dev` does not do by itself. The five standard fields
 * (minute hour day-of-month month day-of-week, in UTC as Cloudflare runs them) with
 * `*`, numbers, `a-b` ranges, `/step` and `,` lists — what wrangler.jsonc uses. Names
 * (JAN, MON), `L`, `W` and `#` are refused, so a schedule never silently misfires.
 * Small enough not to warrant a dependency for a dev-only helper.
 */
import { readFileSync } from "node:fs";

/** A parsed expression: the allowed values of each field, and whether the day fields were restricted. */
export interface CronSchedule {
  expression: string;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Cron's rule: when both day fields are restricted, a day matching either one runs. */
  dayOr: boolean;
}

const FIELDS = [
  ["minute", 0, 59],
  ["hour", 0, 23],
  ["day of month", 1, 31],
  ["month", 1, 12],
  ["day of week", 0, 7],
] as const;

function parseField(text: string, [name, min, max]: (typeof FIELDS)[number]): Set<number> {
  const values = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`cron ${name} "${text}": only numbers, *, a-b, /step and lists are supported`);
    const from = m[1] === "*" ? min : Number(m[2]);
    const to = m[1] === "*" ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < min || to > max || from > to || step < 1) throw new Error(`cron ${name} "${text}" is out of range`);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

/** Parse a five-field cron expression; throws on anything outside the supported subset. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expression}": expected 5 fields, got ${parts.length}`);
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) =>
    parseField(p, FIELDS[i] as (typeof FIELDS)[number]),
  );
  // Sunday is 0 and 7.
  if (weekdays?.has(7)) weekdays.add(0);
  return {
    expression,
    minutes: minutes as Set<number>,
    hours: hours as Set<number>,
    days: days as Set<number>,
    months: months as Set<number>,
    weekdays: weekdays as Set<number>,
    dayOr: !parts[2]?.startsWith("*") && !parts[4]?.startsWith("*"),
  };
}

function matches(s: CronSchedule, t: Date): boolean {
  if (!s.minutes.has(t.getUTCMinutes()) || !s.hours.has(t.getUTCHours()) || !s.months.has(t.getUTCMonth() + 1)) {
    return false;
  }
  const day = s.days.has(t.getUTCDate());
  const weekday = s.weekdays.has(t.getUTCDay());
  return s.dayOr ? day || weekday : day && weekday;
}

/** The first minute strictly after `after` that `schedule` runs at (UTC), within five years. */
export function nextRun(schedule: CronSchedule, after: Date): Date {
  const t = new Date(after.getTime());
  t.setUTCSeconds(0, 0);
  t.setUTCMinutes(t.getUTCMinutes() + 1);
  const limit = after.getTime() + 5 * 366 * 24 * 3_600_000;
  while (t.getTime() <= limit) {
    if (matches(schedule, t)) return t;
    t.setUTCMinutes(t.getUTCMinutes() + 1);
  }
  throw new Error(`cron "${schedule.expression}" never runs`);
}

/** "every minute", "every 5 minutes", or the expression itself, for the dev banner. */
export function describeCron(expression: string): string {
  const m = /^(\*|\*\/(\d+))\s+\*\s+\*\s+\*\s+\*$/.exec(expression.trim());
  if (!m) return `on "${expression}" (UTC)`;
  const n = Number(m[2] ?? 1);
  return n === 1 ? "every minute" : `every ${n} minutes`;
}

/** `triggers.crons` of a wrangler.jsonc (JSON with // comments). */
export function readCrons(wranglerJsonc: string): string[] {
  const text = readFileSync(wranglerJsonc, "utf8").replace(/^\s*\/\/.*$/gm, "");
  const config = JSON.parse(text) as { triggers?: { crons?: unknown } };
  const crons = config.triggers?.crons;
  return Array.isArray(crons) ? crons.filter((c): c is string => typeof c === "string") : [];
}

/**
 * Call `fire(cron)` at each due minute of every schedule until the returned stop
 * function is called. Timers are unref'd: they never keep the process alive.
 */
export function runCrons(
  schedules: readonly CronSchedule[],
  fire: (cron: string) => Promise<void>,
  now: () => Date = () => new Date(),
): () => void {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let stopped = false;
  const arm = (schedule: CronSchedule, lastDue = 0) => {
    if (stopped) return;
    // From the later of now and the last run: a timer that fires a hair early must not run a minute twice.
    const due = nextRun(schedule, new Date(Math.max(now().getTime(), lastDue)));
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        void fire(schedule.expression).finally(() => arm(schedule, due.getTime()));
      },
      Math.max(0, due.getTime() - now().getTime()),
    );
    timer.unref();
    timers.add(timer);
  };
  for (const s of schedules) arm(s);
  return () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
  };
}
