/**
 * @module http/cursor
 * The listings' opaque page cursors (GET /jobs, GET /sandboxes): the key of the last row
 * of a page, a few strings, as base64url JSON. A cursor that does not decode to as many
 * strings is a 400 INVALID_CURSOR.
 */
import { ValidationError } from "../errors";

/** An opaque cursor for the row keyed by `key`. */
export function encodeCursor(key: readonly string[]): string {
  return btoa(JSON.stringify(key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The `size` strings a cursor holds; a malformed one is a 400 INVALID_CURSOR. */
export function decodeCursor(cursor: string, size: number): string[] {
  try {
    const parsed: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (Array.isArray(parsed) && parsed.length === size && parsed.every((v) => typeof v === "string")) return parsed;
  } catch {
    // fall through to the error below
  }
  throw new ValidationError("cursor is malformed; pass the nextCursor of a previous page", undefined, "INVALID_CURSOR");
}
