/**
 * @module runner/http-store
 * `SnapshotStore` over the Worker's runner API (shared/snapshot-format.ts), with
 * the scoped bearer token. Transient failures (network errors, timeouts, 5xx,
 * 429) are retried with exponential backoff and full jitter, a bounded number of
 * times; 4xx answers are final (retrying a bad request cannot help, and a 409
 * HEAD_MOVED must reach the caller). Uses node:http(s) rather than fetch so pack
 * uploads stream from disk with an exact Content-Length.
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import {
  type CommitResponse,
  type Manifest,
  manifestText,
  RUNNER_API_PREFIX,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { CODES, RunnerError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";
import type { SnapshotStore } from "./store.ts";

/** Retry policy; the defaults suit a Worker a network hop away. */
export interface RetryOptions {
  /** Total attempts including the first (default 6). */
  attempts?: number;
  /** First backoff ceiling in ms; doubles each retry (default 250). */
  baseDelayMs?: number;
  /** Largest backoff in ms (default 8000). */
  maxDelayMs?: number;
  /** Socket idle timeout per request in ms (default 60000). */
  timeoutMs?: number;
}

/** Connection settings of an HttpStore. */
export interface HttpStoreOptions extends RetryOptions {
  /** Base URL of the runner API, e.g. http://worker.internal (no trailing slash). */
  apiUrl: string;
  token: string;
  projectId: string;
  /** Called before each retry (logging, tests). */
  onRetry?: (info: { method: string; path: string; attempt: number; delayMs: number; reason: string }) => void;
}

type Body = Buffer | (() => Readable);

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Unwraps the Worker's `{ success: true, data }` envelope when present. */
function unwrap<T>(json: unknown): T {
  if (json && typeof json === "object" && (json as { success?: unknown }).success === true && "data" in json) {
    return (json as { data: T }).data;
  }
  return json as T;
}

/** The runner API client. */
export class HttpStore implements SnapshotStore {
  private readonly opts: Required<Omit<HttpStoreOptions, "onRetry">> & Pick<HttpStoreOptions, "onRetry">;
  private readonly base: string;

  constructor(options: HttpStoreOptions) {
    this.opts = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8000, timeoutMs: 60_000, ...options };
    this.base = `${options.apiUrl.replace(/\/+$/, "")}${RUNNER_API_PREFIX}/${encodeURIComponent(options.projectId)}`;
  }

  private once(method: string, path: string, headers: Record<string, string>, body?: Body): Promise<IncomingMessage> {
    const url = new URL(this.base + path);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers: { authorization: `Bearer ${this.opts.token}`, ...headers } }, resolve);
      req.on("error", reject);
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(new Error(`no activity for ${this.opts.timeoutMs} ms`)));
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const src = body();
        src.on("error", (err) => req.destroy(err));
        src.pipe(req);
      }
    });
  }

  /**
   * Sends a request, retrying transient failures. Resolves with the response when
   * its status is in `ok`; otherwise throws a RunnerError with the API's code.
   */
  private async send(
    method: string,
    path: string,
    ok: readonly number[],
    headers: Record<string, string> = {},
    body?: Body,
  ): Promise<IncomingMessage> {
    const { attempts, baseDelayMs, maxDelayMs } = this.opts;
    for (let attempt = 1; ; attempt++) {
      let failure: RunnerError;
      let retryAfterMs = 0;
      try {
        const res = await this.once(method, path, headers, body);
        const status = res.statusCode ?? 0;
        if (ok.includes(status)) return res;
        const text = method === "HEAD" ? "" : (await readAll(res)).toString("utf8");
        let code: string = status >= 500 || status === 429 ? CODES.network : CODES.api;
        let message = `${method} ${path} answered ${status}`;
        try {
          const env = JSON.parse(text) as { code?: unknown; error?: unknown };
          if (typeof env.code === "string") code = env.code;
          if (typeof env.error === "string") message = `${message}: ${env.error}`;
        } catch {
          // Not an envelope (a proxy's HTML page, say): keep the status-based code.
        }
        const transient = status >= 500 || status === 429;
        const ra = Number(res.headers["retry-after"]);
        if (status === 429 && Number.isFinite(ra)) retryAfterMs = ra * 1000;
        failure = new RunnerError(code, message, { transient, details: { status } });
      } catch (err) {
        if (err instanceof RunnerError) throw err;
        failure = new RunnerError(CODES.network, `${method} ${path} failed: ${(err as Error).message}`, {
          transient: true,
        });
      }
      if (!failure.transient || attempt >= attempts) throw failure;
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.min(maxDelayMs, Math.max(retryAfterMs, Math.random() * ceiling));
      this.opts.onRetry?.({ method, path, attempt, delayMs, reason: failure.message });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }

  private async json<T>(method: string, path: string, ok: readonly number[], body?: unknown): Promise<T> {
    const buf = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
    const headers: Record<string, string> = { accept: "application/json" };
    if (buf) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(buf.length);
    }
    const res = await this.send(method, path, ok, headers, buf);
    return unwrap<T>(JSON.parse((await readAll(res)).toString("utf8")));
  }

  async getHead(): Promise<SnapshotId | null> {
    const data = await this.json<{ snapshotId: SnapshotId | null }>("GET", "/head", [200]);
    return data.snapshotId ?? null;
  }

  async getManifestText(id: SnapshotId): Promise<string> {
    const res = await this.send("GET", `/snapshots/${id}`, [200, 404]);
    const text = (await readAll(res)).toString("utf8");
    if (res.statusCode === 404) throw new RunnerError(CODES.snapshotNotFound, `Snapshot ${id} not found`);
    if (sha256Hex(text) === id) return text;
    // Tolerate a Worker that wraps the manifest in its envelope: re-serialise it.
    try {
      return manifestText(unwrap<Manifest>(JSON.parse(text)));
    } catch {
      return text;
    }
  }

  async hasPack(packId: string): Promise<boolean> {
    const res = await this.send("HEAD", `/packs/${packId}`, [200, 404]);
    res.resume();
    return res.statusCode === 200;
  }

  async putPack(packId: string, size: number, open: () => Readable): Promise<void> {
    const res = await this.send(
      "PUT",
      `/packs/${packId}`,
      [200, 201],
      { "content-type": "application/octet-stream", "content-length": String(size) },
      open,
    );
    res.resume();
  }

  async getPackRange(packId: string, offset: number, length: number): Promise<AsyncIterable<Uint8Array>> {
    const range = `bytes=${offset}-${offset + length - 1}`;
    const res = await this.send("GET", `/packs/${packId}`, [206, 200], { range });
    if (res.statusCode === 200) {
      // A server that ignored Range: skip to the window ourselves.
      return sliceStream(res, offset, length);
    }
    return res;
  }

  async commit(manifest: Manifest): Promise<CommitResponse> {
    try {
      return await this.json<CommitResponse>("POST", "/snapshots", [200, 201], { manifest });
    } catch (err) {
      // A retried commit whose first attempt landed (answer lost) sees HEAD_MOVED
      // with the head already on this very manifest: that is a success.
      if (err instanceof RunnerError && err.code === CODES.headMoved) {
        const id = sha256Hex(manifestText(manifest));
        if ((await this.getHead()) === id) return { snapshotId: id, head: id };
      }
      throw err;
    }
  }
}

/** Yields bytes [offset, offset+length) of a stream. */
async function* sliceStream(src: AsyncIterable<Uint8Array>, offset: number, length: number): AsyncIterable<Uint8Array> {
  let pos = 0;
  const end = offset + length;
  for await (const chunk of src) {
    const s = Math.max(0, offset - pos);
    const e = Math.min(chunk.length, end - pos);
    if (e > s) yield chunk.subarray(s, e);
    pos += chunk.length;
    if (pos >= end) break;
  }
}
