/**
 * @module backend/cloudflare-files
 * Binary-safe file transfer over @cloudflare/sandbox 0.12.x's HTTP transport.
 *
 * Reading: 0.12.x offers `readFile` (whole file in one JSON string; raw bytes
 * with `encoding: "none"` only on the rpc transport) and `readFileStream` (SSE:
 * metadata, then chunks — base64 for files the container deems binary, UTF-8
 * *decoded* text for files it deems text, by MIME type). We stream with
 * `readFileStream` (the size arrives first, so over-limit files are refused
 * before any content moves), and because a "text" file may hold bytes that are
 * not UTF-8 (the decoder would have replaced them with U+FFFD), the first chunk
 * containing U+FFFD switches to `readFile({encoding: "base64"})` for the rest. What
 * comes out is checked against the size: never less than the file passes for it.
 *
 * Stopping early: cancelling a container response stream makes
 * @cloudflare/containers (0.3.x, `res.body.pipeTo(...).finally(...)` in
 * containerFetch) leave an unhandled "Network connection lost" rejection in the
 * Durable Object. So where the rest is affordable we read it to the end and
 * discard it instead of cancelling.
 *
 * Writing: base64 through `writeFile({encoding: "base64"})`; large files (and tar
 * uploads, cloudflare-archives.ts) go in parts (`streamParts`) joined in the container,
 * keeping each RPC message well under its limit.
 */
import { parseSSEStream, type Sandbox } from "@cloudflare/sandbox";
import { BackendError, NotFoundError, PayloadTooLargeError } from "../errors";
import { shellCommand, shellQuote } from "../shell";
import { base64ToBytes, bytesToBase64 } from "./cloudflare-convert";
import { mapErrors, toAppError } from "./cloudflare-errors";
import type { FileContent } from "./types";

/** Largest part sent in one writeFile (base64 makes it 4/3 larger on the wire). */
export const WRITE_PART_BYTES = 8 * 1024 * 1024;

/**
 * The container decodes a text file's bytes before it sends them, and a decoder drops a
 * leading byte-order mark: up to this much text is held back until its length is checked
 * against the file's, so such a file comes back exact. A longer one that comes out short
 * fails (FILE_READ_FAILED) rather than pass for the file.
 */
const HOLD_TEXT_BYTES = 1024 * 1024;

/** Up to this many bytes are drained rather than cancelled (see the module comment). */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** SSE events of readFileStream (the SDK's FileStreamEvent). */
type FileStreamEvent =
  | { type: "metadata"; mimeType: string; size: number; isBinary: boolean; encoding: "utf-8" | "base64" }
  | { type: "chunk"; data: string }
  | { type: "complete"; bytesRead: number }
  | { type: "error"; error: string };

// biome-ignore lint/suspicious/noExplicitAny: the SDK's Sandbox is generic over the Worker's Env, irrelevant here.
type AnySandbox = Sandbox<any>;

/** Lets go of the rest of a stream: drained in the background when small enough, else cancelled. */
function release(events: AsyncIterator<unknown>, remainingBytes: number): void {
  if (remainingBytes > DRAIN_LIMIT_BYTES) {
    void events.return?.(undefined)?.catch(() => undefined);
    return;
  }
  void (async () => {
    while (!(await events.next()).done) {
      // Discard.
    }
  })().catch(() => undefined);
}

/** Streams a file's bytes, refusing files over `maxBytes` before reading them. */
export async function readFileBody(sandbox: AnySandbox, path: string, maxBytes: number): Promise<FileContent> {
  const sse = await mapErrors(() => sandbox.readFileStream(path));
  const events = parseSSEStream<FileStreamEvent>(sse)[Symbol.asyncIterator]();
  const first = await events.next().catch((err: unknown) => {
    throw toAppError(err);
  });
  if (first.done || first.value.type !== "metadata") {
    await events.return?.(undefined);
    const why = !first.done && first.value.type === "error" ? first.value.error : "no metadata";
    const exists = await mapErrors(() => sandbox.exists(path));
    if (!exists.exists) throw new NotFoundError(`File not found: ${path}`, "FILE_NOT_FOUND");
    throw new BackendError(`Cannot read ${path}: ${why}`, "FILE_READ_FAILED");
  }
  const meta = first.value;
  if (meta.size > maxBytes) {
    release(events, meta.size);
    throw new PayloadTooLargeError("File", maxBytes);
  }
  const encoder = new TextEncoder();
  /** Bytes taken so far (enqueued or held). */
  let emitted = 0;
  /** Bytes up to the announced size: a file that grows while read is cut there (its Content-Length). */
  const upToSize = (bytes: Uint8Array) => {
    const kept = bytes.subarray(0, Math.max(0, meta.size - emitted));
    emitted += kept.byteLength;
    return kept;
  };
  /** Text held back until it is known to be exact (see HOLD_TEXT_BYTES); null once let go. */
  let held: Uint8Array[] | null = meta.isBinary ? null : [];
  const letGo = (controller: ReadableStreamDefaultController<Uint8Array>) => {
    for (const bytes of held ?? []) controller.enqueue(bytes);
    held = null;
  };
  /** The file's exact bytes from what was already enqueued on, then the end. */
  const exactRest = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    const whole = base64ToBytes((await sandbox.readFile(path, { encoding: "base64" })).content);
    // What went out lacked the file's byte-order mark: nothing after it can make it whole.
    if (!held && whole[0] === 0xef && whole[1] === 0xbb && whole[2] === 0xbf)
      throw new BackendError(`Reading ${path} lost its byte-order mark`, "FILE_READ_FAILED");
    if (whole.byteLength < meta.size)
      throw new BackendError(
        `${path} shrank from ${meta.size} to ${whole.byteLength} bytes while read`,
        "FILE_READ_FAILED",
      );
    controller.enqueue(whole.subarray(held ? 0 : emitted, meta.size));
    controller.close();
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const next = await events.next();
          if (next.done || next.value.type === "complete") {
            // Decoded text that came out another length than the file (a byte-order mark the
            // decoder dropped): exact bytes instead, while nothing of it has gone out.
            if (emitted !== meta.size && held) return await exactRest(controller);
            // A stream cut short must not pass for the whole file (streams-over-http.ts).
            if (emitted !== meta.size)
              throw new BackendError(
                `Reading ${path} ended after ${emitted} of ${meta.size} bytes`,
                "FILE_READ_FAILED",
              );
            letGo(controller);
            controller.close();
            return;
          }
          const event = next.value;
          if (event.type === "error")
            throw new BackendError(`Reading ${path} failed: ${event.error}`, "FILE_READ_FAILED");
          if (event.type !== "chunk" || event.data === "") continue;
          if (meta.isBinary) {
            const bytes = upToSize(base64ToBytes(event.data));
            if (bytes.byteLength === 0) continue;
            controller.enqueue(bytes);
            return;
          }
          if (event.data.includes("\uFFFD")) {
            // Possibly a byte that was not UTF-8: take the exact bytes from here on.
            release(events, meta.size - emitted);
            return await exactRest(controller);
          }
          const bytes = upToSize(encoder.encode(event.data));
          if (bytes.byteLength === 0) continue;
          if (!held) {
            controller.enqueue(bytes);
            return;
          }
          held.push(bytes);
          if (emitted > HOLD_TEXT_BYTES) {
            letGo(controller);
            return;
          }
        }
      } catch (err) {
        controller.error(toAppError(err));
      }
    },
    async cancel() {
      // The caller went away: stop the transfer even at the cost described above.
      await events.return?.(undefined)?.catch(() => undefined);
    },
  });
  return { body, size: meta.size };
}

/** Writes bytes exactly (parents are created by the container's write). */
export async function writeFileBytes(sandbox: AnySandbox, path: string, bytes: Uint8Array): Promise<void> {
  if (bytes.byteLength <= WRITE_PART_BYTES) {
    await mapErrors(() => sandbox.writeFile(path, bytesToBase64(bytes), { encoding: "base64" }));
    return;
  }
  const slash = path.lastIndexOf("/");
  const prefix = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.upload-${crypto.randomUUID()}`;
  try {
    const one = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    const { parts } = await streamParts(sandbox, prefix, one, bytes.byteLength);
    const join = `${shellCommand(["cat", ...parts])} > ${shellQuote(path)}`;
    const result = await mapErrors(() => sandbox.exec(join));
    if (result.exitCode !== 0) {
      throw new BackendError(`Writing ${path} failed: ${result.stderr.trim()}`, "FILE_WRITE_FAILED");
    }
  } finally {
    await sandbox.exec(`rm -f -- ${shellQuote(prefix)}.*`).catch(() => undefined);
  }
}

/**
 * Writes `body` to `<prefix>.<n>` parts in the container, each `partBytes` but the last;
 * returns the part paths and the byte count. 413 once more than `maxBytes` arrived.
 */
export async function streamParts(
  sandbox: Pick<AnySandbox, "writeFile">,
  prefix: string,
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  partBytes = WRITE_PART_BYTES,
): Promise<{ parts: string[]; bytes: number }> {
  const parts: string[] = [];
  let total = 0;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    let part = pending[0] ?? new Uint8Array();
    if (pending.length > 1) {
      part = new Uint8Array(pendingBytes);
      let at = 0;
      for (const chunk of pending) {
        part.set(chunk, at);
        at += chunk.byteLength;
      }
    }
    pending = [];
    pendingBytes = 0;
    const path = `${prefix}.${parts.length}`;
    parts.push(path);
    await mapErrors(() => sandbox.writeFile(path, bytesToBase64(part), { encoding: "base64" }));
  };
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError("Archive", maxBytes);
    }
    // Split a chunk that would overfill the part, so every part is exactly partBytes but the last.
    let chunk = value;
    while (pendingBytes + chunk.byteLength >= partBytes) {
      const take = partBytes - pendingBytes;
      pending.push(chunk.subarray(0, take));
      pendingBytes += take;
      chunk = chunk.subarray(take);
      await flush();
    }
    if (chunk.byteLength > 0) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
    }
  }
  await flush();
  return { parts, bytes: total };
}
