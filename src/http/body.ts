/**
 * @module http/body
 * The one middleware in front of every JSON-body route (exec, clone, processes,
 * restore, /jobs, /run-job). It refuses, before a byte of the body is read:
 * - a declared `Content-Length` over the limit → 413 (so a client announcing a huge
 *   upload is answered at once, not after the Worker reads it);
 * - a body that is not `application/json` → 415, rather than a validation error
 *   about fields the client did send (e.g. `curl -d` sends form encoding).
 * A request with no body at all passes: optional bodies (restore) stay optional, and
 * required fields are then reported by the validator ("command is required").
 * Bodies without a length (chunked) are counted by hono's bodyLimit as they arrive.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError, UnsupportedMediaTypeError } from "../errors";

/** JSON request bodies other than file uploads: commands are ≤ 64 KiB, so 1 MiB is generous. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** application/json and `+json` types (application/merge-patch+json, …), parameters allowed. */
const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/** The request's media type, lowercase, without parameters ("" when it names none). */
export function mediaType(req: Request): string {
  return (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Whether the request carries a body (a non-zero length, or chunked). */
export function hasBody(req: Request): boolean {
  const length = req.headers.get("content-length");
  if (length !== null && !req.headers.has("transfer-encoding")) return Number(length) > 0;
  return req.body !== null;
}

/**
 * hono's bodyLimit, answering a body over `maxBytes` with 413 PAYLOAD_TOO_LARGE naming
 * `what` and `limitBytes` (the limit the caller knows, when the body is an encoding of it).
 */
export function limitBody(maxBytes: number, what: string, limitBytes = maxBytes): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new PayloadTooLargeError(what, limitBytes);
    },
  });
}

/** Refuse bodies that are not JSON or are over `maxBytes` (default MAX_JSON_BODY_BYTES). */
export function jsonBody(maxBytes = MAX_JSON_BODY_BYTES, what = "Request body"): MiddlewareHandler {
  const limit = limitBody(maxBytes, what);
  return async (c, next) => {
    const req = c.req.raw;
    if (!hasBody(req)) return await next();
    // bodyLimit checks a declared length first too; this keeps the 413 ahead of the 415.
    const declared = Number(req.headers.get("content-length") ?? 0);
    if (!req.headers.has("transfer-encoding") && declared > maxBytes) throw new PayloadTooLargeError(what, maxBytes);
    const type = mediaType(req);
    if (!JSON_MEDIA_TYPE.test(type)) {
      throw new UnsupportedMediaTypeError(
        `Send the body as JSON with the header Content-Type: application/json (got ${type ? `"${type}"` : "no Content-Type"})`,
      );
    }
    return await limit(c, next);
  };
}
