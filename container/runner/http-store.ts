/**
 * @module runner/http-store
 * `SnapshotStore` over the Worker's runner API (shared/snapshot-format.ts), with
 * the scoped bearer token. Requests and the retry policy (transient failures
 * retried with backoff, 4xx final so HEAD_MOVED reaches the caller) are
 * api-client.ts's, shared with the job client.
 */
import type { Readable } from "node:stream";
import {
  type CommitResponse,
  type Manifest,
  manifestText,
  RUNNER_API_PREFIX,
  type SnapshotId,
} from "../../src/shared/snapshot-format.ts";
import { ApiClient, type RetryInfo, type RetryOptions, readAll } from "./api-client.ts";
import { CODES, RunnerError } from "./errors.ts";
import { sha256Hex } from "./hash.ts";
import type { SnapshotStore } from "./store.ts";

export type { RetryOptions } from "./api-client.ts";

/** Connection settings of an HttpStore. */
export interface HttpStoreOptions extends RetryOptions {
  /** Base URL of the runner API, e.g. http://worker.internal (no trailing slash). */
  apiUrl: string;
  token: string;
  projectId: string;
  /** Called before each retry (logging, tests). */
  onRetry?: (info: RetryInfo) => void;
}

/** The runner API client. */
export class HttpStore implements SnapshotStore {
  private readonly api: ApiClient;

  constructor(options: HttpStoreOptions) {
    const { apiUrl, projectId, ...rest } = options;
    this.api = new ApiClient({
      ...rest,
      baseUrl: `${apiUrl.replace(/\/+$/, "")}${RUNNER_API_PREFIX}/${encodeURIComponent(projectId)}`,
    });
  }

  private send(...args: Parameters<ApiClient["send"]>): ReturnType<ApiClient["send"]> {
    return this.api.send(...args);
  }

  private json<T>(method: string, path: string, ok: readonly number[], body?: unknown): Promise<T> {
    return this.api.json<T>(method, path, ok, body);
  }

  async getHead(): Promise<SnapshotId | null> {
    const data = await this.json<{ snapshotId: SnapshotId | null }>("GET", "/head", [200]);
    return data.snapshotId ?? null;
  }

  async getManifestText(id: SnapshotId): Promise<string> {
    const res = await this.send("GET", `/snapshots/${id}`, [200, 404]);
    const text = (await readAll(res)).toString("utf8");
    if (res.statusCode === 404) throw new RunnerError(CODES.snapshotNotFound, `Snapshot ${id} not found`);
    return text;
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
