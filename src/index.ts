/**
 * @module index
 * The Worker entry. workerd treats every export here as an entrypoint, so it
 * exports only: the fetch and scheduled (cron: src/jobs/cron.ts) handlers, the
 * Sandbox Durable Object class the containers binding needs (sandbox-class.ts:
 * the SDK's Sandbox plus the runner API on an intercepted host), and the SDK's
 * ContainerProxy, from which that outbound interception builds its fetchers. A local
 * jail's host carries the same requests to the jail egress route (backend/jail-egress.ts).
 * Requests for a preview URL's host go to the sandbox's server (preview.ts), before the API.
 * And `SandboxApi`, the named entrypoint other Workers bind to for typed RPC (rpc.ts).
 */
import { ContainerProxy } from "@cloudflare/sandbox";
import { isJailEgress, serveJailEgress } from "./backend/jail-egress";
import { runScheduledJobs } from "./jobs/cron";
import { servePreview } from "./preview";
import { SandboxApi } from "./rpc";
import { outboundHandlers, Sandbox } from "./sandbox-class";
import { stopIdleSandboxes } from "./sandboxes/idle";
import { workerApp } from "./worker-app";

export { ContainerProxy, Sandbox, SandboxApi };

export default {
  async fetch(request, env, ctx) {
    // A local jail's requests for the intercepted hosts, carried here by its jail host.
    if (isJailEgress(request)) {
      return serveJailEgress(request, env, outboundHandlers);
    }
    const { app, deps } = workerApp(env);
    // A preview URL's host (src/preview.ts): a server in a sandbox, never the API.
    const preview = await servePreview(request, env, deps.config);
    if (preview) return preview;
    return await app.fetch(request, env, ctx);
  },
  /**
   * The cron trigger (wrangler.jsonc triggers.crons): start queued jobs up to
   * MAX_CONCURRENT_JOBS, then snapshot and stop the sandboxes whose idle TTL ran out by the
   * round's scheduled time.
   */
  async scheduled(controller, env) {
    const { deps } = workerApp(env);
    const round = await runScheduledJobs(deps);
    if (round.stopped) console.warn("job round stopped early:", round.stopped);
    const idle = await stopIdleSandboxes(deps, controller.scheduledTime);
    for (const { projectId, snapshotId } of idle.stopped) console.log(`idle TTL: stopped ${projectId} (${snapshotId})`);
    for (const { projectId, error } of idle.failed) console.warn(`idle TTL: stopping ${projectId} failed:`, error);
  },
} satisfies ExportedHandler<Env>;
