/**
 * The local counterpart of the Sandbox's outbound interception (src/backend/jail-egress.ts):
 * the Worker answers a jail's request for an intercepted host, carried here by its jail host,
 * only with SANDBOXD_TOKEN, only for the intercepted hosts, with the request as the jail sent
 * it (path, query, method, body, the runner's own Authorization) and without sandboxd's token.
 * Handlers here record; the real ones are the Sandbox's (sandbox-class.ts), pinned elsewhere.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isJailEgress, serveJailEgress } from "../../src/backend/jail-egress";
import { JAIL_EGRESS_PREFIX, RUNNER_INTERNAL_HOST, SANDBOXD_TOKEN_HEADER } from "../../src/shared/egress";

function recording() {
  const seen: Array<{ url: string; method: string; auth: string | null; sandboxd: string | null; body: string }> = [];
  const handler = async (request: Request) => {
    seen.push({
      url: request.url,
      method: request.method,
      auth: request.headers.get("authorization"),
      sandboxd: request.headers.get(SANDBOXD_TOKEN_HEADER),
      body: await request.text(),
    });
    return new Response("handled");
  };
  return { seen, handlers: { [RUNNER_INTERNAL_HOST]: handler } };
}

/** The workers project's SANDBOXD_TOKEN (vitest.config.ts). */
const TOKEN = env.SANDBOXD_TOKEN;
const url = (rest: string) => `http://127.0.0.1:8787${JAIL_EGRESS_PREFIX}/${rest}`;

describe("jail egress route", () => {
  it("is recognised by its prefix only", () => {
    expect(isJailEgress(new Request(url(`${RUNNER_INTERNAL_HOST}/x`)))).toBe(true);
    expect(isJailEgress(new Request("http://127.0.0.1:8787/jail-egressx/y"))).toBe(false);
    expect(isJailEgress(new Request("http://127.0.0.1:8787/sandboxes/p"))).toBe(false);
    expect(isJailEgress(new Request(`http://127.0.0.1:8787/sandboxes/p?next=${JAIL_EGRESS_PREFIX}/x`))).toBe(false);
    expect(isJailEgress(new Request(`http://127.0.0.1:8787/x${JAIL_EGRESS_PREFIX}/y`))).toBe(false);
    expect(isJailEgress(new Request("http://127.0.0.1:8787"))).toBe(false);
  });

  it("hands the jail's request to the intercepted host's handler, without sandboxd's token", async () => {
    const { seen, handlers } = recording();
    const res = await serveJailEgress(
      new Request(url(`${RUNNER_INTERNAL_HOST}/runner/v1/projects/p/head?a=1`), {
        method: "POST",
        headers: { authorization: "Bearer runner", [SANDBOXD_TOKEN_HEADER]: TOKEN },
        body: "payload",
      }),
      env,
      handlers,
    );
    expect(await res.text()).toBe("handled");
    expect(seen).toEqual([
      {
        url: `http://${RUNNER_INTERNAL_HOST}/runner/v1/projects/p/head?a=1`,
        method: "POST",
        auth: "Bearer runner",
        sandboxd: null,
        body: "payload",
      },
    ]);
  });

  it("refuses without sandboxd's token, for other hosts, and where no jail host is configured", async () => {
    const { seen, handlers } = recording();
    const ask = (rest: string, token: string | null, e: Env = env) =>
      serveJailEgress(
        new Request(url(rest), { headers: token === null ? {} : { [SANDBOXD_TOKEN_HEADER]: token } }),
        e,
        handlers,
      );
    expect((await ask(`${RUNNER_INTERNAL_HOST}/x`, null)).status).toBe(401);
    expect((await ask(`${RUNNER_INTERNAL_HOST}/x`, "wrong")).status).toBe(401);
    const other = await ask("evil.example/x", TOKEN);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: string }).error).toContain(RUNNER_INTERNAL_HOST);
    expect((await ask("constructor/x", TOKEN)).status).toBe(404);
    const onCloudflare = { ...env, SANDBOXD_URL: "" } as Env;
    expect((await ask(`${RUNNER_INTERNAL_HOST}/x`, TOKEN, onCloudflare)).status).toBe(404);
    expect(seen).toHaveLength(0);
  });
});
