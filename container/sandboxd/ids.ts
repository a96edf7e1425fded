/**
 * @module sandboxd/ids
 * Validation of jail ids.
 */
import { badRequest } from "./errors.ts";

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
