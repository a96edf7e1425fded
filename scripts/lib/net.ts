/**
 * @module scripts/lib/net
 * Small loopback-network helpers for the dev script and the benchmark: free ports,
 * waiting until a server answers, and random tokens.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { ManagedChild } from "./proc.ts";

/** A port that is free on 127.0.0.1 right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export async function portIsFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A URL-safe random token (24 bytes of entropy). */
export function randomToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Options for {@link waitForHttp}. */
export interface WaitOptions {
  timeoutMs: number;
  /** Fail early if this child exits while we wait. */
  child?: ManagedChild;
  /** Which responses count as "up". Default: any HTTP response at all. */
  accept?: (res: Response) => boolean;
  headers?: Record<string, string>;
}

/**
 * Polls `url` until it answers as `accept` wants; returns that response's body text.
 * Throws when the time is up or the watched child exits first.
 */
/** How long one probe of waitForHttp may take, answer and body together. */
const PROBE_MS = 2000;

/**
 * One GET of `url`, answer and body within PROBE_MS. The abort signal alone did not always
 * end it: a start of `wrangler dev` hung for minutes after two slow /health answers (~2 s,
 * one read past its abort), with no further request sent. So the probe is also raced
 * against a timer of its own, and its connection is not kept for the next probe.
 */
async function probe(url: string, headers?: Record<string, string>): Promise<{ res: Response; body: string }> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${PROBE_MS} ms`));
    }, PROBE_MS);
  });
  const attempt = (async () => {
    const res = await fetch(url, { headers: { ...headers, connection: "close" }, signal: abort.signal });
    return { res, body: await res.text() };
  })();
  attempt.catch(() => {}); // settles after the race is lost: not an unhandled rejection
  try {
    return await Promise.race([attempt, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export async function waitForHttp(url: string, opts: WaitOptions): Promise<string> {
  const deadline = Date.now() + opts.timeoutMs;
  let exited: number | null = null;
  void opts.child?.exited.then((code) => {
    exited = code;
  });
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`${opts.child?.name} exited with code ${exited} before ${url} answered`);
    try {
      const { res, body } = await probe(url, opts.headers);
      if (opts.accept ? opts.accept(res) : true) return body;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${opts.timeoutMs} ms (${last})`);
}
