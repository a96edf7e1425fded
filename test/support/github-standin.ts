/**
 * @module test/support/github-standin
 * A STAND-IN for the parts of the GitHub REST API the Worker uses (the real one
 * cannot be reached from here), on 127.0.0.1, checking what GitHub checks and
 * answering as GitHub documents:
 * - `GET /repos/{owner}/{repo}` → `{ default_branch, full_name, private }`;
 * - `POST /repos/{owner}/{repo}/pulls` → 201 with `number` and `html_url`; 422
 *   "Validation Failed" for a missing field, a head or base that does not exist on
 *   the git server (the real repositories of git-smart-http.ts), no commits between
 *   them, or an open pull request for the same head ("A pull request already exists
 *   for owner:branch.");
 * - `GET /repos/{owner}/{repo}/pulls?head=&base=&state=open`;
 * - GitHub App: `GET /repos/{owner}/{repo}/installation` and `POST
 *   /app/installations/{id}/access_tokens` with a JWT (RS256, checked against the
 *   App's public key, `iss` the App id, not expired); the minted token is scoped on
 *   the git server to the repositories asked for.
 * Every other call needs `Authorization: Bearer|token <token>` with a known token:
 * 401 "Bad credentials" otherwise. `faults` queues answers (rate limits: 403 with
 * `x-ratelimit-remaining: 0`, 429 with `retry-after`) for matching requests.
 */
import { createPublicKey, createVerify, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { GitSmartHttp } from "./git-smart-http.ts";

/** One pull request as the stand-in holds it. */
export interface StandinPull {
  number: number;
  owner: string;
  repo: string;
  title: string;
  body: string | null;
  head: string;
  base: string;
  draft: boolean;
  state: "open" | "closed";
}

/** A scripted answer for the next request whose "METHOD /path" contains `match`. */
export interface GitHubFault {
  match: string;
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A running stand-in. */
export interface GitHubStandin {
  url: string;
  /** Tokens the API accepts (GITHUB_TOKEN, minted installation tokens). */
  tokens: Set<string>;
  pulls: StandinPull[];
  faults: GitHubFault[];
  /** "METHOD /path?query status" per request. */
  log: string[];
  /** JSON bodies received, by "METHOD /path". */
  bodies: Array<{ call: string; body: unknown; authorization: string }>;
  /** Installation tokens minted, with the repositories they were asked for. */
  minted: Array<{ token: string; repositories: string[] }>;
  close(): Promise<void>;
}

/** Options: the git server holding the repositories, and a GitHub App to accept. */
export interface GitHubStandinOptions {
  git: GitSmartHttp;
  tokens?: string[];
  app?: { id: string; publicKeyPem: string; installationId?: number };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const invalid = (errors: unknown[]) => ({
  message: "Validation Failed",
  errors,
  documentation_url: "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
});

/** Whether `jwt` is an RS256 JWT of the App, signed by its key and in date. */
function jwtValid(jwt: string, app: { id: string; key: KeyObject }): boolean {
  const [head, claims, sig] = jwt.split(".");
  if (!head || !claims || !sig) return false;
  const verify = createVerify("RSA-SHA256");
  verify.update(`${head}.${claims}`);
  if (!verify.verify(app.key, Buffer.from(sig, "base64url"))) return false;
  const h = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: string };
  const c = JSON.parse(Buffer.from(claims, "base64url").toString("utf8")) as {
    iss?: unknown;
    exp?: number;
    iat?: number;
  };
  const now = Date.now() / 1000;
  // GitHub: exp at most 10 minutes after iat, iat not in the future (beyond skew).
  return (
    h.alg === "RS256" &&
    String(c.iss) === app.id &&
    typeof c.exp === "number" &&
    typeof c.iat === "number" &&
    c.exp > now &&
    c.exp - c.iat <= 600 &&
    c.iat <= now + 60
  );
}

/** Starts the stand-in. */
export async function startGitHubStandin(opts: GitHubStandinOptions): Promise<GitHubStandin> {
  const { git } = opts;
  const app = opts.app ? { id: opts.app.id, key: createPublicKey(opts.app.publicKeyPem) } : null;
  const installationId = opts.app?.installationId ?? 4242;
  /** The account the App is installed on (the owner last asked about: one installation here). */
  let installationOwner = "";
  const gh: GitHubStandin = {
    url: "",
    tokens: new Set(opts.tokens ?? []),
    pulls: [],
    faults: [],
    log: [],
    bodies: [],
    minted: [],
    close: async () => {},
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = new URL(req.url ?? "/", "http://x");
    const call = `${req.method} ${url.pathname}`;
    const auth = req.headers.authorization ?? "";
    const text = await readBody(req);
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        send(res, 400, { message: "Problems parsing JSON" });
        return 400;
      }
    }
    gh.bodies.push({ call, body, authorization: auth });
    const fi = gh.faults.findIndex((f) => `${call}${url.search}`.includes(f.match));
    if (fi >= 0) {
      const f = gh.faults.splice(fi, 1)[0] as GitHubFault;
      send(res, f.status, f.body ?? { message: "API rate limit exceeded" }, f.headers ?? {});
      return f.status;
    }
    const bearer = /^(?:Bearer|token)\s+(\S+)$/i.exec(auth)?.[1] ?? "";

    // GitHub App routes: JWT auth.
    const inst = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(url.pathname);
    const tokensRoute = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
    if (inst || tokensRoute) {
      if (!app || !jwtValid(bearer, app)) {
        send(res, 401, { message: "A JSON web token could not be decoded" });
        return 401;
      }
      if (inst && req.method === "GET") {
        if (!git.commitOf(inst[1] as string, inst[2] as string, "HEAD")) {
          send(res, 404, { message: "Not Found" });
          return 404;
        }
        installationOwner = inst[1] as string;
        send(res, 200, { id: installationId, app_id: Number(app.id), account: { login: installationOwner } });
        return 200;
      }
      if (tokensRoute && req.method === "POST" && Number(tokensRoute[1]) === installationId) {
        const b = (body ?? {}) as { repositories?: unknown; permissions?: unknown };
        const repos = Array.isArray(b.repositories) ? (b.repositories as string[]) : [];
        const token = `ghs_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
        gh.tokens.add(token);
        gh.minted.push({ token, repositories: repos });
        // On the git server the token opens only those repositories of the installation's owner.
        git.tokens.set(token, new Set(repos.map((r) => `${installationOwner}/${r}`)));
        const expires = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, "Z");
        send(res, 201, {
          token,
          expires_at: expires,
          permissions: b.permissions ?? {},
          repository_selection: "selected",
        });
        return 201;
      }
      send(res, 404, { message: "Not Found" });
      return 404;
    }

    if (!gh.tokens.has(bearer)) {
      send(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
      return 401;
    }
    const repoMatch = /^\/repos\/([^/]+)\/([^/]+)(\/pulls)?$/.exec(url.pathname);
    if (!repoMatch) {
      send(res, 404, { message: "Not Found" });
      return 404;
    }
    const [, owner, repo, pullsPath] = repoMatch as unknown as [string, string, string, string | undefined];
    if (!git.commitOf(owner, repo, "HEAD")) {
      send(res, 404, { message: "Not Found" });
      return 404;
    }
    if (!pullsPath && req.method === "GET") {
      send(res, 200, { full_name: `${owner}/${repo}`, default_branch: "main", private: git.privateReads });
      return 200;
    }
    if (pullsPath && req.method === "GET") {
      const head = url.searchParams.get("head");
      const base = url.searchParams.get("base");
      const state = url.searchParams.get("state") ?? "open";
      const list = gh.pulls.filter(
        (p) =>
          p.owner === owner &&
          p.repo === repo &&
          (state === "all" || p.state === state) &&
          (!head || `${owner}:${p.head}` === head) &&
          (!base || p.base === base),
      );
      send(
        res,
        200,
        list.map((p) => pullJson(git.url, p)),
      );
      return 200;
    }
    if (pullsPath && req.method === "POST") {
      const b = (body ?? {}) as Record<string, unknown>;
      for (const field of ["title", "head", "base"]) {
        if (typeof b[field] !== "string" || !b[field]) {
          send(res, 422, invalid([{ resource: "PullRequest", field, code: "missing_field" }]));
          return 422;
        }
      }
      if (b.body !== undefined && b.body !== null && typeof b.body !== "string") {
        send(res, 422, invalid([{ resource: "PullRequest", field: "body", code: "invalid" }]));
        return 422;
      }
      const head = b.head as string;
      const base = b.base as string;
      const headSha = git.commitOf(owner, repo, `refs/heads/${head}`);
      const baseSha = git.commitOf(owner, repo, `refs/heads/${base}`);
      if (!headSha || !baseSha) {
        const field = headSha ? "base" : "head";
        send(res, 422, invalid([{ resource: "PullRequest", field, code: "invalid" }]));
        return 422;
      }
      if (gh.pulls.some((p) => p.owner === owner && p.repo === repo && p.head === head && p.state === "open")) {
        send(
          res,
          422,
          invalid([
            { resource: "PullRequest", code: "custom", message: `A pull request already exists for ${owner}:${head}.` },
          ]),
        );
        return 422;
      }
      const ahead = git.git(owner, repo, "rev-list", "--count", `${baseSha}..${headSha}`).trim();
      if (ahead === "0") {
        send(
          res,
          422,
          invalid([{ resource: "PullRequest", code: "custom", message: `No commits between ${base} and ${head}` }]),
        );
        return 422;
      }
      const pull: StandinPull = {
        number: gh.pulls.length + 1,
        owner,
        repo,
        title: b.title as string,
        body: (b.body as string | undefined) ?? null,
        head,
        base,
        draft: b.draft === true,
        state: "open",
      };
      gh.pulls.push(pull);
      send(res, 201, pullJson(git.url, pull));
      return 201;
    }
    send(res, 404, { message: "Not Found" });
    return 404;
  };

  const server = createServer((req, res) => {
    handle(req, res).then(
      (status) => gh.log.push(`${req.method} ${req.url} ${status}`),
      (err: unknown) => {
        gh.log.push(`${req.method} ${req.url} 500`);
        if (!res.headersSent) send(res, 500, { message: (err as Error).message });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  gh.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gh.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return gh;
}

function pullJson(webUrl: string, p: StandinPull): Record<string, unknown> {
  return {
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    draft: p.draft,
    html_url: `${webUrl}/${p.owner}/${p.repo}/pull/${p.number}`,
    head: { ref: p.head, label: `${p.owner}:${p.head}` },
    base: { ref: p.base },
  };
}
