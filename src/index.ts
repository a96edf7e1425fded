/**
 * @module index
 * The Worker entry. workerd treats every export here as an entrypoint, so it
 * exports only: the fetch handler (the app built from env by worker-app.ts), the
 * Sandbox Durable Object class the containers binding needs (sandbox-class.ts:
 * the SDK's Sandbox plus the runner API on an intercepted host), and the SDK's
 * ContainerProxy, from which that outbound interception builds its fetchers.
 */
import { ContainerProxy } from "@cloudflare/sandbox";
import { Sandbox } from "./sandbox-class";
import { workerApp } from "./worker-app";

export { ContainerProxy, Sandbox };

export default {
  fetch(request, env, ctx) {
    return workerApp(env).app.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
