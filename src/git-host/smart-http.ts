/**
 * @module git-host/smart-http
 * Git credentials added on egress: the runner's git talks smart HTTP to the Worker
 * (`RUNNER_JOBS_PREFIX/:jobId/git/<owner>/<repo>.git/…` on the runner host, which the
 * Sandbox's outbound interception, or locally the jail host, brings to the Worker) with
 * its job token, and the Worker forwards the request to the repository on GITHUB_URL
 * with the host's token added. No git host token ever enters the sandbox.
 *
 * Only the job's own repository; only fetches (upload-pack) and, for a job that
 * pushes, pushes (receive-pack) whose every command updates `refs/heads/<push
 * branch>` without deleting it, read from the pkt-lines before the pack is streamed
 * on. Everything else is refused before the host is asked.
 */
import { ForbiddenPathError, NotFoundError, ValidationError } from "../errors";
import type { Job } from "../shared/job-format";
import { type GitHost, repoOnHost } from "./config";
import { repoToken, TOKEN_USERNAME } from "./credentials";

/** The path below the job's base the runner uses for the job's repository. */
export function egressPath(owner: string, repo: string): string {
  return `/git/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}.git`;
}

const SERVICES = ["git-upload-pack", "git-receive-pack"] as const;
/** Request headers git's smart HTTP needs; nothing else (no credentials) goes on. */
const FORWARDED = ["accept", "content-type", "content-encoding", "git-protocol", "user-agent", "content-length"];
/** The most a receive-pack's command list may take before its pack begins. */
const MAX_COMMANDS_BYTES = 64 * 1024;

/** Answers one smart-HTTP request of `job` at `rest` (the path after `/git`). */
export async function forwardGit(
  request: Request,
  job: Job,
  host: GitHost | null,
  rest: string,
  fetcher: typeof fetch = fetch,
): Promise<Response> {
  const m = /^\/([^/]+)\/([^/]+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(rest);
  const repo = host && job.repo ? repoOnHost(job.repo.url, host) : null;
  if (!m || !host || !repo) throw new NotFoundError("No such repository for this job", "ROUTE_NOT_FOUND");
  const [, owner, name, endpoint] = m as unknown as [string, string, string, string];
  if (decodeURIComponent(owner) !== repo.owner || decodeURIComponent(name) !== repo.repo) {
    throw new ForbiddenPathError(`/${owner}/${name}`, "is not this job's repository");
  }
  const url = new URL(request.url);
  const service = endpoint === "info/refs" ? url.searchParams.get("service") : endpoint;
  const method = endpoint === "info/refs" ? "GET" : "POST";
  if (request.method !== method || !SERVICES.includes(service as (typeof SERVICES)[number])) {
    throw new ValidationError(`Only git's smart HTTP fetch and push go through here, not ${request.method} ${rest}`);
  }
  const branch = job.repo?.pushBranch ?? null;
  if (service === "git-receive-pack" && !branch) {
    throw new ForbiddenPathError(`/${owner}/${name}`, "is not pushed to by this job");
  }
  let body: ReadableStream<Uint8Array> | null = null;
  if (method === "POST" && request.body) {
    body = endpoint === "git-receive-pack" ? await checkedPush(request, `refs/heads/${branch}`) : request.body;
  }
  const headers = new Headers();
  for (const h of FORWARDED) {
    const v = request.headers.get(h);
    if (v !== null) headers.set(h, v);
  }
  const { token } = await repoToken(host, repo);
  headers.set("authorization", `Basic ${btoa(`${TOKEN_USERNAME}:${token}`)}`);
  const upstream = `${host.webOrigin}/${repo.owner}/${repo.repo}.git/${endpoint}${url.search}`;
  // `duplex`: a streamed body, as the fetch standard asks (workerd streams either way).
  const init = { method, headers, body, redirect: "manual", ...(body ? { duplex: "half" } : {}) };
  const res = await fetcher(upstream, init as RequestInit);
  const out = new Headers();
  // Not content-encoding: fetch has already decoded a compressed answer.
  for (const h of ["content-type", "cache-control", "www-authenticate"]) {
    const v = res.headers.get(h);
    if (v !== null) out.set(h, v);
  }
  return new Response(res.body, { status: res.status, headers: out });
}

/**
 * The push's body, once its command pkt-lines (up to the flush) all update `ref`
 * without deleting it; the bytes read are put back in front of the rest.
 */
async function checkedPush(request: Request, ref: string): Promise<ReadableStream<Uint8Array>> {
  if (request.headers.get("content-encoding")) {
    throw new ValidationError("A compressed push is not accepted here");
  }
  const reader = (request.body as ReadableStream<Uint8Array>).getReader();
  let head = new Uint8Array(0);
  let commands: string[] | null = null;
  while (commands === null) {
    const { value, done } = await reader.read();
    if (value) {
      const joined = new Uint8Array(head.length + value.length);
      joined.set(head);
      joined.set(value, head.length);
      head = joined;
    }
    commands = parseCommands(head);
    if (commands === null && (done || head.length > MAX_COMMANDS_BYTES)) {
      throw new ValidationError("The push's commands could not be read");
    }
  }
  const zero = /^0+$/;
  for (const c of commands) {
    const [, newId, name] = c.split(" ");
    if (name !== ref || !newId || zero.test(newId)) {
      throw new ForbiddenPathError(name ?? "?", `is not ${ref}, the only ref this job may push (and not delete)`);
    }
  }
  // No commands: git's probe before a chunked push (a lone flush packet), which updates nothing.
  const first = head;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(first);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** The command lines of a receive-pack request (without capabilities), or null until the flush is in. */
export function parseCommands(bytes: Uint8Array): string[] | null {
  const text = new TextDecoder("latin1");
  const out: string[] = [];
  let at = 0;
  for (;;) {
    if (at + 4 > bytes.length) return null;
    const len = Number.parseInt(text.decode(bytes.subarray(at, at + 4)), 16);
    if (Number.isNaN(len)) throw new ValidationError("The push is not in git's pkt-line format");
    if (len === 0) return out;
    if (len < 4 || at + len > bytes.length) {
      if (len < 4) throw new ValidationError("The push is not in git's pkt-line format");
      return null;
    }
    const line = text.decode(bytes.subarray(at + 4, at + len));
    out.push((line.split("\0")[0] ?? "").replace(/\n$/, ""));
    at += len;
  }
}
