/**
 * @module scripts/lib/sandboxd-binding
 * The Worker's optional SANDBOXD binding (src/env.d.ts) for the Miniflare setups this
 * project starts: an external service straight to sandboxd. A Durable Object's calls to
 * its jail then skip Miniflare's outbound interceptor (a JavaScript worker every global
 * `fetch` passes through, ~2.5 ms a call), as container calls on Cloudflare are not
 * outbound fetches either. wrangler's CLI cannot declare one; there the Worker falls
 * back to `fetch` at SANDBOXD_URL.
 */

/** Miniflare's `serviceBindings` entry reaching sandboxd at `sandboxdUrl` (http://host:port). */
export function sandboxdServiceBinding(sandboxdUrl: string): { external: { address: string; http: object } } {
  const url = new URL(sandboxdUrl);
  if (url.protocol !== "http:" || !url.port)
    throw new Error(`sandboxd's URL must be http://host:port, not ${sandboxdUrl}`);
  return { external: { address: `${url.hostname}:${url.port}`, http: {} } };
}
