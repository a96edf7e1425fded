/**
 * @module test/support/standin-files
 * Part of the STAND-IN container (see standin-container.ts): the file endpoints of
 * the SDK's container protocol (/api/read, /api/read/stream, /api/write,
 * /api/delete, /api/mkdir, /api/list-files, /api/exists), on real files in the
 * container's workspace directory. Shapes and error codes follow the real
 * container server (cloudflare/sandbox-sdk packages/sandbox-container), including
 * its quirks: MIME type from the extension first, text files streamed as UTF-8
 * decoded chunks, deleteFile refusing directories.
 */
import { createReadStream } from "node:fs";
import { lstat, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, extname, join } from "node:path";
import { WORKSPACE } from "../../container/sandboxd/bwrap.ts";

/** A protocol error: the container answers `{code, message, context, httpStatus, timestamp}`. */
export class ContainerApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The real server refuses encoded reads over 32 MiB. */
const MAX_ENCODED_FILE_SIZE = 32 * 1024 * 1024;
const CHUNK_SIZE = 65535;
const TEXT_TYPES: Record<string, string> = {
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".json": "application/json",
  ".js": "text/javascript",
  ".ts": "text/typescript",
  ".html": "text/html",
  ".css": "text/css",
  ".py": "text/x-python",
  ".sh": "application/x-sh",
  ".csv": "text/csv",
  ".xml": "application/xml",
  ".yaml": "text/yaml",
  ".yml": "text/yaml",
};

/** Host path for a sandbox path; only /workspace exists in the stand-in. */
export function hostPath(workspaceHostDir: string, path: string): string {
  if (typeof path !== "string" || !(path === WORKSPACE || path.startsWith(`${WORKSPACE}/`)) || path.includes("\0")) {
    throw new ContainerApiError(400, "VALIDATION_FAILED", `Invalid path format for '${path}'`);
  }
  return workspaceHostDir + path.slice(WORKSPACE.length);
}

function notFound(path: string, what = "File"): ContainerApiError {
  return new ContainerApiError(404, "FILE_NOT_FOUND", `${what} not found: ${path}`);
}

/** MIME type the way the real server decides it: extension first, then a content sniff (like `file`). */
function mimeTypeOf(path: string, head: Buffer): string {
  const byExt = TEXT_TYPES[extname(path).toLowerCase()];
  if (byExt) return byExt;
  if (head.includes(0)) return "application/octet-stream";
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(head);
    return "text/plain";
  } catch {
    return "application/octet-stream";
  }
}

const isBinaryMime = (mime: string) =>
  !(
    mime.startsWith("text/") ||
    mime === "application/json" ||
    mime === "application/xml" ||
    mime === "application/x-sh"
  );

async function statFile(host: string, path: string) {
  const st = await stat(host).catch(() => null);
  if (!st?.isFile()) throw notFound(path);
  return st;
}

async function sniff(host: string): Promise<Buffer> {
  const stream = createReadStream(host, { start: 0, end: 8191 });
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** POST /api/read */
export async function readFileApi(dir: string, body: { path: string; encoding?: string }) {
  const host = hostPath(dir, body.path);
  const st = await statFile(host, body.path);
  if (st.size > MAX_ENCODED_FILE_SIZE) {
    throw new ContainerApiError(
      413,
      "FILE_TOO_LARGE",
      `File too large. Size ${st.size} bytes exceeds the 32 MiB limit.`,
    );
  }
  const bytes = await readFile(host);
  const mimeType = mimeTypeOf(body.path, bytes.subarray(0, 8192));
  const encoding =
    body.encoding === "base64"
      ? "base64"
      : body.encoding === "utf-8" || body.encoding === "utf8"
        ? "utf-8"
        : isBinaryMime(mimeType)
          ? "base64"
          : "utf-8";
  return {
    success: true,
    path: body.path,
    content: encoding === "base64" ? bytes.toString("base64") : bytes.toString("utf8"),
    timestamp: new Date().toISOString(),
    encoding,
    isBinary: encoding === "base64",
    mimeType,
    size: st.size,
  };
}

const sse = (event: unknown) => `data: ${JSON.stringify(event)}\n\n`;

/** POST /api/read/stream: SSE metadata, chunks, complete; failures arrive as an `error` event. */
export async function* readFileStreamApi(dir: string, body: { path: string }): AsyncGenerator<string> {
  let host: string;
  let size: number;
  try {
    host = hostPath(dir, body.path);
    size = (await statFile(host, body.path)).size;
  } catch (err) {
    yield sse({ type: "error", error: (err as Error).message });
    return;
  }
  const mimeType = mimeTypeOf(body.path, await sniff(host));
  const isBinary = isBinaryMime(mimeType);
  yield sse({ type: "metadata", mimeType, size, isBinary, encoding: isBinary ? "base64" : "utf-8" });
  const decoder = new TextDecoder();
  let bytesRead = 0;
  for await (const part of createReadStream(host, { highWaterMark: CHUNK_SIZE })) {
    const buf = part as Buffer;
    bytesRead += buf.length;
    yield sse({ type: "chunk", data: isBinary ? buf.toString("base64") : decoder.decode(buf, { stream: true }) });
  }
  if (!isBinary) {
    const rest = decoder.decode();
    if (rest) yield sse({ type: "chunk", data: rest });
  }
  yield sse({ type: "complete", bytesRead });
}

/** POST /api/write: parents are created (Bun.write does so in the real server). */
export async function writeFileApi(dir: string, body: { path: string; content: string; encoding?: string }) {
  const host = hostPath(dir, body.path);
  if (typeof body.content !== "string")
    throw new ContainerApiError(400, "VALIDATION_FAILED", "content must be a string");
  let data: Buffer | string = body.content;
  if (body.encoding === "base64") {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body.content)) {
      throw new ContainerApiError(400, "VALIDATION_FAILED", `Invalid base64 content for '${body.path}'`);
    }
    data = Buffer.from(body.content, "base64");
  }
  await mkdir(dirname(host), { recursive: true });
  await writeFile(host, data);
  return { success: true, path: body.path, timestamp: new Date().toISOString() };
}

/** POST /api/delete: files only, as in the real server. */
export async function deleteFileApi(dir: string, body: { path: string }) {
  const host = hostPath(dir, body.path);
  const st = await lstat(host).catch(() => null);
  if (!st) throw notFound(body.path);
  if (st.isDirectory()) {
    throw new ContainerApiError(400, "IS_DIRECTORY", `Cannot delete directory with deleteFile() at '${body.path}'.`);
  }
  await rm(host);
  return { success: true, path: body.path, timestamp: new Date().toISOString() };
}

/** POST /api/mkdir */
export async function mkdirApi(dir: string, body: { path: string; recursive?: boolean }) {
  const host = hostPath(dir, body.path);
  try {
    await mkdir(host, { recursive: body.recursive === true });
  } catch (err) {
    throw new ContainerApiError(500, "FILESYSTEM_ERROR", `Failed to create directory: ${(err as Error).message}`);
  }
  return { success: true, path: body.path, recursive: body.recursive ?? false, timestamp: new Date().toISOString() };
}

/** POST /api/exists */
export async function existsApi(dir: string, body: { path: string }) {
  const exists = (await lstat(hostPath(dir, body.path)).catch(() => null)) !== null;
  return { success: true, path: body.path, exists, timestamp: new Date().toISOString() };
}

const PERMS = ["---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx"];

/** `find -printf '%TY-%Tm-%TdT%TH:%TM:%TS'` in UTC: no zone, ten fractional digits. */
function findTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}0000000`;
}

/** POST /api/list-files: the fields the real server derives from `find -printf`. */
export async function listFilesApi(
  dir: string,
  body: { path: string; options?: { recursive?: boolean; includeHidden?: boolean } },
) {
  const host = hostPath(dir, body.path);
  const st = await stat(host).catch(() => null);
  if (!st) throw notFound(body.path, "Directory");
  if (!st.isDirectory()) throw new ContainerApiError(400, "NOT_DIRECTORY", `Path is not a directory: ${body.path}`);
  const base = body.path.replace(/\/$/, "");
  const files: unknown[] = [];
  const walk = async (hostDir: string, sandboxDir: string, rel: string) => {
    for (const name of (await readdir(hostDir)).sort()) {
      if (!body.options?.includeHidden && name.startsWith(".")) continue;
      const entryHost = join(hostDir, name);
      const s = await lstat(entryHost);
      const mode = s.mode & 0o777;
      const type = s.isFile() ? "file" : s.isDirectory() ? "directory" : s.isSymbolicLink() ? "symlink" : "other";
      files.push({
        name,
        absolutePath: `${sandboxDir}/${name}`,
        relativePath: rel ? `${rel}/${name}` : name,
        type,
        size: s.size,
        modifiedAt: findTime(s.mtimeMs),
        mode: `${PERMS[(mode >> 6) & 7]}${PERMS[(mode >> 3) & 7]}${PERMS[mode & 7]}`,
        permissions: {
          readable: (mode & 0o400) !== 0,
          writable: (mode & 0o200) !== 0,
          executable: (mode & 0o100) !== 0,
        },
      });
      if (body.options?.recursive && type === "directory") {
        await walk(entryHost, `${sandboxDir}/${name}`, rel ? `${rel}/${name}` : name);
      }
    }
  };
  await walk(host, base, "");
  return { success: true, path: body.path, files, count: files.length, timestamp: new Date().toISOString() };
}
