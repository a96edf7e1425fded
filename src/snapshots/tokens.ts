/**
 * @module snapshots/tokens
 * Runner tokens: what a runner in a sandbox presents to the runner API instead of
 * the API_TOKEN (which never enters a sandbox). Format:
 *   rt1.<base64url(JSON {p: projectId, j?: jobId, a?: attempt, exp: unix seconds})>.<base64url(HMAC-SHA256)>
 * The MAC covers "rt1.<payload>". A token names exactly one project, so a token for
 * project A can never read or write project B. A job token (with `j`) also opens the
 * job routes of that one job (`verifyJob`); `a` pins the lease attempt it was minted
 * for, so a runner presumed dead cannot act on the job's next attempt; the runner API's
 * gate (routes/runner-auth.ts) also refuses a job token once its job's lease is gone,
 * whatever its expiry says. The key is RUNNER_TOKEN_SECRET, or
 * HMAC(API_TOKEN, "runner-token-v1") when that is unset; with neither, every token
 * is refused (fail closed), as with the API itself.
 */
import { UnauthorizedError } from "../errors";

const PREFIX = "rt1";
const DERIVATION_LABEL = "runner-token-v1";

/** What a verified token says. */
export interface RunnerTokenClaims {
  projectId: string;
  jobId?: string;
  /** The job's lease attempt the token was minted for (job tokens from src/runner-driver/job.ts). */
  attempt?: number;
  /** Expiry, unix seconds. */
  exp: number;
}

export interface RunnerTokens {
  /** A token for `projectId` (optionally one job, and one attempt of it) valid for `ttlSeconds`. */
  mint(projectId: string, ttlSeconds: number, jobId?: string, attempt?: number): Promise<string>;
  /** The claims of `token` if it is genuine, unexpired and for `projectId`; otherwise UnauthorizedError. */
  verify(token: string, projectId: string): Promise<RunnerTokenClaims>;
  /** The claims of `token` if it is genuine, unexpired and scoped to job `jobId`; otherwise UnauthorizedError. */
  verifyJob(token: string, jobId: string): Promise<RunnerTokenClaims & { jobId: string }>;
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

async function hmacKey(secret: Uint8Array, usages: Array<"sign" | "verify">): Promise<CryptoKey> {
  return await crypto.subtle.importKey("raw", secret, { name: "HMAC", hash: "SHA-256" }, false, usages);
}

/** The signing secret: RUNNER_TOKEN_SECRET, else derived from API_TOKEN, else null (refuse all). */
export async function runnerTokenSecret(secrets: {
  RUNNER_TOKEN_SECRET?: string | undefined;
  API_TOKEN?: string | undefined;
}): Promise<Uint8Array | null> {
  if (secrets.RUNNER_TOKEN_SECRET) return encoder.encode(secrets.RUNNER_TOKEN_SECRET);
  if (!secrets.API_TOKEN) return null;
  const key = await hmacKey(encoder.encode(secrets.API_TOKEN), ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(DERIVATION_LABEL)));
}

/**
 * Token minting and checking over `secret` (null = not configured: mint and verify
 * throw UnauthorizedError). A promise is accepted because deriving the secret is async.
 */
export function createRunnerTokens(
  secret: Uint8Array | null | Promise<Uint8Array | null>,
  now: () => number = Date.now,
): RunnerTokens {
  let keyPromise: Promise<CryptoKey | null> | undefined;
  const key = async (): Promise<CryptoKey> => {
    keyPromise ??= Promise.resolve(secret).then((s) => (s ? hmacKey(s, ["sign", "verify"]) : null));
    const k = await keyPromise;
    if (!k) throw new UnauthorizedError("No runner token secret is configured (RUNNER_TOKEN_SECRET or API_TOKEN)");
    return k;
  };

  /** Genuine and unexpired: the claims; any scope check is the caller's. */
  async function check(token: string): Promise<RunnerTokenClaims> {
    const parts = token.split(".");
    const [prefix, payload, mac] = parts;
    const macBytes = mac === undefined ? null : fromBase64url(mac);
    if (parts.length !== 3 || prefix !== PREFIX || !payload || !macBytes) {
      throw new UnauthorizedError("Not a runner token");
    }
    // subtle.verify compares in constant time.
    const genuine = await crypto.subtle.verify("HMAC", await key(), macBytes, encoder.encode(`${prefix}.${payload}`));
    if (!genuine) throw new UnauthorizedError("Invalid runner token");
    const payloadBytes = fromBase64url(payload);
    let claims: { p?: unknown; j?: unknown; a?: unknown; exp?: unknown };
    try {
      claims = JSON.parse(new TextDecoder().decode(payloadBytes ?? new Uint8Array()));
    } catch {
      throw new UnauthorizedError("Invalid runner token");
    }
    if (typeof claims.p !== "string" || typeof claims.exp !== "number") {
      throw new UnauthorizedError("Invalid runner token");
    }
    if (claims.exp * 1000 <= now()) throw new UnauthorizedError("Runner token expired");
    return {
      projectId: claims.p,
      exp: claims.exp,
      ...(typeof claims.j === "string" ? { jobId: claims.j } : {}),
      ...(typeof claims.a === "number" ? { attempt: claims.a } : {}),
    };
  }

  return {
    async mint(projectId, ttlSeconds, jobId, attempt) {
      const exp = Math.floor(now() / 1000) + Math.max(1, Math.floor(ttlSeconds));
      const claims =
        jobId === undefined
          ? { p: projectId, exp }
          : { p: projectId, j: jobId, ...(attempt === undefined ? {} : { a: attempt }), exp };
      const signed = `${PREFIX}.${base64url(encoder.encode(JSON.stringify(claims)))}`;
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await key(), encoder.encode(signed)));
      return `${signed}.${base64url(mac)}`;
    },

    async verify(token, projectId) {
      const claims = await check(token);
      if (claims.projectId !== projectId) throw new UnauthorizedError("Runner token is for another project");
      return claims;
    },

    async verifyJob(token, jobId) {
      const claims = await check(token);
      if (claims.jobId !== jobId) throw new UnauthorizedError("Runner token is not for this job");
      return { ...claims, jobId };
    },
  };
}
