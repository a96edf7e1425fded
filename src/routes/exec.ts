/**
 * @module routes/exec
 * Running things in a sandbox: POST /:projectId/exec (buffered or SSE) and
 * POST /:projectId/clone (git, never through a shell we build from user input).
 */
import { Hono } from "hono";
import type { Config } from "../config";
import type { AppDeps } from "../deps";
import { ValidationError } from "../errors";
import { jsonBody } from "../http/body";
import { ok } from "../http/envelope";
import { confinePath } from "../paths";
import { ensureReady } from "../sandboxes/ready";
import { recordUse } from "../sandboxes/registry";
import { CloneBodySchema, ExecBodySchema, ProjectParamSchema } from "../schemas";
import { checkRepoUrl, isSafeRefName, RepoUrlError, redactUrl } from "../shared/git";
import { respondWithEvents } from "../sse";
import { validate } from "../validation";

/** The requested timeout, the default when absent; above the maximum is an error, not a silent clamp. */
export function effectiveTimeout(requested: number | undefined, config: Config, fallback: number): number {
  if (requested === undefined) return Math.min(fallback, config.EXEC_MAX_TIMEOUT_MS);
  if (requested > config.EXEC_MAX_TIMEOUT_MS) {
    throw new ValidationError(`timeoutMs must be at most ${config.EXEC_MAX_TIMEOUT_MS}`, {
      maxTimeoutMs: config.EXEC_MAX_TIMEOUT_MS,
    });
  }
  return requested;
}

/** git's default directory name for a URL: its last path segment without ".git". */
function defaultCloneDirectory(url: URL, root: string): string {
  const last =
    url.pathname
      .split("/")
      .filter(Boolean)
      .pop()
      ?.replace(/\.git$/, "") ?? "";
  if (!/^[A-Za-z0-9._-]+$/.test(last) || last === "." || last === "..") {
    throw new ValidationError("Cannot derive a directory from repoUrl; pass `directory`");
  }
  return `${root}/${last}`;
}

/** Clones take longer than commands: 5 minutes by default. */
const DEFAULT_CLONE_TIMEOUT_MS = 300_000;

export function execRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  return new Hono()
    .post(
      "/:projectId/exec",
      jsonBody(),
      validate("param", ProjectParamSchema),
      validate("json", ExecBodySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const body = c.req.valid("json");
        const req = {
          command: body.command,
          cwd: confinePath(body.cwd ?? root, root),
          env: body.env,
          timeoutMs: effectiveTimeout(body.timeoutMs, config, config.EXEC_DEFAULT_TIMEOUT_MS),
        };
        const wantsStream = body.stream === true || (c.req.header("accept") ?? "").includes("text/event-stream");
        if (wantsStream) {
          await ensureReady(deps, projectId);
          return respondWithEvents(c, (signal) => backend.execStream(projectId, req, signal));
        }
        // The hot path: one call when the workspace is ready; else the ensure step, then the exec.
        const ran = await backend.execIfReady(projectId, req);
        if (ran) {
          await recordUse(deps.sandboxes, projectId);
          return ok(c, ran);
        }
        await ensureReady(deps, projectId);
        return ok(c, await backend.exec(projectId, req));
      },
    )
    .post(
      "/:projectId/clone",
      jsonBody(),
      validate("param", ProjectParamSchema),
      validate("json", CloneBodySchema),
      async (c) => {
        const { projectId } = c.req.valid("param");
        const body = c.req.valid("json");
        let url: URL;
        try {
          url = checkRepoUrl(body.repoUrl, config.CLONE_ALLOWED_SCHEMES);
        } catch (err) {
          if (err instanceof RepoUrlError) throw new ValidationError(err.message, undefined, "INVALID_REPO_URL");
          throw err;
        }
        if (body.branch !== undefined && !isSafeRefName(body.branch)) {
          throw new ValidationError("branch is not a valid git ref name", undefined, "INVALID_BRANCH");
        }
        const directory = confinePath(body.directory ?? defaultCloneDirectory(url, root), root);
        await ensureReady(deps, projectId);
        const result = await backend.clone(projectId, {
          repoUrl: body.repoUrl,
          directory,
          branch: body.branch,
          depth: body.depth,
          timeoutMs: effectiveTimeout(body.timeoutMs, config, DEFAULT_CLONE_TIMEOUT_MS),
        });
        return ok(c, { repoUrl: redactUrl(body.repoUrl), ...result, message: "Repository cloned successfully" });
      },
    );
}
