/**
 * @module test/worker/cloudflare.contract.test
 * The shared SandboxBackend contract against the cloudflare adapter: the real SDK
 * in the real Sandbox Durable Object, over the stand-in container
 * (test/support/standin-container.ts) that runs real commands in bubblewrap.
 */
import { env } from "cloudflare:workers";
import { createCloudflareBackend } from "../../src/backend/cloudflare";
import { defineBackendContract } from "./contract/backend-contract";

defineBackendContract("cloudflare (stand-in container)", () =>
  createCloudflareBackend(env.Sandbox, { workspaceRoot: "/workspace" }),
);
