/**
 * @module sandboxd/files
 * File operations on a project's workspace: read (streamed, size-limited), write
 * (raw bytes, parents created, never through a final symlink), delete (file or
 * directory tree) and list (flat or recursive; symlinks reported, not followed).
 * Every path is confined (paths.ts) before anything is touched.
 */
import { constants, type ReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { WORKSPACE } from "./bwrap.ts";
import { badRequest, fromFsError, SandboxdError, tooLarge } from "./errors.ts";
import { checkedPath } from "./paths.ts";

/** A directory entry (FileEntry in src/backend/types.ts). */
export interface FileEntry {
  name: string;
  path: string;
  type: "file" | "directory" | "symlink" | "other";
  size: number;
  modifiedAt: string;
  mode: string;
}

/** Recursive listings stop here rather than building an unbounded answer. */
export const MAX_LIST_ENTRIES = 50_000;

/** Opens a file for streaming; 413 when it is larger than `maxBytes`. */
export async function readFileStream(
  hostDir: string,
  path: unknown,
  maxBytes: number,
): Promise<{ stream: ReadStream; size: number }> {
  const p = await checkedPath(hostDir, path);
  try {
    // O_NOFOLLOW: the confined real path must not have become a symlink since the check.
    const handle = await open(p.realPath, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = await handle.stat();
    if (st.isDirectory()) {
      await handle.close();
      throw badRequest(`${p.sandboxPath} is a directory`, "IS_A_DIRECTORY");
    }
    if (st.size > maxBytes) {
      await handle.close();
      throw tooLarge(`File ${p.sandboxPath} (${st.size} bytes)`, maxBytes);
    }
    // The stream owns the handle and closes it (a raw fd would be closed twice: by the stream and on GC).
    return { stream: handle.createReadStream({ autoClose: true }), size: st.size };
  } catch (err) {
    if (err instanceof SandboxdError) throw err;
    throw fromFsError(err, p.sandboxPath);
  }
}

/** Writes `body` to `path`, creating parent directories; returns the size written. */
export async function writeFile(hostDir: string, path: unknown, body: Uint8Array): Promise<{ size: number }> {
  const p = await checkedPath(hostDir, path);
  if (p.sandboxPath === WORKSPACE) throw badRequest("cannot write to the workspace root itself", "IS_A_DIRECTORY");
  try {
    await mkdir(dirname(p.realPath), { recursive: true });
    const handle = await open(
      p.realPath,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      await handle.writeFile(body);
    } finally {
      await handle.close();
    }
    return { size: body.byteLength };
  } catch (err) {
    throw fromFsError(err, p.sandboxPath);
  }
}

/** Deletes a file, symlink or directory tree; 404 when nothing is there. */
export async function deletePath(hostDir: string, path: unknown): Promise<void> {
  const p = await checkedPath(hostDir, path);
  if (p.sandboxPath === WORKSPACE) throw badRequest("the workspace root cannot be deleted", "INVALID_PATH");
  try {
    // lstat (not stat): a symlink inside the workspace is removed itself, never its target.
    await lstat(p.hostPath);
    await rm(p.hostPath, { recursive: true, force: false });
  } catch (err) {
    throw fromFsError(err, p.sandboxPath);
  }
}

function entryOf(name: string, path: string, st: Awaited<ReturnType<typeof lstat>>): FileEntry {
  const type = st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "directory" : st.isFile() ? "file" : "other";
  return {
    name,
    path,
    type,
    size: Number(st.size),
    modifiedAt: st.mtime.toISOString(),
    mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, "0"),
  };
}

/** Lists a directory; recursive listings descend into directories, never into symlinks. */
export async function listDir(hostDir: string, path: unknown, recursive: boolean): Promise<FileEntry[]> {
  const p = await checkedPath(hostDir, path);
  const out: FileEntry[] = [];
  try {
    const st = await stat(p.realPath);
    if (!st.isDirectory()) throw badRequest(`${p.sandboxPath} is not a directory`, "NOT_A_DIRECTORY");
    const walk = async (hostPath: string, sandboxPath: string): Promise<void> => {
      const names = (await readdir(hostPath)).sort();
      for (const name of names) {
        if (out.length >= MAX_LIST_ENTRIES) throw tooLarge(`Listing of ${p.sandboxPath}`, MAX_LIST_ENTRIES);
        const childSandbox = sandboxPath === "/" ? `/${name}` : `${sandboxPath}/${name}`;
        let est: Awaited<ReturnType<typeof lstat>>;
        try {
          est = await lstat(`${hostPath}/${name}`);
        } catch {
          continue; // Removed while we were listing.
        }
        out.push(entryOf(name, childSandbox, est));
        if (recursive && est.isDirectory()) await walk(`${hostPath}/${name}`, childSandbox);
      }
    };
    await walk(p.realPath, p.sandboxPath);
    return out;
  } catch (err) {
    if (err instanceof SandboxdError) throw err;
    throw fromFsError(err, p.sandboxPath);
  }
}
