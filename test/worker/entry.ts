/**
 * @module test/worker/entry
 * The Worker entry for the `workers` test project: the real app and its real
 * Sandbox Durable Object class, whose container is a local jail running
 * Cloudflare's container runtime (src/backend/jail-container.ts; sandboxd at
 * SANDBOXD_URL hosts it, as under `npm run dev`).
 */
export * from "../../src/index";
export { default } from "../../src/index";
