/**
 * @module sandboxd/paths
 * Maps /workspace/... paths to a project's host directory and confines them:
 * lexical checks first (400 INVALID_PATH), then the real path of what exists on
 * disk, following symlinks the way the kernel would (403 PATH_FORBIDDEN when
 * it leaves the workspace). Checks happen before anything is touched.
 */
import { lstat, readlink, realpath } from "node:fs/promises";
import { dirname, posix, resolve, sep } from "node:path";
import { WORKSPACE } from "./bwrap.ts";
import { badRequest, forbiddenPath } from "./errors.ts";

/** A checked sandbox path and the host path it names. */
export interface MappedPath {
  /** Normalised /workspace/... path (as reported back to callers). */
  sandboxPath: string;
  /** The same path under the project's host directory (symlinks not yet resolved). */
  hostPath: string;
}

/** Lexical validation and mapping; throws 400 INVALID_PATH. */
export function mapPath(hostDir: string, input: unknown): MappedPath {
  if (typeof input !== "string" || input === "") throw badRequest("path must be a non-empty string", "INVALID_PATH");
  if (input.includes("\0")) throw badRequest("path must not contain NUL bytes", "INVALID_PATH");
  if (!input.startsWith("/")) throw badRequest("path must be absolute (start with /workspace)", "INVALID_PATH");
  if (input.split("/").includes("..")) throw badRequest("path must not contain '..'", "INVALID_PATH");
  const norm = posix.normalize(input).replace(/(.)\/+$/, "$1");
  if (norm !== WORKSPACE && !norm.startsWith(`${WORKSPACE}/`)) {
    throw badRequest(`path must be inside ${WORKSPACE}`, "INVALID_PATH");
  }
  return { sandboxPath: norm, hostPath: hostDir + norm.slice(WORKSPACE.length) };
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + sep);
}

async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") {
      return null;
    }
    throw err;
  }
}

/**
 * Where `p` really points, even when its tail does not exist yet: the realpath of
 * the deepest existing ancestor plus the missing rest. A dangling symlink on the
 * way is resolved by its text, so a write through it is judged by its target.
 */
export async function resolveReal(p: string, depth = 0): Promise<string> {
  if (depth > 40) throw Object.assign(new Error("too many symlinks"), { code: "ELOOP" });
  let existing = p;
  const rest: string[] = [];
  for (;;) {
    const st = await lstatOrNull(existing);
    if (st) {
      if (st.isSymbolicLink()) {
        try {
          return resolve(await realpath(existing), ...rest);
        } catch {
          // Dangling: follow its text relative to its directory.
          const target = resolve(dirname(existing), await readlink(existing));
          return resolve(await resolveReal(target, depth + 1), ...rest);
        }
      }
      return resolve(await realpath(existing), ...rest);
    }
    const parent = dirname(existing);
    if (parent === existing) return resolve(existing, ...rest);
    rest.unshift(existing.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
    existing = parent;
  }
}

/**
 * The real host path of `mapped`, or 403 PATH_FORBIDDEN when it (or the deepest
 * existing part of it) resolves outside the workspace directory.
 */
export async function confine(hostDir: string, mapped: MappedPath): Promise<string> {
  const root = await realpath(hostDir);
  let real: string;
  try {
    real = await resolveReal(mapped.hostPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw forbiddenPath(mapped.sandboxPath, "has a symlink loop");
    throw err;
  }
  if (!isInside(root, real)) throw forbiddenPath(mapped.sandboxPath, "resolves outside the workspace");
  return real;
}

/** mapPath + confine: the checked real host path for a request path. */
export async function checkedPath(hostDir: string, input: unknown): Promise<MappedPath & { realPath: string }> {
  const mapped = mapPath(hostDir, input);
  return { ...mapped, realPath: await confine(hostDir, mapped) };
}
