/**
 * @module openapi/operation
 * What one row of the route table (openapi/routes-*.ts) says about a route: its method
 * and Hono path, the zod schemas its validators use for params, query and body, what it
 * answers (zod schemas of the `data`, or other media types), and the error codes it can
 * answer. openapi/document.ts turns the table into the OpenAPI document; a test checks
 * the table against `app.routes`, so a route cannot be left out.
 */
import type { z } from "zod";
import type { ErrorCode } from "../shared/error-codes";

/** Who may call: the API_TOKEN, a runner token, or anyone. */
export type Auth = "bearer" | "runner" | "none";

/** A body or answer in a media type other than JSON. */
export type MediaSpec =
  | { kind: "binary"; description?: string }
  | { kind: "text"; description?: string }
  /** Server-sent events; `events` describes each event (its `type` is the SSE event name). */
  | { kind: "sse"; events: z.core.$ZodType; description?: string };

export interface ResponseSpec {
  description: string;
  /** The JSON answer: the `data` of the envelope, or the whole body where the route answers bare JSON. */
  json?: z.core.$ZodType;
  /** Other media types of the same status. */
  media?: Record<string, MediaSpec>;
  /** Response headers worth knowing, by name: their description. */
  headers?: Record<string, string>;
}

export interface HeaderSpec {
  name: string;
  description: string;
  schema: z.core.$ZodType;
  required?: boolean;
}

export interface Operation {
  operationId: string;
  method: "get" | "post" | "put" | "delete" | "head";
  /** The path as Hono lists it in `app.routes` (`/sandboxes/:projectId/files/*`). */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  /** Success bodies in `{success: true, data}` (the default), or bare JSON (the runner API). */
  envelope?: boolean;
  /** The schema of the route's `param` validator. */
  params?: z.ZodObject;
  /** What the path's trailing `*` is, documented as the `{path}` parameter. */
  wildcard?: string;
  /** The schema of the route's `query` validator. */
  query?: z.ZodObject;
  headers?: HeaderSpec[];
  body?: {
    required: boolean;
    /** The schema the route validates a JSON body with. */
    json?: z.core.$ZodType;
    media?: Record<string, MediaSpec>;
  };
  responses: Record<number, ResponseSpec>;
  /** Every code the route can answer besides INTERNAL_ERROR and, behind auth, UNAUTHORIZED. */
  errors: readonly ErrorCode[];
  /** Runs the runner in the sandbox: its failures are relayed with 502 under their own codes. */
  runner?: boolean;
}

// ---- Codes that come together -----------------------------------------------------

/** A parameter the validators refuse. */
export const INPUT = ["VALIDATION_ERROR"] as const satisfies readonly ErrorCode[];
/** A JSON body: routes/http/body.ts and the validator. */
export const JSON_BODY = [
  "VALIDATION_ERROR",
  "INVALID_JSON",
  "UNSUPPORTED_MEDIA_TYPE",
  "PAYLOAD_TOO_LARGE",
] as const satisfies readonly ErrorCode[];
/** A path inside the sandbox (paths.ts). */
export const PATHS = ["INVALID_PATH", "PATH_FORBIDDEN"] as const satisfies readonly ErrorCode[];
/** The ensure step every route into a sandbox takes (sandboxes/ready.ts) and the backend's failures. */
export const SANDBOX = [
  "BACKEND_UNAVAILABLE",
  "BACKEND_ERROR",
  "RESTORE_FAILED",
  "NO_SPACE",
  "PERMISSION_DENIED",
] as const satisfies readonly ErrorCode[];
/** Starting the runner in a sandbox (runner-driver/access.ts, run.ts). */
export const RUNNER = [
  "SNAPSHOTS_UNAVAILABLE",
  "RUNNER_API_UNREACHABLE",
  "RUNNER_FAILED",
  "RUNNER_MISSING",
] as const satisfies readonly ErrorCode[];
/** Codes the runner reports that a route relays with 502 (RunnerFailedError, runner-driver/run.ts). */
export const RUNNER_RELAYED = [
  "USAGE",
  "CONFIG_MISSING",
  "NETWORK_ERROR",
  "API_ERROR",
  "INVALID_MANIFEST",
] as const satisfies readonly ErrorCode[];
/** The job queue (D1). */
export const JOBS = ["JOBS_UNAVAILABLE"] as const satisfies readonly ErrorCode[];
