/**
 * @module sandboxes/status
 * A sandbox's state without starting anything, for the steps that act only on a sandbox
 * that is there: a destroy (routes/sandboxes.ts) and the idle TTL's stop (idle.ts).
 */
import type { SandboxInfo } from "../backend/types";
import type { AppDeps } from "../deps";
import { NotFoundError } from "../errors";

/** The sandbox's state, or null when it was never created (or is destroyed). */
export async function currentStatus(deps: Pick<AppDeps, "backend">, projectId: string): Promise<SandboxInfo | null> {
  try {
    return await deps.backend.status(projectId);
  } catch (err) {
    if (err instanceof NotFoundError && err.code === "SANDBOX_NOT_FOUND") return null;
    throw err;
  }
}
