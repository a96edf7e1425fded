/**
 * @module sandboxd/ids
 * Validation of project ids (the same rules Cloudflare applies to sandbox ids, so
 * a project works on both backends), of process ids and of jail ids.
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

/**
 * Jail ids name a container runtime's jail (jails.ts); the Worker uses the Durable
 * Object id (64 hex characters). Returns the id or throws 400 INVALID_JAIL_ID.
 */
export function checkJailId(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
    throw badRequest("jail id must be 1-128 characters of letters, digits, '_' and '-'", "INVALID_JAIL_ID");
  }
  return id;
}
