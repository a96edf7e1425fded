/**
 * @module preview
 * Preview URLs (POST /sandboxes/:id/ports): `<port>-<projectId>-<token>.<PREVIEW_HOSTNAME>`
 * reaches a server listening on that port in the project's sandbox. The SDK's
 * `exposePort` makes the token and `proxyToSandbox` (backend/cloudflare-preview.ts) serves such a host: the Sandbox
 * Durable Object checks the token and that the port is exposed in the running container,
 * then forwards to the container's port (locally a jail's, through sandboxd).
 *
 * - The hostname: PREVIEW_HOSTNAME (production: a custom domain with a wildcard DNS
 *   record and route), else the API request's own host, with 127.0.0.1 and the like
 *   read as `localhost` (`*.localhost` resolves to the loopback in browsers and curl).
 * - A DNS label is at most 63 characters, so port, project id and the SDK's 16-character
 *   token must fit in one; `*.workers.dev` has no wildcard subdomains.
 * - A request for a preview host never reaches the API, and the API's bearer token, if a
 *   client sent it along, does not reach the sandbox.
 */
import { forwardToPreview } from "./backend/cloudflare-preview";
import type { Config } from "./config";
import { ValidationError } from "./errors";

/** The length of the tokens the SDK makes (12 random bytes in base64). */
const TOKEN_LENGTH = 16;
/** The longest DNS label. */
const MAX_LABEL = 63;
/** A preview host's first label: `<port>-<sandbox id>-<token>` (the SDK's parse, extractSandboxRoute). */
const PREVIEW_LABEL = /^[0-9]{4,5}-[a-z0-9-]+-[a-z0-9_]+$/;

/** Hosts that name this machine's loopback, for which `localhost` is the name with subdomains. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "0.0.0.0", "[::1]", "localhost"]);

/**
 * The hostname preview URLs are made under: PREVIEW_HOSTNAME, else the request's host
 * (`localhost:8787` for a call to http://127.0.0.1:8787 under npm run dev).
 */
export function previewHostname(config: Pick<Config, "PREVIEW_HOSTNAME">, requestUrl: string): string {
  if (config.PREVIEW_HOSTNAME) return config.PREVIEW_HOSTNAME;
  const url = new URL(requestUrl);
  const host = url.hostname.toLowerCase();
  if (LOOPBACK_HOSTS.has(host)) return url.port ? `localhost:${url.port}` : "localhost";
  return url.host.toLowerCase();
}

/** Throws PREVIEW_URL_INVALID when no preview URL can be made for this port, project and hostname. */
export function checkPreviewUrl(projectId: string, port: number, hostname: string): void {
  const label = `${port}-${projectId}-`.length + TOKEN_LENGTH;
  if (label > MAX_LABEL) {
    throw new ValidationError(
      `A preview URL's first label (<port>-<projectId>-<token>) would be ${label} characters, over DNS's ${MAX_LABEL}: ` +
        `use a project id of at most ${MAX_LABEL - TOKEN_LENGTH - String(port).length - 2} characters`,
      undefined,
      "PREVIEW_URL_INVALID",
    );
  }
  if (hostname.split(":")[0]?.endsWith(".workers.dev")) {
    throw new ValidationError(
      "Preview URLs need a custom domain with wildcard subdomains (workers.dev has none): set PREVIEW_HOSTNAME",
      undefined,
      "PREVIEW_URL_INVALID",
    );
  }
}

/** Whether `url`'s host is a preview host: a preview label directly under the preview hostname. */
export function isPreviewHost(config: Pick<Config, "PREVIEW_HOSTNAME">, url: URL): boolean {
  const host = url.hostname.toLowerCase();
  const dot = host.indexOf(".");
  if (dot <= 0 || !PREVIEW_LABEL.test(host.slice(0, dot))) return false;
  // Unset, any parent is taken (the API's own host, whatever it is); set, only that one.
  const parent = config.PREVIEW_HOSTNAME?.split(":")[0];
  return parent === undefined || host.slice(dot + 1) === parent;
}

/**
 * Serves a request for a preview host through the SDK (token and port checked by the
 * Sandbox); null for any other request, which the API then serves.
 */
export async function servePreview(
  request: Request,
  env: Env,
  config: Pick<Config, "PREVIEW_HOSTNAME" | "API_TOKEN">,
): Promise<Response | null> {
  if (!isPreviewHost(config, new URL(request.url))) return null;
  let forward = request;
  if (config.API_TOKEN && request.headers.get("authorization") === `Bearer ${config.API_TOKEN}`) {
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    forward = new Request(request, { headers });
  }
  return await forwardToPreview(forward, env);
}
