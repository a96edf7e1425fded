/**
 * @module env
 * Bindings that wrangler.jsonc cannot declare, so `wrangler types` does not generate them.
 */
interface OptionalBindings {
  /**
   * A service binding straight to sandboxd, the local jail host: an external service that
   * this project's own Miniflare setups add (the Workers tests, bench:api's workerd). Unset
   * (production, `npm run dev`, wrangler's CLI), jails are reached at SANDBOXD_URL by `fetch`.
   */
  SANDBOXD?: Fetcher;
}
interface Env extends OptionalBindings {}
declare namespace Cloudflare {
  interface Env extends OptionalBindings {}
}
