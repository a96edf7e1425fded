/**
 * @module backend/jail-container
 * Where a sandbox's container runs when there is no Docker: in a local jail that
 * sandboxd hosts (container/sandboxd/jails.ts), running Cloudflare's own container
 * runtime under Bun inside bubblewrap. This is the one object that differs from
 * production. workerd gives a container-enabled Durable Object `ctx.container`;
 * `wrangler dev` without containers leaves it undefined, and `withLocalJail` puts a
 * `JailContainer` there instead, so the SDK's Sandbox, @cloudflare/containers below
 * it and the runtime itself all run unchanged.
 *
 * A jail is a container: it is started, monitored, signalled and destroyed, and its
 * port 3000 is reached through sandboxd (`/jails/:id/container/*`, a proxy to the
 * runtime's unix socket). Any other port (a preview URL's server, SDK `exposePort`) is
 * reached at `/jails/:id/ports/:port/*`, on the jail's own network. It is named by the
 * Durable Object's id.
 */
import { SANDBOXD_TOKEN_HEADER } from "../shared/egress";
import { ERROR_STATUS } from "../shared/error-codes";

/** The part of workerd's `Container` that the SDK and @cloudflare/containers use. */
type ContainerSubset = Pick<
  Container,
  | "running"
  | "start"
  | "monitor"
  | "destroy"
  | "signal"
  | "getTcpPort"
  | "setInactivityTimeout"
  | "interceptOutboundHttp"
  | "interceptAllOutboundHttp"
  | "interceptOutboundHttps"
>;

/** How to reach the jail host, and how it reaches the Worker. */
export interface JailHost {
  url: string;
  token: string;
  /**
   * The Worker's own address (RUNNER_API_URL), where the jail host carries the jail's
   * requests for the runner and model hosts (backend/jail-egress.ts); unset, they fail.
   */
  workerUrl?: string | undefined;
  /**
   * A service binding straight to the jail host (SANDBOXD: an external service where
   * Miniflare is set up by this project). Without it, requests go out by the global
   * `fetch`, which Miniflare passes through its outbound interceptor, a JavaScript
   * worker that adds ~2.5 ms to every container call; on Cloudflare the container's
   * port is not an outbound fetch at all.
   */
  fetcher?: Pick<Fetcher, "fetch"> | undefined;
}

/** The runtime's port in a container; every other port is a server of the sandbox's own. */
const RUNTIME_PORT = 3000;

/** The message @cloudflare/containers recognises as "not listening yet, retry" (its NOT_LISTENING_ERROR). */
const NOT_LISTENING = "the container is not listening";
/** And as "exited with code N" (its UNEXPECTED_EXIT_ERROR). */
const EXITED_WITH = "container exited with unexpected exit code:";
/** The jail host's answer for a jail whose runtime is not running (JAIL_NOT_RUNNING). */
async function isJailNotRunning(res: Response): Promise<boolean> {
  if (res.status !== ERROR_STATUS.JAIL_NOT_RUNNING) return false;
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { code?: unknown } | null;
  return body?.code === "JAIL_NOT_RUNNING";
}

export class JailContainer implements ContainerSubset {
  #running = false;
  #destroying = false;
  #started: Promise<void> = Promise.resolve();
  #monitor: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: JailHost,
    private readonly id: string,
  ) {}

  get running(): boolean {
    return this.#running;
  }

  start(_options?: ContainerStartupOptions): void {
    if (this.#running) throw new Error("start() cannot be called on a container that is already running.");
    this.#running = true;
    this.#destroying = false;
    let exited: (result: Error | null) => void = () => {};
    this.#monitor = new Promise<void>((resolve, reject) => {
      exited = (error) => {
        this.#running = false;
        if (error) reject(error);
        else resolve();
      };
    });
    // Unobserved until someone calls monitor(); never an unhandled rejection.
    this.#monitor.catch(() => {});
    this.#started = this.#call("POST", "", { egressUrl: this.host.workerUrl || undefined }).then(
      async (res) => {
        if (!res.ok) throw new Error(`the jail host could not start the container: ${await res.text()}`);
        void this.#watch(exited);
      },
      (err: unknown) => {
        throw new Error(`the jail host did not answer: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.#started.catch((err: unknown) => exited(err instanceof Error ? err : new Error(String(err))));
  }

  monitor(): Promise<void> {
    return this.#monitor;
  }

  async destroy(): Promise<void> {
    this.#destroying = true;
    await this.#started.catch(() => {});
    await this.#call("DELETE", "");
    this.#running = false;
  }

  signal(signo: number): void {
    void this.#call("POST", "/signal", { signal: signo }).catch(() => {});
  }

  getTcpPort(port: number): Fetcher {
    if (port !== RUNTIME_PORT) return this.#serverPort(port);
    return this.#portFetcher(async (request, url) => {
      const headers = new Headers(request.headers);
      headers.set("authorization", `Bearer ${this.host.token}`);
      // A WebSocket upgrade (the terminal's GET /ws/pty) passes as it is: its `Upgrade` header
      // makes this fetch a WebSocket handshake, sandboxd carries it to the runtime, and the
      // 101 comes back with `webSocket`, which @cloudflare/containers relays.
      const res = await this.#fetch(`${this.#base()}/container${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        // Buffered: the SDK sends small JSON bodies, and a streamed request body would be
        // pumped on its own and fail unobserved when the response is cancelled early.
        body: request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer(),
        signal: request.signal,
      });
      // The runtime is gone (the jail host says so): as workerd says of a container that is not up.
      if (await isJailNotRunning(res)) throw new Error(NOT_LISTENING);
      return res;
    });
  }

  /**
   * A server's port in the jail (the SDK's preview URLs): the request streams on as it is, its
   * own Authorization included; sandboxd's token goes in its own header (sandboxd drops it),
   * redirects and websocket upgrades go back to the client.
   */
  #serverPort(port: number): Fetcher {
    return this.#portFetcher(async (request, url) => {
      const headers = new Headers(request.headers);
      headers.set(SANDBOXD_TOKEN_HEADER, this.host.token);
      return await this.#fetch(`${this.#base()}/ports/${port}${url.pathname}${url.search}`, {
        method: request.method,
        headers,
        body: request.body,
        redirect: "manual",
        signal: request.signal,
      });
    });
  }

  /** A port of the running jail: `send` once the start settled, as workerd refuses a container not up. */
  #portFetcher(send: (request: Request, url: URL) => Promise<Response>): Fetcher {
    const forward = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const request = new Request(input, init);
      await this.#started.catch(() => {});
      if (!this.#running) throw new Error(NOT_LISTENING);
      return await send(request, new URL(request.url));
    };
    // Only `fetch` is ever called on a container port; the cast fills Fetcher's other members.
    return { fetch: forward } as unknown as Fetcher;
  }

  // A jail does not sleep by itself (@cloudflare/containers' sleepAfter still stops it), and
  // its host, not workerd, carries its requests for the intercepted hosts (jail-egress.ts).
  async setInactivityTimeout(_ms: number | bigint): Promise<void> {}
  async interceptOutboundHttp(_addr: string, _binding: Fetcher): Promise<void> {}
  async interceptAllOutboundHttp(_binding: Fetcher): Promise<void> {}
  async interceptOutboundHttps(_addr: string, _binding: Fetcher): Promise<void> {}

  /** Long-polls the jail host until the runtime exits, then settles monitor() as workerd would. */
  async #watch(exited: (error: Error | null) => void): Promise<void> {
    try {
      const res = await this.#call("GET", "/wait");
      const body = (await res.json()) as { exitCode?: number | null; signal?: string | null };
      const code = typeof body.exitCode === "number" ? body.exitCode : 128;
      // Stopped by destroy(): a clean end, as workerd reports it.
      exited(code === 0 || this.#destroying ? null : new Error(`${EXITED_WITH} ${code}`));
    } catch (err) {
      exited(new Error(`lost the jail host while the container ran: ${err instanceof Error ? err.message : err}`));
    }
  }

  #base(): string {
    return `${this.host.url}/jails/${encodeURIComponent(this.id)}`;
  }

  #fetch(url: string, init: RequestInit): Promise<Response> {
    return this.host.fetcher ? this.host.fetcher.fetch(url, init) : fetch(url, init);
  }

  async #call(method: string, path: string, body?: unknown): Promise<Response> {
    return await this.#fetch(`${this.#base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.host.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}

/** The state object a Durable Object constructor gets. */
interface DurableObjectStateLike {
  id: DurableObjectId;
  container?: Container;
}

/**
 * Gives a Durable Object without a container (wrangler dev without Docker) a local
 * jail, when a jail host is configured; otherwise leaves `ctx` as it is (production,
 * or wrangler dev with Docker, where workerd provides the container).
 */
export function withLocalJail<T extends DurableObjectStateLike>(ctx: T, host: Partial<JailHost>): T {
  if (ctx.container || !host.url) return ctx;
  const url = host.url.replace(/\/+$/, "");
  const jail = new JailContainer(
    { url, token: host.token ?? "", workerUrl: host.workerUrl, fetcher: host.fetcher },
    ctx.id.toString(),
  );
  Object.defineProperty(ctx, "container", { value: jail, configurable: true });
  return ctx;
}
