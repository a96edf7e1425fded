/**
 * @module backend/jail-egress
 * The local counterpart of the Sandbox's outbound interception. A local jail has a
 * network namespace of its own: its requests for the runner and model hosts
 * (shared/egress.ts) reach sandboxd, which sends them here as
 * `<JAIL_EGRESS_PREFIX>/<host><path>` with SANDBOXD_TOKEN in SANDBOXD_TOKEN_HEADER.
 * They are answered by the very handlers Cloudflare's interception calls, so a jail
 * holds no more than a container does: its runner token, never a model key.
 */
import { timingSafeEqual } from "hono/utils/buffer";
import { NotFoundError, UnauthorizedError } from "../errors";
import { errorResponse } from "../http/envelope";
import { JAIL_EGRESS_PREFIX, SANDBOXD_TOKEN_HEADER } from "../shared/egress";

/** What answers one intercepted host (sandbox-class.ts's outbound handlers). */
export type EgressHandler = (request: Request, env: Env) => Promise<Response>;

/** Whether `request` is for the jail egress route (checked before the app sees it). */
export function isJailEgress(request: Request): boolean {
  // Asked of every request the Worker gets: the path's start, without parsing the URL.
  const url = request.url;
  const pathStart = url.indexOf("/", url.indexOf("://") + 3);
  return pathStart >= 0 && url.startsWith(`${JAIL_EGRESS_PREFIX}/`, pathStart);
}

function refuse(err: NotFoundError | UnauthorizedError): Response {
  return errorResponse(err);
}

/**
 * Answers a jail's request that sandboxd carried here. Only with SANDBOXD_URL and a
 * matching SANDBOXD_TOKEN: on Cloudflare the route does not exist.
 */
export async function serveJailEgress(
  request: Request,
  env: Env,
  handlers: Record<string, EgressHandler>,
): Promise<Response> {
  const token = env.SANDBOXD_TOKEN;
  if (!env.SANDBOXD_URL || !token) return refuse(new NotFoundError("Not found", "ROUTE_NOT_FOUND"));
  const given = request.headers.get(SANDBOXD_TOKEN_HEADER) ?? "";
  if (!(await timingSafeEqual(given, token))) {
    return refuse(new UnauthorizedError(`Jail egress needs the jail host's token in ${SANDBOXD_TOKEN_HEADER}`));
  }
  const url = new URL(request.url);
  const rest = url.pathname.slice(JAIL_EGRESS_PREFIX.length + 1);
  const slash = rest.indexOf("/");
  const host = slash === -1 ? rest : rest.slice(0, slash);
  const handler = Object.hasOwn(handlers, host) ? handlers[host] : undefined;
  if (!handler)
    return refuse(new NotFoundError(`A jail reaches only ${Object.keys(handlers).join(" and ")}`, "ROUTE_NOT_FOUND"));
  const headers = new Headers(request.headers);
  headers.delete(SANDBOXD_TOKEN_HEADER);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  const inner = new Request(`http://${host}${slash === -1 ? "/" : rest.slice(slash)}${url.search}`, {
    method: request.method,
    headers,
    body: hasBody ? request.body : null,
  });
  return await handler(inner, env);
}
