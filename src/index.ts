/**
 * @module index
 * The Worker entry. workerd treats every export here as an entrypoint, so it
 * exports only: the fetch and scheduled (cron: src/jobs/cron.ts) handlers, the
 * Sandbox Durable Object class the containers binding needs (sandbox-class.ts:
 * the SDK's Sandbox plus the runner API on an intercepted host), and the SDK's
 * ContainerProxy, from which that outbound interception builds its fetchers.
 */
import { ContainerProxy } from "@cloudflare/sandbox";
import { runScheduledJobs } from "./jobs/cron";
import { Sandbox } from "./sandbox-class";
import { workerApp } from "./worker-app";

export { ContainerProxy, Sandbox };

export default {
  fetch(request, env, ctx) {
    return workerApp(env).app.fetch(request, env, ctx);
  },
  /** The cron trigger (wrangler.jsonc triggers.crons): start queued jobs up to MAX_CONCURRENT_JOBS. */
  async scheduled(_controller, env) {
    const round = await runScheduledJobs(workerApp(env).deps);
    if (round.stopped) console.warn("job round stopped early:", round.stopped);
  },
} satisfies ExportedHandler<Env>;
