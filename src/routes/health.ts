/**
 * @module routes/health
 * GET /health: liveness without auth, for load balancers and `npm run dev`.
 */
import { Hono } from "hono";
import type { AppDeps } from "../deps";

export function healthRoutes({ backend, version }: AppDeps): Hono {
  return new Hono().get("/health", (c) =>
    c.json({ success: true, data: { status: "ok", version, backend: backend.kind } }),
  );
}
