/**
 * @module sandboxd/http
 * Small HTTP helpers for sandboxd: bounded body reading, JSON answers, the one
 * error writer (`{ error, code, details? }` with the HTTP status) and NDJSON
 * event streams with backpressure.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ZodType } from "zod";
import { badRequest, SandboxdError, tooLarge } from "./errors.ts";
import type { EventSink, ExecEvent } from "./exec.ts";

/** Reads the whole body, refusing (413) as soon as it passes `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (Number.isFinite(declared) && declared > limit) throw tooLarge("Request body", limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge("Request body", limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Parses a JSON body against `schema`; 400 INVALID_JSON or VALIDATION_ERROR (with the issues). */
export async function readJson<T>(req: IncomingMessage, limit: number, schema: ZodType<T>): Promise<T> {
  const raw = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString("utf8"));
  } catch {
    throw badRequest("Request body is not valid JSON", "INVALID_JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
    const first = issues[0];
    throw badRequest(first ? `${first.path || "body"}: ${first.message}` : "Invalid body", "VALIDATION_ERROR", {
      issues,
    });
  }
  return parsed.data;
}

/** Answers `body` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Answers an error. Unknown errors become 500 INTERNAL without their message
 * (it may name host paths); they are logged instead.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  let e: SandboxdError;
  if (err instanceof SandboxdError) e = err;
  else {
    console.error(`sandboxd: ${req.method} ${req.url?.split("?")[0]} failed:`, err);
    e = new SandboxdError(500, "INTERNAL", "sandboxd failed to handle the request");
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e.status === 413 || !req.complete) {
    // The rest of the body is not wanted: close after answering instead of reading it all.
    res.setHeader("connection", "close");
    res.once("finish", () => req.destroy());
    req.resume();
  }
  sendJson(res, e.status, { error: e.message, code: e.code, ...(e.details ? { details: e.details } : {}) });
}

/** Starts an NDJSON response and returns a sink writing one ExecEvent per line. */
export function ndjsonSink(res: ServerResponse): EventSink & { end(): void } {
  res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
  res.flushHeaders();
  return {
    write(event: ExecEvent): boolean {
      if (res.destroyed || res.writableEnded) return true;
      return res.write(`${JSON.stringify(event)}\n`);
    },
    onDrain(resume: () => void): void {
      // One-shot on whichever comes first, so repeated pauses do not pile up listeners.
      const once = () => {
        res.off("drain", once);
        res.off("close", once);
        resume();
      };
      res.on("drain", once);
      res.on("close", once);
    },
    end(): void {
      if (!res.writableEnded) res.end();
    },
  };
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}
