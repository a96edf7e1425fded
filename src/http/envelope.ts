/**
 * @module http/envelope
 * The API's envelope, built here and nowhere else: `{ success: true, data }` for an
 * answer, `{ success: false, error, code, details? }` for an error (README, "API
 * reference"). The runner API is the exception: it answers bare JSON (its client is
 * the runner, container/runner/api-client.ts) and only its errors use the envelope.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppError } from "../errors";

/** A successful answer: `{ success: true, data }` with `status` (200 unless said). */
export function ok<T>(c: Context, data: T, status: ContentfulStatusCode = 200): Response {
  return c.json({ success: true, data }, status);
}

/** The envelope body for an error. */
export function errorBody(err: AppError): Record<string, unknown> {
  return { success: false, error: err.message, code: err.code, ...(err.details ? { details: err.details } : {}) };
}

/** An error answered outside the Hono app (Durable Object and egress handlers). */
export function errorResponse(err: AppError): Response {
  return Response.json(errorBody(err), { status: err.status });
}
