/**
 * @module test/worker/cloudflare.contract.test
 * The shared SandboxBackend contract against the cloudflare adapter: the real SDK
 * in the real Sandbox Durable Object, over Cloudflare's real container runtime in a
 * local jail (sandboxd hosts it in bubblewrap; src/backend/jail-container.ts).
 */
import { env } from "cloudflare:workers";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import { defineBackendContract } from "./contract/backend-contract";

defineBackendContract("cloudflare (container runtime in a local jail)", () =>
  createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" }),
);
