/**
 * @module auth
 * Bearer-token middleware. Fails closed: with no API_TOKEN configured every
 * protected request is refused, so a forgotten secret never opens the API.
 * Tokens are compared in constant time (hashes compared, so length leaks nothing).
 *
 * A browser cannot set headers on a WebSocket, only its subprotocols: a WebSocket
 * upgrade without an Authorization header may carry the token as the subprotocol
 * `bearer.<base64url(token)>` (base64url because a subprotocol is an HTTP token, and
 * API tokens may hold `/`, `+` or `=`). The server never selects that one (the 101
 * names the route's own protocol), so the token is not echoed back. A header, like
 * Authorization, rather than the query string, which ends up in logs.
 */
import type { Context, MiddlewareHandler } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import { UnauthorizedError } from "./errors";

/** The subprotocol prefix that carries the token on a WebSocket upgrade. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";

/** Whether the request asks for a WebSocket. */
export function isWebSocketUpgrade(c: Context): boolean {
  return (c.req.header("upgrade") ?? "").toLowerCase() === "websocket";
}

/** The subprotocols a WebSocket upgrade offers, in order. */
export function offeredProtocols(c: Context): string[] {
  return (c.req.header("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The token of a `bearer.<base64url>` subprotocol; null when none is offered, "" when one is malformed. */
function tokenFromProtocols(c: Context): string | null {
  const offered = offeredProtocols(c).find((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (offered === undefined) return null;
  const encoded = offered.slice(BEARER_PROTOCOL_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return "";
  try {
    const binary = atob(encoded.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      Uint8Array.from(binary, (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return "";
  }
}

/** Require `Authorization: Bearer <token>` (or, on a WebSocket upgrade, the bearer subprotocol) equal to `token`. */
export function requireBearer(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token) throw new UnauthorizedError("API_TOKEN is not configured on the server; all requests are refused");
    const header = c.req.header("authorization");
    // Told apart so a caller knows whether to add the header or fix the token it sends.
    if (header === undefined || header.trim() === "") {
      const fromProtocol = isWebSocketUpgrade(c) ? tokenFromProtocols(c) : null;
      if (fromProtocol === null) {
        throw new UnauthorizedError(
          isWebSocketUpgrade(c)
            ? `Missing Authorization: Bearer <token> header or ${BEARER_PROTOCOL_PREFIX}<base64url token> WebSocket subprotocol`
            : "Missing Authorization: Bearer <token> header",
        );
      }
      if (fromProtocol === "" || !(await timingSafeEqual(fromProtocol, token))) {
        throw new UnauthorizedError(
          `The token in the ${BEARER_PROTOCOL_PREFIX}<base64url token> subprotocol is not valid`,
        );
      }
      await next();
      return;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new UnauthorizedError("The Authorization header must be: Bearer <token>");
    if (!(await timingSafeEqual(match[1], token))) throw new UnauthorizedError("The bearer token is not valid");
    await next();
  };
}
