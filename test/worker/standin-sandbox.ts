/**
 * @module test/worker/standin-sandbox
 * STAND-IN for the Cloudflare container runtime, test-only. The Workers test pool
 * runs without containers, so a DurableObjectState has no `ctx.container` and the
 * SDK's Sandbox refuses to construct. `StandInSandbox` is the REAL `Sandbox` class
 * of @cloudflare/sandbox with exactly one thing replaced: `ctx.container` (what
 * workerd gives a container-enabled Durable Object) is a small object whose TCP
 * port forwards to the stand-in container server (test/support/standin-container.ts)
 * at env.STANDIN_CONTAINER_URL. Everything above it — getSandbox, the DO RPC
 * methods, containerFetch with start/health-check/retry, sessions, the HTTP
 * client and its error classes — is the SDK's own code.
 */
import { Sandbox } from "@cloudflare/sandbox";

/** The state object the SDK's Sandbox constructor takes. */
type SandboxState = ConstructorParameters<typeof Sandbox<Cloudflare.Env>>[0];

const CONTAINER_ID_HEADER = "x-standin-container-id";

/** The subset of workerd's `Container` the SDK and @cloudflare/containers use. */
class StandInContainerRuntime {
  running = false;
  private exited: (() => void) | undefined;
  private monitorPromise: Promise<void> = Promise.resolve();

  constructor(
    private readonly baseUrl: string,
    private readonly containerId: string,
  ) {}

  start(): void {
    if (this.running) throw new Error("start() cannot be called on a container that is already running.");
    this.running = true;
    this.monitorPromise = new Promise((resolve) => {
      this.exited = resolve;
    });
  }

  monitor(): Promise<void> {
    return this.monitorPromise;
  }

  async destroy(): Promise<void> {
    await this.stopped();
  }

  signal(_signo: number): void {
    void this.stopped();
  }

  getTcpPort(_port: number): Fetcher {
    const forward = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      const headers = new Headers(request.headers);
      headers.set(CONTAINER_ID_HEADER, this.containerId);
      return await fetch(`${this.baseUrl}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        // Buffered (the SDK sends small JSON): a streamed request body would be pumped on its own
        // and fail unobserved when the response is cancelled early.
        body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
        signal: request.signal,
      });
    };
    // Only `fetch` is ever called on a container port; the cast fills Fetcher's other members.
    return { fetch: forward } as unknown as Fetcher;
  }

  async setInactivityTimeout(_ms: number | bigint): Promise<void> {}
  async interceptOutboundHttp(): Promise<void> {}
  async interceptAllOutboundHttp(): Promise<void> {}
  async interceptOutboundHttps(): Promise<void> {}

  private async stopped(): Promise<void> {
    const wasRunning = this.running;
    this.running = false;
    await fetch(`${this.baseUrl}/__standin/destroy`, {
      method: "POST",
      headers: { [CONTAINER_ID_HEADER]: this.containerId },
    });
    if (wasRunning) this.exited?.();
  }
}

/** Gives `ctx` the stand-in container runtime (workerd leaves it undefined without containers). */
function withStandInContainer(ctx: SandboxState, env: Cloudflare.Env): SandboxState {
  if (!ctx.container) {
    const runtime = new StandInContainerRuntime(env.STANDIN_CONTAINER_URL, ctx.id.toString());
    Object.defineProperty(ctx, "container", { value: runtime, configurable: true });
  }
  return ctx;
}

/** The SDK's Sandbox Durable Object over the stand-in container (tests only). */
export class StandInSandbox extends Sandbox<Cloudflare.Env> {
  constructor(ctx: SandboxState, env: Cloudflare.Env) {
    super(withStandInContainer(ctx, env), env);
  }
}
