/**
 * @module shared/egress
 * How a sandbox reaches the Worker: by name, on hosts that exist only for it. On
 * Cloudflare the Sandbox's outbound interception answers them in the Worker
 * (src/sandbox-class.ts). A local jail has a network of its own with nothing on it
 * (container/sandboxd/jail-egress.ts): its jail host carries requests for these hosts
 * to the Worker's JAIL_EGRESS_PREFIX route, which answers them with the same handlers.
 * Shared by the Worker and sandboxd; no imports, so Node loads it directly.
 */

/** The runner API's host (the model APIs' is MODELS_INTERNAL_HOST, shared/model-egress.ts). */
export const RUNNER_INTERNAL_HOST = "runner.sandbox-worker.internal";
export const RUNNER_INTERNAL_ORIGIN = `http://${RUNNER_INTERNAL_HOST}`;

/** The Worker route a jail host sends a jail's request to: `/jail-egress/<host><path>`. */
export const JAIL_EGRESS_PREFIX = "/jail-egress";
/** The header that carries SANDBOXD_TOKEN on those requests (Authorization is the runner's own). */
export const SANDBOXD_TOKEN_HEADER = "x-sandboxd-token";
