/**
 * @module index
 * The Worker entry: the only place that reads `env`. It picks the sandbox backend
 * (SANDBOX_BACKEND: "cloudflare" containers or "local" sandboxd), builds the app
 * once per isolate, and exports the Sandbox Durable Object class the containers
 * binding needs.
 */
import { Sandbox } from "@cloudflare/sandbox";
import pkg from "../package.json";
import { createApp } from "./app";
import { createCloudflareBackend } from "./backend/cloudflare";
import { createLocalBackend } from "./backend/local";
import type { SandboxBackend } from "./backend/types";
import { type Config, loadConfig } from "./config";

export { Sandbox };

function createBackend(env: Env, config: Config): SandboxBackend {
  if (config.SANDBOX_BACKEND === "local") {
    if (!config.SANDBOXD_URL) throw new Error("SANDBOX_BACKEND=local needs SANDBOXD_URL (run `npm run dev`)");
    return createLocalBackend({ url: config.SANDBOXD_URL, token: config.SANDBOXD_TOKEN ?? "" });
  }
  return createCloudflareBackend(env.Sandbox, { workspaceRoot: config.WORKSPACE_ROOT });
}

// env is the same object for every request an isolate serves; rebuild only if it changes.
let cached: { env: Env; app: ReturnType<typeof createApp> } | undefined;

function appFor(env: Env) {
  if (cached?.env !== env) {
    const config = loadConfig(env as unknown as Record<string, unknown>);
    cached = { env, app: createApp({ backend: createBackend(env, config), config, version: pkg.version }) };
  }
  return cached.app;
}

export default {
  fetch(request, env, ctx) {
    return appFor(env).fetch(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
