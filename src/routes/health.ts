/**
 * @module routes/health
 * GET /health: liveness without auth, for load balancers and `npm run dev`.
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";
import { ok } from "../http/envelope";

export function healthRoutes({ backend, version }: AppDeps): Hono {
  return new Hono().get("/health", (c) => ok(c, { status: "ok", version, backend: backend.kind }));
}
