/**
 * @module test/support/runner-token
 * Runner tokens minted from Node, as src/snapshots/tokens.ts mints them in the
 * Worker (that module uses Web Crypto's workerd typings and extensionless imports,
 * so Node scripts cannot load it directly):
 * rt1.<base64url(JSON {p, exp})>.<base64url(HMAC-SHA256(secret, "rt1.<payload>"))>.
 * For tests and benchmarks that run the runner the way the Worker would.
 */
import { createHmac } from "node:crypto";

/** A project token for `projectId`, valid `ttlSeconds`, signed with RUNNER_TOKEN_SECRET `secret`. */
export function mintRunnerToken(secret: string, projectId: string, ttlSeconds: number): string {
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const signed = `rt1.${Buffer.from(JSON.stringify({ p: projectId, exp })).toString("base64url")}`;
  return `${signed}.${createHmac("sha256", secret).update(signed).digest("base64url")}`;
}
