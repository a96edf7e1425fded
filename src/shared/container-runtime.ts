/**
 * @module shared/container-runtime
 * What the Worker, the tests and the benches share of the protocol of Cloudflare's
 * container runtime (the server in the `cloudflare/sandbox` image, and in local jails).
 * No imports: Node loads it as it is.
 */

/**
 * The runtime's "no session" id (its DISABLE_SESSION_TOKEN): a call with it runs as its
 * own process, outside any session's shell. The SDK sends it for a sandbox got with
 * `enableDefaultSession: false`, but not for startProcess (backend/cloudflare-processes.ts).
 */
export const SESSIONLESS = "__DISABLE_SESSION__";
