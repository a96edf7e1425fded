/**
 * @module auth
 * Bearer-token middleware. Fails closed: with no API_TOKEN configured every
 * protected request is refused, so a forgotten secret never opens the API.
 * Tokens are compared in constant time (hashes compared, so length leaks nothing).
 */
import type { MiddlewareHandler } from "hono";
import { timingSafeEqual } from "hono/utils/buffer";
import { UnauthorizedError } from "./errors";

/** Require `Authorization: Bearer <token>` equal to `token`. */
export function requireBearer(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!token) throw new UnauthorizedError("API_TOKEN is not configured on the server; all requests are refused");
    const header = c.req.header("authorization");
    // Told apart so a caller knows whether to add the header or fix the token it sends.
    if (header === undefined || header.trim() === "") {
      throw new UnauthorizedError("Missing Authorization: Bearer <token> header");
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) throw new UnauthorizedError("The Authorization header must be: Bearer <token>");
    if (!(await timingSafeEqual(match[1], token))) throw new UnauthorizedError("The bearer token is not valid");
    await next();
  };
}
