/**
 * @module bench/jobs-api
 * The job routes of the Worker's REST API as bench/jobs.ts calls them: queue a
 * `shell` job, `/run-next`, read a job, page its events. Requests mirror what a
 * client of the API sends; every call checks its status and throws otherwise.
 */
import type { Job, JobEvent } from "../src/shared/job-format.ts";
import { expectOk } from "./measure.ts";

/** A client of the Worker at `url` with the API token. */
export interface JobsApi {
  /** POST /jobs: a `shell` job running `command` in `projectId`. */
  create(projectId: string, command: string): Promise<Job>;
  /** POST /run-next: the leased job (202), or null (200, nothing runnable). */
  runNext(): Promise<Job | null>;
  get(id: string): Promise<Job>;
  /** Every stored event of job `id`, in order (GET /jobs/:id/events?format=json, paged). */
  events(id: string): Promise<JobEvent[]>;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Whether `job` has ended. */
export const isTerminal = (job: Job): boolean => TERMINAL.has(job.status);

async function data<T>(res: Response, what: string): Promise<T> {
  const body = JSON.parse(new TextDecoder().decode(await expectOk(res, what))) as { data: T };
  return body.data;
}

/** The job API of the Worker at `url`. */
export function jobsApi(url: string, token: string): JobsApi {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  return {
    create: async (projectId, command) => {
      const res = await fetch(`${url}/jobs`, {
        method: "POST",
        headers,
        body: JSON.stringify({ projectId, agent: "shell", prompt: "bench", command }),
      });
      if (res.status !== 201) throw new Error(`POST /jobs: HTTP ${res.status} ${await res.text()}`);
      return (JSON.parse(await res.text()) as { data: Job }).data;
    },
    runNext: async () => {
      const res = await fetch(`${url}/run-next`, { method: "POST", headers });
      const job = await data<Job | null>(res, "POST /run-next");
      if ((res.status === 202) !== (job !== null)) throw new Error(`POST /run-next: HTTP ${res.status} with ${job}`);
      return job;
    },
    get: async (id) => await data<Job>(await fetch(`${url}/jobs/${id}`, { headers }), "GET /jobs/:id"),
    events: async (id) => {
      const all: JobEvent[] = [];
      for (let after = 0; ; ) {
        const res = await fetch(`${url}/jobs/${id}/events?format=json&after=${after}&limit=500`, { headers });
        const page = await data<{ events: JobEvent[]; lastSeq: number; hasMore: boolean }>(res, "GET events");
        all.push(...page.events);
        if (!page.hasMore) return all;
        after = page.lastSeq;
      }
    },
  };
}
