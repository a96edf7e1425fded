/**
 * @module bench/direct
 * The "direct" path of bench/api.ts, the reference the Worker is measured against:
 * Cloudflare's container runtime in a jail, called straight through sandboxd's jail
 * proxy (`/jails/:id/container/api/...`, container/sandboxd/server.ts) with no Worker
 * and no Durable Object in between, sessionless as the cloudflare backend calls it.
 * Also starting, stopping and reading a jail for the start and idle-RSS measures.
 */
import { SESSIONLESS } from "../src/shared/container-runtime.ts";
import { expectOk, type Op } from "./measure.ts";
import type { PathOps } from "./worker.ts";

/** Authenticated JSON calls to the jail host at `url` (its `/jails/...` routes). */
export function jailHost(url: string, token: string) {
  const call = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${url}/jails/${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return JSON.parse(new TextDecoder().decode(await expectOk(res, `${method} /jails/${path}`)));
  };
  /** `echo hi` run by the runtime of jail `id`; throws unless it printed `hi`. */
  const echo =
    (id: string): Op =>
    async () => {
      const r = await call("POST", `${id}/container/api/execute`, { command: "echo hi", sessionId: SESSIONLESS });
      if (r.exitCode !== 0 || r.stdout !== "hi\n") throw new Error(`direct exec: ${JSON.stringify(r).slice(0, 200)}`);
    };
  return {
    call,
    echo,
    /** Starts jail `id`; resolves with the host pid of its runtime. */
    start: async (id: string): Promise<number> => Number((await call("POST", id)).pid),
    destroy: async (id: string): Promise<void> => {
      await call("DELETE", id);
    },
    /** Writes `content` (ASCII) to `path` in jail `id`. */
    write: async (id: string, path: string, content: string): Promise<void> => {
      await call("POST", `${id}/container/api/write`, { path, content, sessionId: SESSIONLESS });
    },
  };
}

/**
 * Against jail `id` (running, `filePath` holding `content`): sandboxd's unauthenticated
 * /health (the floor of this path: no runtime work), `echo hi`, and a read of `filePath`.
 */
export function directOps(url: string, token: string, id: string, filePath: string, content: string): PathOps {
  const host = jailHost(url, token);
  return {
    health: async () => {
      await expectOk(await fetch(`${url}/health`), "health");
    },
    exec: host.echo(id),
    read: async () => {
      const r = await host.call("POST", `${id}/container/api/read`, { path: filePath, sessionId: SESSIONLESS });
      if (r.content !== content) throw new Error(`direct read: ${String(r.content).length} chars`);
    },
  };
}
