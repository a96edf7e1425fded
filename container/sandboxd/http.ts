/**
 * @module sandboxd/http
 * Small HTTP helpers for sandboxd: bounded body reading, JSON answers, the one
 * error writer (`{ error, code, details? }` with the HTTP status), and the
 * streaming reverse proxy (plain
 * requests and upgrades) that carries a jail's container traffic to its socket.
 */
import {
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ZodType } from "zod";
import { badRequest, SandboxdError, tooLarge } from "./errors.ts";

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

/**
 * Parses a JSON body against `schema`; 400 INVALID_JSON or VALIDATION_ERROR (with the issues).
 * An empty body is `{}` where `emptyIsObject` says so.
 */
export async function readJson<T>(
  req: IncomingMessage,
  limit: number,
  schema: ZodType<T>,
  emptyIsObject = false,
): Promise<T> {
  const raw = await readBody(req, limit);
  let value: unknown;
  try {
    value = emptyIsObject && raw.byteLength === 0 ? {} : JSON.parse(raw.toString("utf8"));
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

/** `err` as the error to answer; anything unknown is logged and becomes 500 INTERNAL. */
function asSandboxdError(req: IncomingMessage, err: unknown): SandboxdError {
  if (err instanceof SandboxdError) return err;
  console.error(`sandboxd: ${req.method} ${req.url?.split("?")[0]} failed:`, err);
  return new SandboxdError("INTERNAL_ERROR", "sandboxd failed to handle the request");
}

function errorBody(e: SandboxdError): Record<string, unknown> {
  return { error: e.message, code: e.code, ...(e.details ? { details: e.details } : {}) };
}

/**
 * Answers an error. Unknown errors become 500 INTERNAL_ERROR without their message
 * (it may name host paths); they are logged instead.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const e = asSandboxdError(req, err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e.code === "PAYLOAD_TOO_LARGE" || !req.complete) {
    // The rest of the body is not wanted: close after answering instead of reading it all.
    res.setHeader("connection", "close");
    res.once("finish", () => req.destroy());
    req.resume();
  }
  sendJson(res, e.status, errorBody(e));
}

/** Answers an error on the raw socket of an upgrade request (no ServerResponse exists there), then closes it. */
export function sendRawError(req: IncomingMessage, socket: Duplex, err: unknown): void {
  const e = asSandboxdError(req, err);
  if (socket.destroyed) return;
  const text = JSON.stringify(errorBody(e));
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ""}\r\n` +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) ac.abort();
  });
  return ac.signal;
}

/** Headers that describe one connection, not the message: never forwarded (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
]);

/** The header names a message's `Connection` header lists (hop-by-hop too). */
function connectionListed(value: string | string[] | undefined): Set<string> {
  const text = Array.isArray(value) ? value.join(",") : (value ?? "");
  return new Set(
    text
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** `headers` without the hop-by-hop ones (and those `Connection` names) and without `drop` (lower case). */
export function forwardHeaders(headers: IncomingHttpHeaders, drop: readonly string[] = []): OutgoingHttpHeaders {
  const listed = connectionListed(headers.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || drop.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Raw header lines (`rawHeaders` keeps case and repeats) without the hop-by-hop ones but `keep`. */
function rawHeaderLines(raw: string[], keep: readonly string[] = []): string {
  const listed = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === "connection") for (const n of connectionListed(raw[i + 1])) listed.add(n);
  }
  let out = "";
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    const lower = name.toLowerCase();
    if (!keep.includes(lower) && (HOP_BY_HOP.has(lower) || listed.has(lower))) continue;
    out += `${name}: ${raw[i + 1]}\r\n`;
  }
  return out;
}

/** Where a proxied request goes: a unix socket (or a TCP host and port) and the path (with its query) on it. */
export interface ProxyTarget {
  socketPath?: string;
  /** Makes the connection itself (a jail's ports socket, jails.ts portFor), instead of socketPath or host. */
  connect?: () => Socket;
  host?: string;
  port?: number;
  path: string;
  /** Request headers dropped besides the hop-by-hop ones (lower case); sandboxd's own bearer token by default. */
  drop?: readonly string[];
  /** Request headers set. */
  set?: OutgoingHttpHeaders;
  /** What the error names when the target does not answer. */
  name?: string;
  /** Called once the connection is made or has failed (runtime-socket.ts: the socket's fd is closed). */
  connected?: () => void;
}

/** Calls `target.connected` once `upstream` has its connection (or failed to get one). */
function onConnected(upstream: ClientRequest, target: ProxyTarget): void {
  const done = target.connected;
  if (!done) return;
  upstream.once("socket", (socket) => {
    socket.once("connect", done);
  });
  upstream.once("error", done);
  upstream.once("close", done);
}

/** Headers sandboxd keeps to itself: its own bearer token never reaches a jail. */
const PROXY_DROP = ["authorization"];

function proxyFailed(err: Error, name = "The jail's runtime"): SandboxdError {
  return new SandboxdError("JAIL_PROXY_FAILED", `${name} did not answer: ${err.message}`);
}

/**
 * Forwards `req` to `target` and its answer back, streaming both bodies (backpressure
 * by pipe, the answer's headers flushed at once so SSE events arrive as written).
 * Status and headers pass through but hop-by-hop ones; the client going away aborts
 * the upstream request (the runtime sees its connection close); the runtime going
 * away mid-answer cuts the client's connection rather than ending it cleanly.
 * Settles when the exchange is over; rejects only before an answer was started.
 */
export function proxyHttp(req: IncomingMessage, res: ServerResponse, target: ProxyTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: SandboxdError) => {
      if (settled) return;
      settled = true;
      if (err && !res.headersSent && !res.destroyed) reject(err);
      else resolve();
    };
    const upstream = request({
      socketPath: target.socketPath,
      host: target.host,
      port: target.port,
      path: target.path,
      method: req.method,
      headers: { ...forwardHeaders(req.headers, target.drop ?? PROXY_DROP), ...target.set },
      // One connection per request: a pooled one could outlive its runtime, and a socket
      // path (/proc/self/fd/N) names another socket once its fd is closed. (Node takes
      // createConnection only without an agent, and then pools nothing either.)
      ...(target.connect ? { createConnection: target.connect } : { agent: false }),
    });
    onConnected(upstream, target);
    upstream.on("response", (up) => {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, forwardHeaders(up.headers));
      res.flushHeaders();
      up.pipe(res);
      up.on("close", () => {
        if (!up.complete) res.destroy();
      });
      res.once("finish", () => settle());
    });
    upstream.on("error", (err) => {
      if (res.headersSent) res.destroy();
      settle(proxyFailed(err, target.name));
    });
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
      settle();
    });
    req.once("error", () => upstream.destroy());
    // A small body goes in one write with the headers: Bun closed ~1 in 10 connections whose
    // short body arrived in a second write (the proxy then failed with EPIPE). Large bodies stream.
    const length = Number(req.headers["content-length"] ?? Number.NaN);
    if (length <= SMALL_BODY_BYTES) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.once("end", () => upstream.end(Buffer.concat(chunks)));
    } else req.pipe(upstream);
  });
}

/** Request bodies up to this size are sent to a jail in one piece (see proxyHttp). */
const SMALL_BODY_BYTES = 1024 * 1024;

/** Pipes `a` and `b` into each other until either closes or fails; then both are destroyed. */
export function spliceSockets(a: Duplex, b: Duplex): void {
  const close = () => {
    a.destroy();
    b.destroy();
  };
  for (const s of [a, b]) {
    s.once("error", close);
    s.once("close", close);
  }
  a.pipe(b);
  b.pipe(a);
}

/**
 * Forwards an upgrade request (a websocket) to `target`. On 101 the runtime's answer
 * goes back verbatim and the two sockets are piped into each other until either
 * closes; a refusal (any other status) goes back as the runtime sent it, then the
 * connection closes. The client closing first aborts the upstream request.
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ProxyTarget): void {
  const headers = { ...forwardHeaders(req.headers, target.drop ?? PROXY_DROP), ...target.set };
  headers.connection = "Upgrade";
  if (req.headers.upgrade) headers.upgrade = req.headers.upgrade;
  const upstream = request({
    socketPath: target.socketPath,
    path: target.path,
    method: req.method,
    headers,
    ...(target.connect ? { createConnection: target.connect } : { agent: false }),
  });
  onConnected(upstream, target);
  const abort = () => upstream.destroy();
  socket.once("close", abort);
  upstream.on("upgrade", (up, upSocket, upHead) => {
    socket.off("close", abort);
    const status = `HTTP/1.1 ${up.statusCode} ${up.statusMessage ?? ""}\r\n`;
    socket.write(`${status}${rawHeaderLines(up.rawHeaders, ["connection", "upgrade"])}\r\n`);
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    (socket as Socket).setNoDelay?.(true);
    upSocket.setNoDelay(true);
    spliceSockets(upSocket, socket);
  });
  upstream.on("response", (up) => {
    socket.off("close", abort);
    socket.once("close", () => up.destroy());
    socket.write(
      `HTTP/1.1 ${up.statusCode} ${up.statusMessage ?? ""}\r\n${rawHeaderLines(up.rawHeaders)}connection: close\r\n\r\n`,
    );
    up.pipe(socket);
  });
  upstream.on("error", (err) => {
    socket.off("close", abort);
    sendRawError(req, socket, proxyFailed(err, target.name));
  });
  upstream.end();
}
