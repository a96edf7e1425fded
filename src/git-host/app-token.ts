/**
 * @module git-host/app-token
 * GitHub App authentication with WebCrypto: a JWT (RS256, 10 minutes, issued a
 * minute in the past for clock skew, as GitHub documents) signed with the App's
 * private key, then an installation token for ONE repository (contents and pull
 * requests write): `GET /repos/{owner}/{repo}/installation` → its id, `POST
 * /app/installations/{id}/access_tokens` with `repositories: [repo]`. GitHub
 * hands out keys as PKCS#1 ("BEGIN RSA PRIVATE KEY"); WebCrypto imports PKCS#8,
 * so a PKCS#1 key is wrapped first.
 */
import { BackendError } from "../errors";
import type { RepoRef } from "./config";
import { type CallOptions, githubCall, githubMessage } from "./github-api";

function base64url(bytes: Uint8Array | string): string {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  let bin = "";
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256);
  return [0x80 | out.length, ...out];
}

function der(tag: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const len = derLength(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** PKCS#8 DER of an RSA key given as PEM, PKCS#1 or PKCS#8. */
export function pkcs8FromPem(pem: string): Uint8Array<ArrayBuffer> {
  const m = /-----BEGIN (RSA )?PRIVATE KEY-----([\s\S]*?)-----END (RSA )?PRIVATE KEY-----/.exec(pem);
  if (!m) throw new BackendError("GITHUB_APP_PRIVATE_KEY is not a PEM private key", "BACKEND_ERROR");
  const bin = atob((m[2] as string).replace(/\s+/g, ""));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (!m[1]) return bytes;
  // PrivateKeyInfo { version 0, AlgorithmIdentifier { rsaEncryption, NULL }, OCTET STRING pkcs1 }
  const version = new Uint8Array([0x02, 0x01, 0x00]);
  const algorithm = new Uint8Array([
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
  ]);
  return der(0x30, concat(version, algorithm, der(0x04, bytes)));
}

/** The App's JWT for `now` (epoch ms). */
export async function appJwt(appId: string, privateKeyPem: string, now = Date.now()): Promise<string> {
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pkcs8FromPem(privateKeyPem),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const iat = Math.floor(now / 1000) - 60;
  const head = base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }));
  const claims = base64url(JSON.stringify({ iat, exp: iat + 600, iss: appId }));
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(`${head}.${claims}`));
  return `${head}.${claims}.${base64url(new Uint8Array(sig))}`;
}

/** An installation token scoped to `repo` alone, and when it expires (epoch ms). */
export async function installationToken(
  apiUrl: string,
  app: { appId: string; privateKey: string },
  repo: RepoRef,
  opts: CallOptions = {},
): Promise<{ token: string; expiresAt: number | null }> {
  const jwt = `Bearer ${await appJwt(app.appId, app.privateKey)}`;
  const path = `/repos/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.repo)}`;
  const inst = await githubCall(apiUrl, "GET", `${path}/installation`, jwt, opts);
  const id = (inst.body as { id?: unknown } | null)?.id;
  if (inst.status !== 200 || typeof id !== "number") {
    throw new BackendError(
      `The GitHub App is not installed on ${repo.owner}/${repo.repo}: ${githubMessage(inst)}`,
      "PUSH_AUTH_FAILED",
    );
  }
  const made = await githubCall(apiUrl, "POST", `/app/installations/${id}/access_tokens`, jwt, {
    ...opts,
    body: { repositories: [repo.repo], permissions: { contents: "write", pull_requests: "write" } },
  });
  const body = made.body as { token?: unknown; expires_at?: unknown } | null;
  if (made.status !== 201 || typeof body?.token !== "string") {
    throw new BackendError(`GitHub refused an installation token: ${githubMessage(made)}`, "PUSH_AUTH_FAILED");
  }
  const expiresAt = typeof body.expires_at === "string" ? Date.parse(body.expires_at) : Number.NaN;
  return { token: body.token, expiresAt: Number.isFinite(expiresAt) ? expiresAt : null };
}
