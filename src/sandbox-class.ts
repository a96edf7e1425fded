/**
 * @module sandbox-class
 * The Sandbox Durable Object class wrangler.jsonc binds: the SDK's Sandbox plus
 * outbound interception of two hosts, answered in the Worker:
 * - RUNNER_INTERNAL_HOST: the runner API. A runner inside the container reaches the
 *   Worker with neither a public URL nor R2 credentials; its runner token is all it holds.
 * - MODELS_INTERNAL_HOST: the model APIs (src/models/egress.ts). The Worker adds
 *   ANTHROPIC_API_KEY / OPENAI_API_KEY on the way out, so no key enters the container.
 */
import { type ExecOptions, type ExecResult, Sandbox as SdkSandbox } from "@cloudflare/sandbox";
import { JailContainer, withLocalJail } from "./backend/jail-container";
import { streamOverHttp } from "./backend/streams-over-http";
import type { BackendSettings, BackendSettingsInput, PreviewPort } from "./backend/types";
import { NotFoundError } from "./errors";
import { errorResponse } from "./http/envelope";
import { forwardModelRequest } from "./models/egress";
import { runnerAvailable, snapshotBeforeStop } from "./runner-driver/access";
import { RUNNER_INTERNAL_HOST } from "./shared/egress";
import { RUNNER_JOBS_PREFIX } from "./shared/job-format";
import { MODELS_INTERNAL_HOST } from "./shared/model-egress";
import { RUNNER_API_PREFIX } from "./shared/snapshot-format";
import { workerApp } from "./worker-app";

/**
 * Outbound handler for RUNNER_INTERNAL_HOST (the containers package's OutboundHandler
 * signature): serves only the runner API; the user API stays unreachable from inside.
 * No ExecutionContext exists here, and the runner routes need none.
 */
export async function runnerOutboundHandler(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  if (!url.pathname.startsWith(`${RUNNER_API_PREFIX}/`) && !url.pathname.startsWith(`${RUNNER_JOBS_PREFIX}/`)) {
    const err = new NotFoundError(
      `${RUNNER_INTERNAL_HOST} serves only ${RUNNER_API_PREFIX}/* and ${RUNNER_JOBS_PREFIX}/*`,
      "ROUTE_NOT_FOUND",
    );
    return errorResponse(err);
  }
  return await workerApp(env).app.fetch(request, env);
}

/**
 * Outbound handler for MODELS_INTERNAL_HOST: forwards `/anthropic/*` and `/openai/*`
 * to the configured upstreams with the Worker's keys (see src/models/egress.ts).
 */
export async function modelsOutboundHandler(request: Request, env: Env): Promise<Response> {
  return await forwardModelRequest(request, workerApp(env).deps.config);
}

/** Every intercepted host and its handler; a local jail's host reaches the same (backend/jail-egress.ts). */
export const outboundHandlers = {
  [RUNNER_INTERNAL_HOST]: runnerOutboundHandler,
  [MODELS_INTERNAL_HOST]: modelsOutboundHandler,
};

/**
 * The session id with which the SDK runs a call sessionless (its DISABLE_SESSION_TOKEN,
 * not exported; what `getSandbox(…, {enableDefaultSession: false})` sends). Pinned by
 * test/node/deploy-config.test.ts against the installed SDK.
 */
export const SESSIONLESS = "__DISABLE_SESSION__";

/** The Durable Object storage key that {@link Sandbox.onStart} sets and destroy removes. */
const CREATED_KEY = "sandbox-worker:created";
/** The user's environment variables set at create (kept here, never in D1, logs or listings). */
const USER_ENV_KEY = "sandbox-worker:env";
/** The ports exposed through the API and their names (the SDK keeps their tokens; its listing drops names). */
const PORT_NAMES_KEY = "sandbox-worker:port-names";

/**
 * The Sandboxes whose running container's workspace is known to be restored (the adapter's
 * ensure saw the runner's state): spares every API call the exec that checks it. Any start
 * or stop of the container clears it, as does losing the instance (it lives in memory). A
 * module-level set rather than a private field, which would make the class nominal to
 * TypeScript and the adapter's structural view of it fail.
 */
const readyWorkspaces = new WeakSet<object>();
/** The Sandboxes whose container started since the adapter last ensured them (see noteEnsured). */
const freshStarts = new WeakSet<object>();

/** The state object the SDK's Sandbox constructor takes. */
type SandboxState = ConstructorParameters<typeof SdkSandbox<Env>>[0];

/**
 * The Sandbox Durable Object: the SDK's, plus the runner API and the model APIs on
 * intercepted hosts. Without Docker (wrangler dev), its container is a local jail
 * that sandboxd runs at SANDBOXD_URL (backend/jail-container.ts).
 */
export class Sandbox extends SdkSandbox<Env> {
  constructor(ctx: SandboxState, env: Env) {
    const jailHost = {
      url: env.SANDBOXD_URL,
      token: env.SANDBOXD_TOKEN,
      workerUrl: env.RUNNER_API_URL,
      fetcher: env.SANDBOXD,
    };
    super(withLocalJail(ctx, jailHost), env);
    if (ctx.container instanceof JailContainer) {
      // A local jail's egress is carried by its host to the Worker (backend/jail-egress.ts),
      // so @cloudflare/containers must not set interception up: it would need ctx.exports'
      // ContainerProxy, which the Workers test pool does not provide. Its flag stays false.
      Object.defineProperty(this, "usingInterception", { get: () => false, set: () => {}, configurable: true });
    }
    // The SDK makes its client here and again when its transport changes: each one streams
    // over HTTP (backend/streams-over-http.ts).
    let client = streamOverHttp(this.client);
    Object.defineProperty(this, "client", {
      get: () => client,
      set: (next: typeof client) => {
        client = streamOverHttp(next);
      },
      configurable: true,
    });
    // The SDK keeps env vars in memory only: put the user's back whenever this object is made.
    void ctx.blockConcurrencyWhile(async () => {
      const env = await ctx.storage.get<Record<string, string>>(USER_ENV_KEY);
      if (env) await this.setEnvVars(env);
    });
  }

  /**
   * Applies a create's settings (see SandboxSettingsInput; sleepAfter and keepAlive the SDK
   * persists) and answers them all, so a create takes one call for both.
   */
  async applySettings(settings: BackendSettingsInput): Promise<BackendSettings> {
    if (settings.env) {
      const before = (await this.ctx.storage.get<Record<string, string>>(USER_ENV_KEY)) ?? {};
      const unset = Object.fromEntries(Object.keys(before).map((k) => [k, undefined]));
      await this.setEnvVars({ ...unset, ...settings.env });
      await this.ctx.storage.put(USER_ENV_KEY, settings.env);
    }
    if (settings.sleepAfter !== undefined) await this.setSleepAfter(settings.sleepAfter);
    if (settings.keepAlive !== undefined) await this.setKeepAlive(settings.keepAlive);
    return await this.readSettings();
  }

  /** The settings as GET /sandboxes/:id shows them. */
  async readSettings(): Promise<BackendSettings> {
    const env = (await this.ctx.storage.get<Record<string, string>>(USER_ENV_KEY)) ?? {};
    return {
      envNames: Object.keys(env).sort(),
      sleepAfter: (await this.ctx.storage.get<string | number>("sleepAfter")) ?? this.sleepAfter,
      keepAlive: (await this.ctx.storage.get<boolean>("keepAliveEnabled")) ?? false,
    };
  }

  /** Each start of its container records that this sandbox exists (see wasCreated). */
  override async onStart(): Promise<void> {
    readyWorkspaces.delete(this);
    freshStarts.add(this);
    await super.onStart();
    await this.ctx.storage.put(CREATED_KEY, Date.now());
  }

  override async onStop(params?: Parameters<SdkSandbox<Env>["onStop"]>[0]): Promise<void> {
    readyWorkspaces.delete(this);
    await super.onStop(params);
  }

  /**
   * sleepAfter ran out with no request (keepAlive off): the SDK stops the container, and on
   * Cloudflare its disk goes with it. Not while a job runs in it (its runner works without
   * requests; the stop would kill it mid-run). Otherwise snapshot first, so what the sandbox's
   * own processes wrote since the sync watcher's last batch is in the head; if that fails,
   * stay awake (the alarm comes again after another sleepAfter) rather than lose it. Without
   * a runner API there is nothing to snapshot with, and it sleeps as the SDK's does.
   */
  override async onActivityExpired(): Promise<void> {
    // The SDK's own keys (its fields are private): the name getSandbox gave it, our project id.
    const projectId = await this.ctx.storage.get<string>("sandboxName");
    const keepAlive = (await this.ctx.storage.get<boolean>("keepAliveEnabled")) ?? false;
    if (keepAlive || !projectId || !this.ctx.container?.running) return await super.onActivityExpired();
    const deps = workerApp(this.env).deps;
    try {
      const running = deps.jobs ? (await deps.jobs.list({ projectId, status: "running", limit: 1 })).jobs[0] : null;
      if (running) {
        console.log(`sleepAfter ran out for ${projectId}, but job ${running.id} runs in it: staying awake`);
        return;
      }
      if (runnerAvailable(deps)) {
        const snapshotId = await snapshotBeforeStop(deps, projectId);
        console.log(`sleepAfter ran out for ${projectId}: snapshot ${snapshotId ?? "(fresh workspace, none)"}`);
      }
    } catch (err) {
      console.warn(`sleepAfter ran out for ${projectId}, but it could not be put to sleep safely; staying awake:`, err);
      return;
    }
    await super.onActivityExpired();
  }

  /** The container runs and its workspace was restored since it started. */
  async workspaceReady(): Promise<boolean> {
    return readyWorkspaces.has(this) && (await this.getState()).status === "healthy";
  }

  /**
   * The hot path of `POST /sandboxes/:id/exec` in one call: runs `command` sessionless when
   * the workspace is ready, as `workspaceReady()` then `exec` would in two; null when the
   * caller must take the ensure step first. Checked and run in the same call, so the
   * container cannot stop between the two.
   */
  async execIfReady(command: string, options: ExecOptions): Promise<ExecResult | null> {
    if (!(await this.workspaceReady())) return null;
    return await this.execWithSessionToken(command, SESSIONLESS, options);
  }

  /**
   * What the adapter's ensure saw in the running container: whether the runner's state is
   * there (`initialized`, remembered while it runs). Answers whether the container started
   * since the last ensure: with its disk kept (a local jail's runtime restarted) its
   * processes, the sync watcher among them, are gone although the workspace is restored.
   */
  async noteEnsured(initialized: boolean): Promise<boolean> {
    const started = freshStarts.has(this);
    freshStarts.delete(this);
    if (initialized && (await this.getState()).status === "healthy") readyWorkspaces.add(this);
    return started;
  }

  /**
   * Exposes `port` at a preview URL under `hostname` (the SDK's exposePort: a new token, or the
   * port's earlier one, which also reactivates it after a restart) and records its name.
   */
  async exposePreviewPort(port: number, hostname: string, name?: string): Promise<PreviewPort> {
    const exposed = await this.exposePort(port, { hostname, ...(name !== undefined ? { name } : {}) });
    const names = (await this.ctx.storage.get<Record<string, string | null>>(PORT_NAMES_KEY)) ?? {};
    names[String(port)] = name ?? null;
    await this.ctx.storage.put(PORT_NAMES_KEY, names);
    return { port, name: name ?? null, url: exposed.url, active: true };
  }

  /**
   * The ports exposed through the API, in order; `active` (with its URL) while the container that
   * it was exposed in runs (after a restart POST again: same URL). Null when never created.
   */
  async previewPorts(hostname: string): Promise<PreviewPort[] | null> {
    if (!(await this.wasCreated())) return null;
    const names = (await this.ctx.storage.get<Record<string, string | null>>(PORT_NAMES_KEY)) ?? {};
    if (Object.keys(names).length === 0) return [];
    const urls = new Map((await this.getExposedPorts(hostname)).map((p) => [p.port, p.url]));
    return Object.entries(names)
      .map(([port, name]) => {
        const url = urls.get(Number(port)) ?? null;
        return { port: Number(port), name, url, active: url !== null };
      })
      .sort((a, b) => a.port - b.port);
  }

  /** Revokes `port`'s preview URL (its token too: a new expose makes a new URL); false if it was not exposed. */
  async revokePreviewPort(port: number): Promise<boolean> {
    const names = (await this.ctx.storage.get<Record<string, string | null>>(PORT_NAMES_KEY)) ?? {};
    if (!Object.hasOwn(names, String(port))) return false;
    await this.unexposePort(port);
    delete names[String(port)];
    await this.ctx.storage.put(PORT_NAMES_KEY, names);
    return true;
  }

  /** Whether it was created and not destroyed since: what status() answers 404 without. */
  async wasCreated(): Promise<boolean> {
    return (await this.ctx.storage.get<number>(CREATED_KEY)) !== undefined;
  }

  /** A destroyed sandbox is gone, as before it was created (a sleeping one is not). */
  override async destroy(): Promise<void> {
    readyWorkspaces.delete(this);
    await super.destroy();
    await this.ctx.storage.delete([CREATED_KEY, PORT_NAMES_KEY]);
  }

  static {
    // An assignment, not a static field: the inherited setter registers the handlers
    // under the class name ("Sandbox", kept by wrangler's keep_names).
    Sandbox.outboundByHost = outboundHandlers;
  }
}
