/**
 * @module sandboxd/server
 * sandboxd's HTTP API, the jail host's: auth, routing and one handler per route,
 * each wrapped so any failure becomes a JSON error and the server keeps serving.
 * `/jails/...` starts and stops container runtimes (jails.ts) and proxies a jail's
 * container traffic, websocket upgrades included, to its unix socket; its client is
 * the Sandbox Durable Object's JailContainer (src/backend/jail-container.ts).
 * `/jails/:id/ports/:port/...` carries a preview URL's traffic to a server on that port of
 * the jail's own network (Jails.portFor). The protocol is documented in
 * container/sandboxd/README.md.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { z } from "zod";
import { SANDBOXD_TOKEN_HEADER } from "../../src/shared/egress.ts";
import type { Isolation } from "./bwrap.ts";
import type { SandboxdConfig } from "./config.ts";
import { badRequest, notFound, SandboxdError } from "./errors.ts";
import {
  clientGone,
  type ProxyTarget,
  proxyHttp,
  proxyUpgrade,
  readJson,
  sendError,
  sendJson,
  sendRawError,
} from "./http.ts";
import { checkJailId } from "./ids.ts";
import { describeNetwork, detectInternet, type Internet } from "./jail-network.ts";
import { describeLimits, detectEnforcement, type Enforcement } from "./jail-resources.ts";
import { Jails } from "./jails.ts";

/** What a handler gets: the request, its parsed URL and the route's parameters. */
interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The jail of a `/jails/:id...` route, else "". */
  jailId: string;
  /** For `/jails/:id/container/<rest>` (and `/ports/:port/<rest>`): `/<rest>`, the path upstream. */
  upstreamPath: string;
  /** For `/jails/:id/ports/:port/<rest>`: the port, else 0. */
  port: number;
}

/** A route's matched parameters. */
interface Match {
  route: string;
  jailId: string;
  upstreamPath: string;
  port: number;
}

/** POST /jails/:id: the Worker's address, where the jail's requests for the Worker's hosts go (jail-egress.ts). */
const startBody = z.object({
  egressUrl: z
    .url({ protocol: /^http$/, error: "egressUrl must be an http:// URL (the Worker's RUNNER_API_URL)" })
    .max(2048)
    .optional(),
});

/** POST /jails/:id/signal. */
const signalBody = z.strictObject({
  signal: z.union([z.enum(["SIGTERM", "SIGKILL", "SIGINT"]), z.number().int().min(1).max(64)]),
});

type Handler = (ctx: Ctx) => Promise<void>;

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

/**
 * Bearer check in constant time (hashing first makes the lengths equal). On a port's route
 * the token comes in `x-sandboxd-token`: `Authorization` there is the preview's client's own.
 */
function authorized(req: IncomingMessage, token: string | null, route: string): boolean {
  if (token === null) return true;
  let given: string;
  if (route === "jailPort") {
    const header = req.headers[SANDBOXD_TOKEN_HEADER];
    given = typeof header === "string" ? header : "";
  } else {
    const header = req.headers.authorization ?? "";
    given = header.startsWith("Bearer ") ? header.slice(7) : "";
  }
  return timingSafeEqual(digest(given), digest(token));
}

/** What a port's server gets: the client's headers but sandboxd's token, and its own Host. */
function portTarget(port: number, path: string, conn: { connect(): Socket; close(): void }): ProxyTarget {
  return {
    path,
    connect: conn.connect,
    connected: conn.close,
    drop: [SANDBOXD_TOKEN_HEADER, "host"],
    set: { host: `localhost:${port}` },
    name: `Port ${port} of the jail (is a server listening on it?)`,
  };
}

/**
 * Builds the HTTP server (not listening yet) and the jail registry behind it.
 * Closing the server (or the process exiting) kills every jail.
 */
export function createSandboxd(
  cfg: SandboxdConfig,
  iso: Isolation,
  internet: Internet = detectInternet(cfg.internet),
  enforcement: Enforcement = detectEnforcement(
    cfg.limits,
    iso.kind === "bwrap",
    iso.kind === "bwrap" && iso.tmpBytes !== null,
  ),
): { server: Server; jails: Jails } {
  const runtime = { bun: cfg.runtimeBun, bundle: cfg.runtimeBundle };
  const net = { internet, token: cfg.token, hostPorts: cfg.hostPorts };
  const jails = new Jails(cfg.root, iso, runtime, net, enforcement);

  const routes: Record<string, Partial<Record<string, Handler>>> = {
    health: {
      // jailUid: the host uid a jail's root is (sandboxd's own unless it runs them as JailUser).
      GET: async ({ res }) =>
        sendJson(res, 200, {
          ok: true,
          isolated: iso.kind === "bwrap",
          jailUid: (iso.kind === "bwrap" ? iso.jailUser?.uid : undefined) ?? process.getuid?.() ?? null,
          // What a jail's network reaches besides the Worker's hosts (jail-network.ts, jail-egress.ts);
          // unisolated, everything the host does.
          internet: iso.kind !== "bwrap" || internet.kind === "slirp4netns",
          hostPorts: cfg.hostPorts,
          network: iso.kind === "bwrap" ? describeNetwork(internet, cfg.hostPorts) : "the host's (no isolation)",
          // What each jail may use, and what is not enforced here (jail-resources.ts).
          limits: iso.kind === "bwrap" ? describeLimits(enforcement) : "none (no isolation)",
        }),
    },
    listJails: {
      GET: async ({ res }) => sendJson(res, 200, { jails: jails.list() }),
    },
    jail: {
      POST: async ({ req, res, jailId }) => {
        const { egressUrl } = await readJson(req, cfg.maxJsonBytes, startBody, true);
        sendJson(res, 200, await jails.start(jailId, { egressUrl }));
      },
      GET: async ({ res, jailId }) => sendJson(res, 200, await jails.status(jailId)),
      DELETE: async ({ res, jailId }) => sendJson(res, 200, { destroyed: await jails.destroy(jailId) }),
    },
    jailWait: {
      // Long-poll: answers when the runtime exits; a client that leaves takes its listener along.
      GET: async ({ res, jailId }) => {
        const exit = await jails.wait(jailId, clientGone(res));
        if (exit) sendJson(res, 200, exit);
      },
    },
    jailSignal: {
      POST: async ({ req, res, jailId }) => {
        const { signal } = await readJson(req, cfg.maxJsonBytes, signalBody);
        sendJson(res, 200, { signaled: await jails.signal(jailId, signal) });
      },
    },
    jailPort: {
      // Any method: a server in the jail (a preview URL's).
      "*": async ({ req, res, url, jailId, upstreamPath, port }) => {
        const conn = await jails.portFor(jailId, port);
        await proxyHttp(req, res, portTarget(port, upstreamPath + url.search, conn));
      },
    },
    jailContainer: {
      // Any method: the runtime's own API (see ANY_METHOD below).
      "*": async ({ req, res, url, jailId, upstreamPath }) => {
        const socket = await jails.socketFor(jailId);
        await proxyHttp(req, res, {
          socketPath: socket.path,
          path: upstreamPath + url.search,
          connected: socket.close,
        });
      },
    },
  };

  /** Routes whose "*" handler takes every method. */
  const ANY_METHOD = new Set(["jailContainer", "jailPort"]);

  /** The `/jails/:id...` routes. */
  function matchJail(path: string): Match | null {
    const m = /^\/jails\/([^/]+)(\/.*)?$/.exec(path);
    if (!m?.[1]) return null;
    const jailId = decodeURIComponent(m[1]);
    const rest = m[2] ?? "";
    const base = { jailId, upstreamPath: "", port: 0 };
    const fixed: Record<string, string> = { "": "jail", "/wait": "jailWait", "/signal": "jailSignal" };
    const route = fixed[rest];
    if (route) return { ...base, route };
    if (rest === "/container" || rest.startsWith("/container/")) {
      return { ...base, route: "jailContainer", upstreamPath: rest.slice("/container".length) || "/" };
    }
    const p = /^\/ports\/(\d{1,5})(\/.*)?$/.exec(rest);
    if (p?.[1]) return { ...base, route: "jailPort", port: Number(p[1]), upstreamPath: p[2] ?? "/" };
    return null;
  }

  /** Route name and path parameters of a URL path, or null. */
  function match(path: string): Match | null {
    const none = { jailId: "", upstreamPath: "", port: 0 };
    if (path === "/health") return { ...none, route: "health" };
    if (path === "/jails") return { ...none, route: "listJails" };
    if (path.startsWith("/jails/")) return matchJail(path);
    return null;
  }

  function checkAuth(req: IncomingMessage, route: string): void {
    if (!authorized(req, cfg.token, route)) throw new SandboxdError("UNAUTHORIZED", "Missing or invalid bearer token");
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandboxd");
    const m = match(url.pathname);
    if (!m) throw notFound(`No route ${url.pathname}`, "ROUTE_NOT_FOUND");
    if (m.route !== "health") checkAuth(req, m.route);
    const handlers = routes[m.route] ?? {};
    const handler = ANY_METHOD.has(m.route) ? handlers["*"] : handlers[req.method ?? ""];
    if (!handler) {
      const allowed = Object.keys(handlers);
      throw new SandboxdError("METHOD_NOT_ALLOWED", `Use ${allowed.join(", ")}`, { allowed });
    }
    if (m.route.startsWith("jail")) checkJailId(m.jailId);
    await handler({ req, res, url, ...m });
  }

  /** An upgrade request (websocket): only a jail's container route takes one. */
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandboxd");
    const m = match(url.pathname);
    if (!m) throw notFound(`No route ${url.pathname}`, "ROUTE_NOT_FOUND");
    checkAuth(req, m.route);
    if (m.route !== "jailContainer" && m.route !== "jailPort") {
      throw badRequest(`${url.pathname} does not take an upgrade`, "UPGRADE_NOT_SUPPORTED");
    }
    checkJailId(m.jailId);
    if (m.route === "jailPort") {
      const conn = await jails.portFor(m.jailId, m.port);
      proxyUpgrade(req, socket, head, portTarget(m.port, m.upstreamPath + url.search, conn));
      return;
    }
    const runtime = await jails.socketFor(m.jailId);
    proxyUpgrade(req, socket, head, {
      socketPath: runtime.path,
      path: m.upstreamPath + url.search,
      connected: runtime.close,
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // decodeURIComponent of a malformed escape is a client error, not a crash.
      sendError(req, res, err instanceof URIError ? badRequest("Malformed URL encoding") : err);
    });
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Errors of the raw socket (a reset) must not become uncaught exceptions.
    socket.on("error", () => socket.destroy());
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      sendRawError(req, socket, err instanceof URIError ? badRequest("Malformed URL encoding") : err);
    });
  });
  // A jail's runtime must not outlive sandboxd (under bwrap --die-with-parent sees to it
  // as well; unisolated nothing else would).
  const killJails = () => jails.killEverything();
  process.once("exit", killJails);
  server.once("close", () => {
    process.off("exit", killJails);
    killJails();
  });
  return { server, jails };
}
