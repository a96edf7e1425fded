/**
 * @module app
 * Builds the Hono app from its deps: error mapping, auth, CORS, the route groups,
 * and 404/405 answers in the envelope. `createApp` is pure; index.ts supplies deps.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { requireBearer } from "./auth";
import type { AppDeps } from "./deps";
import { AppError, FrameworkHttpError, MethodNotAllowedError, NotFoundError, ValidationError } from "./errors";
import { gitHostOf } from "./git-host/config";
import { errorBody } from "./http/envelope";
import { archiveRoutes } from "./routes/archives";
import { docsRoutes } from "./routes/docs";
import { execRoutes } from "./routes/exec";
import { fileRoutes } from "./routes/files";
import { healthRoutes } from "./routes/health";
import { jobRoutes } from "./routes/jobs";
import { portRoutes } from "./routes/ports";
import { processRoutes } from "./routes/processes";
import { runnerRoutes } from "./routes/runner";
import { runnerJobRoutes } from "./routes/runner-jobs";
import { sandboxRoutes } from "./routes/sandboxes";
import { snapshotRoutes } from "./routes/snapshots";
import { terminalRoutes } from "./routes/terminal";
import { RUNNER_JOBS_PREFIX } from "./shared/job-format";
import { RUNNER_API_PREFIX } from "./shared/snapshot-format";

/** Map anything thrown to an AppError; unknown errors become a logged 500. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException) {
    // Hono raises these for bodies it cannot parse (e.g. malformed JSON in a validator).
    if (err.status === 400)
      return new ValidationError(`Malformed request body: ${err.message}`, undefined, "INVALID_JSON");
    return new FrameworkHttpError(err.message || "Request failed", err.status);
  }
  console.error("unhandled error", err);
  return new AppError("Internal server error", "INTERNAL_ERROR");
}

/** Hono path patterns ("/a/:id/*") as regular expressions, for the 405 check. */
function patternToRegExp(pattern: string): RegExp {
  const source = pattern
    .split("/")
    .map((part) => (part === "*" ? ".*" : part.startsWith(":") ? "[^/]+" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${source}/?$`);
}

/**
 * `trusted`: the caller is already authenticated by how it reached us (a service binding to
 * the SandboxApi entrypoint, src/rpc.ts), so the bearer check is left out. Never for requests
 * from the network.
 */
export function createApp(deps: AppDeps, opts: { trusted?: boolean } = {}): Hono {
  const app = new Hono();
  const bearer = opts.trusted ? [] : [requireBearer(deps.config.API_TOKEN)];

  app.onError((err, c) => {
    const appError = toAppError(err);
    return c.json(errorBody(appError), appError.status);
  });

  if (deps.config.CORS_ORIGINS.length > 0) {
    app.use(
      "*",
      cors({
        origin: deps.config.CORS_ORIGINS,
        allowHeaders: ["Authorization", "Content-Type", "Accept", "Last-Event-ID"],
        allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        maxAge: 600,
      }),
    );
  }

  app.route("/", healthRoutes(deps));
  app.route("/", docsRoutes(deps));
  for (const path of ["/sandboxes/*", "/sandboxes"]) for (const check of bearer) app.use(path, check);
  app.route("/sandboxes", sandboxRoutes(deps));
  app.route("/sandboxes", execRoutes(deps));
  app.route("/sandboxes", fileRoutes(deps));
  app.route("/sandboxes", archiveRoutes(deps));
  app.route("/sandboxes", processRoutes(deps));
  app.route("/sandboxes", snapshotRoutes(deps));
  app.route("/sandboxes", portRoutes(deps));
  app.route("/sandboxes", terminalRoutes(deps));
  if (deps.jobs) {
    for (const path of ["/jobs", "/jobs/*", "/run-job", "/run-next"]) for (const check of bearer) app.use(path, check);
    app.route("/", jobRoutes(deps));
  }
  // Runner tokens, not the API_TOKEN, guard these; a job token only while its lease lives
  // (routes/runner-auth.ts, so the gate needs the queue).
  if (deps.snapshots) app.route(`${RUNNER_API_PREFIX}/:projectId`, runnerRoutes(deps.snapshots, deps.jobs ?? null));
  if (deps.snapshots && deps.jobs) {
    app.route(
      `${RUNNER_JOBS_PREFIX}/:jobId`,
      runnerJobRoutes(deps.jobs, deps.snapshots.tokens, gitHostOf(deps.config)),
    );
  }

  // Computed once: the (method, pattern) pairs of real handlers, for telling 404 from 405.
  let handlers: Array<{ method: string; regexp: RegExp }> | undefined;
  app.notFound((c) => {
    handlers ??= app.routes
      .filter((r) => r.method !== "ALL")
      .map((r) => ({ method: r.method, regexp: patternToRegExp(r.path) }));
    const allowed = [...new Set(handlers.filter((h) => h.regexp.test(c.req.path)).map((h) => h.method))];
    const err =
      allowed.length > 0
        ? new MethodNotAllowedError(c.req.method, allowed)
        : new NotFoundError(`No route for ${c.req.method} ${c.req.path}`, "ROUTE_NOT_FOUND");
    if (err instanceof MethodNotAllowedError) c.header("Allow", allowed.join(", "));
    return c.json(errorBody(err), err.status);
  });

  return app;
}
