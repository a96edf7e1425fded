/**
 * @module test/support/git-smart-http
 * A real git smart-HTTP server for push tests: `git http-backend` (git's own CGI
 * program, what a GitHub-like host runs behind its web server) behind a node http
 * server on 127.0.0.1 that requires authentication, as GitHub does: HTTP Basic with
 * a token as the password (`x-access-token:<token>`) or `Authorization: Bearer`.
 * Tokens may be limited to some repositories (a GitHub App installation token is).
 * Without a good credential: 401 with `WWW-Authenticate`, as GitHub answers.
 * Repositories are bare, at `<root>/<owner>/<name>.git`; `makeRepo` creates one with
 * a first commit on `main`. `log` records every request with its user.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A running server. */
export interface GitSmartHttp {
  /** http://127.0.0.1:<port> */
  url: string;
  root: string;
  /** token → the repositories ("owner/name") it opens, or "*" for all. */
  tokens: Map<string, Set<string> | "*">;
  /** Whether fetches need a credential too (a private repository); pushes always do. */
  privateReads: boolean;
  /** "METHOD /path status user" per request. */
  log: string[];
  /** Every Authorization header received (to check what was sent). */
  authorizations: string[];
  /** Creates `<owner>/<name>.git` with `files` committed on main; resolves with its URL. */
  makeRepo(owner: string, name: string, files: Record<string, string>): Promise<string>;
  /** The bare repository's directory. */
  repoDir(owner: string, name: string): string;
  /** A ref's commit, or null when it does not exist. */
  commitOf(owner: string, name: string, ref: string): string | null;
  /** `git` in a repository (argv without "git"); its stdout. */
  git(owner: string, name: string, ...args: string[]): string;
  close(): Promise<void>;
}

const AUTHOR_ENV = {
  GIT_AUTHOR_NAME: "Upstream",
  GIT_AUTHOR_EMAIL: "upstream@example.com",
  GIT_COMMITTER_NAME: "Upstream",
  GIT_COMMITTER_EMAIL: "upstream@example.com",
};

/** The user a request authenticates as, or null. */
function userOf(req: IncomingMessage, srv: GitSmartHttp, repo: string): string | null {
  const header = req.headers.authorization ?? "";
  let token: string | null = null;
  let user = "token";
  const basic = /^Basic\s+(\S+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      user = decoded.slice(0, colon);
      token = decoded.slice(colon + 1);
    }
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) token = bearer[1] as string;
  if (!token) return null;
  const scope = srv.tokens.get(token);
  if (!scope || (scope !== "*" && !scope.has(repo))) return null;
  return user;
}

function runCgi(req: IncomingMessage, res: ServerResponse, root: string, user: string | null): Promise<number> {
  const url = new URL(req.url ?? "/", "http://x");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.replace(/^\?/, ""),
    REQUEST_METHOD: req.method ?? "GET",
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: "127.0.0.1",
    GIT_CONFIG_NOSYSTEM: "1",
    HOME: root,
  };
  // http-backend enables receive-pack only for an authenticated user.
  if (user) env.REMOTE_USER = user;
  if (req.headers["content-length"]) env.CONTENT_LENGTH = req.headers["content-length"];
  if (req.headers["content-encoding"]) env.HTTP_CONTENT_ENCODING = req.headers["content-encoding"];
  if (req.headers["git-protocol"]) env.GIT_PROTOCOL = String(req.headers["git-protocol"]);
  return new Promise((resolve) => {
    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    req.pipe(child.stdin);
    let head = Buffer.alloc(0);
    let status = 200;
    let headersDone = false;
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const i = line.indexOf(":");
        if (i < 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    child.stderr.resume();
    child.on("close", () => {
      if (!headersDone) res.writeHead(500).end("http-backend failed");
      else res.end();
      resolve(status);
    });
  });
}

/** Starts a smart-HTTP server over a fresh root; `tokens` open every repository. */
export async function startGitSmartHttp(
  opts: { tokens?: string[]; privateReads?: boolean } = {},
): Promise<GitSmartHttp> {
  const root = await mkdtemp(join(tmpdir(), "git-smart-"));
  const srv: GitSmartHttp = {
    url: "",
    root,
    tokens: new Map((opts.tokens ?? []).map((t) => [t, "*" as const])),
    privateReads: opts.privateReads ?? false,
    log: [],
    authorizations: [],
    repoDir: (owner, name) => join(root, owner, `${name}.git`),
    commitOf: (owner, name, ref) => {
      try {
        return srv.git(owner, name, "rev-parse", "--verify", "-q", `${ref}^{commit}`).trim() || null;
      } catch {
        return null;
      }
    },
    git: (owner, name, ...args) =>
      execFileSync("git", args, {
        cwd: srv.repoDir(owner, name),
        encoding: "utf8",
        env: { ...process.env, ...AUTHOR_ENV },
      }),
    makeRepo: async (owner, name, files) => {
      const work = await mkdtemp(join(tmpdir(), "git-smart-work-"));
      const git = (...args: string[]) =>
        execFileSync("git", args, { cwd: work, stdio: "pipe", env: { ...process.env, ...AUTHOR_ENV } });
      git("init", "-q", "-b", "main");
      for (const [path, content] of Object.entries(files)) await writeFile(join(work, path), content);
      git("add", ".");
      git("commit", "-q", "-m", "first");
      execFileSync("git", ["clone", "-q", "--bare", work, srv.repoDir(owner, name)], { stdio: "pipe" });
      await rm(work, { recursive: true, force: true });
      return `${srv.url}/${owner}/${name}.git`;
    },
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const m = /^\/([^/]+)\/([^/]+?)\.git\//.exec(path);
    const repo = m ? `${m[1]}/${m[2]}` : "";
    if (req.headers.authorization) srv.authorizations.push(req.headers.authorization);
    const user = userOf(req, srv, repo);
    const pushing = /git-receive-pack/.test(req.url ?? "");
    if (!m || path.includes("..")) {
      srv.log.push(`${req.method} ${req.url} 404 -`);
      res.writeHead(404).end("not found");
      return;
    }
    if (!user && (pushing || srv.privateReads)) {
      srv.log.push(`${req.method} ${req.url} 401 -`);
      req.resume();
      res.writeHead(401, { "www-authenticate": 'Basic realm="GitHub"', "content-type": "text/plain" }).end("auth");
      return;
    }
    void runCgi(req, res, root, user).then((status) => srv.log.push(`${req.method} ${req.url} ${status} ${user}`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  srv.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  srv.close = async () => {
    await new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
    await rm(root, { recursive: true, force: true });
  };
  return srv;
}
