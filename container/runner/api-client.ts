/**
 * @module runner/api-client
 * The one HTTP client of the runner API (snapshot routes in http-store.ts, job
 * routes in job-client.ts): bearer token, the Worker's error envelope, and the retry
 * policy. Successful answers of the runner API are bare JSON (no `{success, data}`). Transient failures (network errors, timeouts, 5xx, 429) are retried with
 * exponential backoff and full jitter, a bounded number of times; 4xx answers are
 * final (retrying a bad request cannot help, and a 409 HEAD_MOVED or LEASE_LOST
 * must reach the caller). Uses node:http(s) rather than fetch so pack uploads
 * stream from disk with an exact Content-Length.
 */
import type { IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { CODES, RunnerError } from "./errors.ts";

// Loaded through require, not an ESM import: importing node:http as ESM makes Node build its
// ESM facade, which reads every export, lazy getters included, and on Node 22 the WebSocket
// ones load undici. Measured on `runner.mjs --version` (20 runs each, loaded 2-core host):
// median −58 ms on Node 22, −22 ms on Node 20, for every runner start.
const require = createRequire(import.meta.url);
const httpRequest = (require("node:http") as typeof import("node:http")).request;
const httpsRequest = (require("node:https") as typeof import("node:https")).request;

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

/** What onRetry is told before each retry. */
export interface RetryInfo {
  method: string;
  path: string;
  attempt: number;
  delayMs: number;
  reason: string;
}

/** Settings of an ApiClient. */
export interface ApiClientOptions extends RetryOptions {
  /** Absolute base URL every path is appended to (no trailing slash). */
  baseUrl: string;
  token: string;
  /** Called before each retry (logging, tests). */
  onRetry?: (info: RetryInfo) => void;
}

/** A request body: bytes, or a factory of fresh streams (so a retry can resend). */
export type Body = Buffer | (() => Readable);

/** Reads a response to the end. */
export async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** HTTP status of a RunnerError raised for an API answer (undefined for network errors). */
export function errorStatus(err: unknown): number | undefined {
  if (!(err instanceof RunnerError)) return undefined;
  const status = err.details?.status;
  return typeof status === "number" ? status : undefined;
}

/** Requests against one base URL with the retry policy. */
export class ApiClient {
  private readonly opts: Required<Omit<ApiClientOptions, "onRetry">> & Pick<ApiClientOptions, "onRetry">;

  constructor(options: ApiClientOptions) {
    this.opts = { attempts: 6, baseDelayMs: 250, maxDelayMs: 8000, timeoutMs: 60_000, ...options };
  }

  private once(method: string, path: string, headers: Record<string, string>, body?: Body): Promise<IncomingMessage> {
    const url = new URL(this.opts.baseUrl + path);
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
   * its status is in `ok`; otherwise throws a RunnerError with the API's code and
   * `details.status`.
   */
  async send(
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

  /** A JSON request; resolves with the parsed answer. */
  async json<T>(method: string, path: string, ok: readonly number[], body?: unknown): Promise<T> {
    const buf = body === undefined ? undefined : Buffer.from(JSON.stringify(body), "utf8");
    const headers: Record<string, string> = { accept: "application/json" };
    if (buf) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(buf.length);
    }
    const res = await this.send(method, path, ok, headers, buf);
    return JSON.parse((await readAll(res)).toString("utf8")) as T;
  }
}
