/**
 * @module paths
 * Confines every path the API receives to the workspace root before any backend
 * sees it. Paths are absolute inside the sandbox ("/workspace/src/a.ts"). `..`
 * segments and NUL bytes are refused outright rather than normalised away: a
 * request that tries them is not a request we want to guess the meaning of.
 * Symlinks that escape are the adapter's job (only it can see the filesystem).
 */
import { ForbiddenPathError, ValidationError } from "./errors";

/** Linux PATH_MAX; longer paths cannot be opened anyway. */
const MAX_PATH_LENGTH = 4096;
/** Linux NAME_MAX for one path segment. */
const MAX_SEGMENT_LENGTH = 255;

function invalid(message: string): ValidationError {
  return new ValidationError(message, undefined, "INVALID_PATH");
}

/**
 * Normalise `raw` (absolute, inside `root`) to a canonical absolute path:
 * duplicate slashes and `.` segments removed, no trailing slash.
 * @throws ValidationError (400, INVALID_PATH) for malformed paths or `..`.
 * @throws ForbiddenPathError (403, PATH_FORBIDDEN) for absolute paths outside `root`.
 */
export function confinePath(raw: string, root: string): string {
  if (raw.length === 0) throw invalid("Path is empty");
  if (raw.length > MAX_PATH_LENGTH) throw invalid(`Path is longer than ${MAX_PATH_LENGTH} characters`);
  if (raw.includes("\0")) throw invalid("Path contains a NUL byte");
  if (!raw.startsWith("/")) throw invalid(`Path must be absolute (start with ${root})`);
  const segments: string[] = [];
  for (const segment of raw.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") throw invalid("Path must not contain '..' segments");
    if (segment.length > MAX_SEGMENT_LENGTH) throw invalid(`A path segment is longer than ${MAX_SEGMENT_LENGTH} bytes`);
    segments.push(segment);
  }
  const normalised = `/${segments.join("/")}`;
  if (normalised !== root && !normalised.startsWith(`${root}/`)) throw new ForbiddenPathError(raw);
  return normalised;
}

/**
 * The sandbox path named by the tail of a `/files/<path>` URL, still percent-encoded
 * as it arrived ("workspace/a%20b.txt" → "/workspace/a b.txt").
 */
export function pathFromUrlTail(encodedTail: string, root: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encodedTail);
  } catch {
    throw invalid("Path is not valid percent-encoding");
  }
  return confinePath(`/${decoded}`, root);
}
