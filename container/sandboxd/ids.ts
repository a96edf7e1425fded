/**
 * @module sandboxd/ids
 * Validation of project ids (the same rules Cloudflare applies to sandbox ids, so
 * a project works on both backends) and of process ids.
 */
import { badRequest, notFound } from "./errors.ts";

const RESERVED = new Set(["www", "api", "admin", "root", "system", "cloudflare", "workers"]);

/** Returns the id or throws 400 INVALID_PROJECT_ID. */
export function checkProjectId(id: string): string {
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(id)) {
    throw badRequest(
      "projectId must be 1-63 characters of lowercase letters, digits and '-', not starting or ending with '-'",
      "INVALID_PROJECT_ID",
    );
  }
  if (RESERVED.has(id)) throw badRequest(`projectId "${id}" is reserved`, "INVALID_PROJECT_ID");
  return id;
}

/** Process ids are ours (`p_` + hex); anything else cannot exist. */
export function checkProcessId(id: string): string {
  if (!/^p_[0-9a-f]{16}$/.test(id))
    throw notFound(`No process ${JSON.stringify(id.slice(0, 80))}`, "PROCESS_NOT_FOUND");
  return id;
}
