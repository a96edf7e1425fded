/**
 * Preview URLs (issue 13, point 4) through the real entry, the real Sandbox Durable Object and
 * a real jail: a server started in the sandbox answers at the URL POST /ports gives; a wrong
 * token, a port not exposed and a revoked one are refused; the API's bearer token does not
 * reach the sandbox; a websocket goes through; validation refuses what no preview URL can be. The same through
 * `wrangler dev` with a `*.localhost` host is in test/node/http-edges-e2e.test.ts.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { httpClient } from "../../src/client";
import { apiJson, createProject, TOKEN, uniqueProject } from "./support/http";

type Port = { port: number; name: string | null; url: string | null; active: boolean };

/** A request to a preview URL (no API token unless given). */
async function preview(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return await exports.default.fetch(new Request(url, { headers }));
}

/** The Sandbox's refusal of a preview request (the SDK's answer, not the API's envelope). */
async function refusal(url: string): Promise<{ status: number; code: unknown }> {
  const res = await preview(url);
  return { status: res.status, code: ((await res.json()) as { code?: unknown }).code };
}

/** A server that answers each GET with the path and headers it saw, as JSON. */
const ECHO_SERVER = `
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
http.server.HTTPServer(("127.0.0.1", 8081), H).serve_forever()
`;

describe("preview URLs", () => {
  it("refuses ports no preview may expose, bad bodies, and project ids too long for a DNS label", async () => {
    const p = uniqueProject("ports-bad");
    for (const body of [{ port: 80 }, { port: 3000 }, { port: 70000 }, { port: "8080" }, { port: 8080, x: 1 }, {}]) {
      const res = await apiJson(`/sandboxes/${p}/ports`, { method: "POST", json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("VALIDATION_ERROR");
    }
    const long = `p${"x".repeat(44)}`;
    const res = await apiJson(`/sandboxes/${long}/ports`, { method: "POST", json: { port: 8080 } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("PREVIEW_URL_INVALID");
    // Called at a workers.dev host (no PREVIEW_HOSTNAME): no wildcard subdomains there.
    const onWorkersDev = await exports.default.fetch(
      new Request(`https://sandbox-worker.someone.workers.dev/sandboxes/${p}/ports`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ port: 8080 }),
      }),
    );
    expect(onWorkersDev.status).toBe(400);
    expect(((await onWorkersDev.json()) as { code: string }).code).toBe("PREVIEW_URL_INVALID");
    expect((await apiJson(`/sandboxes/${p}/ports/abc`, { method: "DELETE" })).status).toBe(400);
    expect((await apiJson(`/sandboxes/${p}/ports/3000`, { method: "DELETE" })).status).toBe(400);
    // Listing starts nothing: a sandbox never created is not found.
    const list = await apiJson(`/sandboxes/${p}/ports`);
    expect(list.status).toBe(404);
    expect(list.body.code).toBe("SANDBOX_NOT_FOUND");
    expect((await apiJson(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8080 }, auth: false })).status).toBe(
      401,
    );
  });

  it("serves python3 -m http.server at its URL, refuses a wrong token and unexposed ports, and revokes", async () => {
    const p = await createProject("ports");
    await apiJson(`/sandboxes/${p}/files/workspace/hello.txt`, { method: "PUT", json: { content: "hi from 8080\n" } });
    await apiJson(`/sandboxes/${p}/files/workspace/echo.py`, { method: "PUT", json: { content: ECHO_SERVER } });
    for (const command of ["python3 -m http.server 8080 --bind 127.0.0.1", "python3 echo.py"]) {
      expect((await apiJson(`/sandboxes/${p}/processes`, { method: "POST", json: { command } })).status).toBe(201);
    }

    const exposed = await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8080, name: "web" } });
    expect(exposed.status, JSON.stringify(exposed.body)).toBe(201);
    const url = exposed.body.data.url ?? "";
    expect(url).toMatch(new RegExp(`^https://8080-${p}-[a-z0-9_]{16}\\.sandbox\\.test/$`));
    expect(exposed.body.data).toMatchObject({ port: 8080, name: "web", active: true });
    // Exposing again keeps the URL.
    const again = await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8080, name: "web" } });
    expect(again.body.data.url).toBe(url);

    await expect.poll(async () => (await preview(`${url}hello.txt`)).status, { timeout: 10_000 }).toBe(200);
    expect(await (await preview(`${url}hello.txt`)).text()).toBe("hi from 8080\n");

    // A wrong token, and a port that is listening but not exposed, are refused by the Sandbox.
    const token = new URL(url).hostname.split(".")[0]?.split("-").pop() ?? "";
    const wrong = url.replace(`-${token}.`, `-${token.replace(/^./, token[0] === "a" ? "b" : "a")}.`);
    const denied = { status: 404, code: "INVALID_TOKEN" };
    expect(await refusal(`${wrong}hello.txt`)).toEqual(denied);
    const unexposed = url.replace(/^https:\/\/8080-/, "https://8081-");
    expect(await refusal(unexposed)).toEqual(denied);

    // The API's bearer token, sent along by mistake, does not reach the server; other headers do.
    const echo = await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8081 } });
    const echoUrl = echo.body.data.url ?? "";
    await expect.poll(async () => (await preview(echoUrl)).status, { timeout: 10_000 }).toBe(200);
    const seen = (await (
      await preview(`${echoUrl}a/b?c=1`, { authorization: `Bearer ${TOKEN}`, "x-app": "kept" })
    ).json()) as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe("/a/b?c=1");
    expect(seen.headers["x-app"]).toBe("kept");
    expect(JSON.stringify(seen)).not.toContain(TOKEN);
    const basic = (await (await preview(echoUrl, { authorization: "Basic dTpw" })).json()) as {
      headers: Record<string, string>;
    };
    expect(basic.headers.authorization).toBe("Basic dTpw");

    // A websocket: upgraded through the Sandbox and the jail host, both ways.
    const wsServer = `Bun.serve({ port: 8082, hostname: "127.0.0.1", fetch: (r, s) => (s.upgrade(r) ? undefined : new Response("no")), websocket: { message: (ws, m) => ws.send("echo:" + m) } })`;
    await apiJson(`/sandboxes/${p}/files/workspace/ws.js`, { method: "PUT", json: { content: wsServer } });
    await apiJson(`/sandboxes/${p}/processes`, { method: "POST", json: { command: "/opt/sandbox-runtime/bun ws.js" } });
    const wsUrl = (await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8082 } })).body.data
      .url;
    await expect.poll(async () => (await preview(wsUrl ?? "")).status, { timeout: 10_000 }).toBe(200);
    const upgraded = await preview(wsUrl ?? "", { upgrade: "websocket" });
    expect(upgraded.status).toBe(101);
    const ws = upgraded.webSocket;
    if (!ws) throw new Error("no websocket in the 101 answer");
    ws.accept();
    const reply = new Promise<string>((resolve) => ws.addEventListener("message", (e) => resolve(String(e.data))));
    ws.send("ping");
    expect(await reply).toBe("echo:ping");
    ws.close();

    // The typed client lists them as the API does (its base URL's host is the preview hostname here).
    const client = httpClient({ baseUrl: "http://sandbox.test", token: TOKEN, fetcher: exports.default });
    expect((await client.listPorts(p)).ports).toEqual([
      { port: 8080, name: "web", url, active: true },
      { port: 8081, name: null, url: echoUrl, active: true },
      { port: 8082, name: null, url: wsUrl, active: true },
    ]);

    expect((await apiJson(`/sandboxes/${p}/ports/8080`, { method: "DELETE" })).status).toBe(200);
    expect(await refusal(`${url}hello.txt`)).toEqual(denied);
    await expect(client.unexposePort(p, 8080)).rejects.toMatchObject({ code: "PORT_NOT_EXPOSED", status: 404 });
    const after = await apiJson<{ ports: Port[] }>(`/sandboxes/${p}/ports`);
    expect(after.body.data.ports.map((x) => x.port)).toEqual([8081, 8082]);
    await apiJson(`/sandboxes/${p}?destroy=true&snapshot=false`, { method: "DELETE" });
  }, 60_000);

  it("answers 410 once the container restarted, until the port is exposed again (same URL)", async () => {
    const p = await createProject("ports-restart");
    const serve = { command: "python3 -m http.server 8080 --bind 127.0.0.1" };
    await apiJson(`/sandboxes/${p}/processes`, { method: "POST", json: serve });
    const url = (await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8080 } })).body.data.url;
    await expect.poll(async () => (await preview(url ?? "")).status, { timeout: 10_000 }).toBe(200);

    // The container dies (its jail's runtime killed from outside, as a crash would).
    const jail = env.Sandbox.idFromName(p).toString();
    const sandboxd = env.SANDBOXD;
    if (!sandboxd) throw new Error("the workers project binds SANDBOXD (vitest.config.ts)");
    const killed = await sandboxd.fetch(`${env.SANDBOXD_URL}/jails/${jail}/signal`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.SANDBOXD_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ signal: "SIGKILL" }),
    });
    expect(killed.status).toBe(200);
    await expect.poll(async () => (await preview(url ?? "")).status, { timeout: 10_000 }).toBe(410);
    const listed = await apiJson<{ ports: Port[] }>(`/sandboxes/${p}/ports`);
    expect(listed.body.data.ports).toEqual([{ port: 8080, name: null, url: null, active: false }]);

    // Exposing again (the sandbox starts anew) reactivates the same URL.
    const again = await apiJson<Port>(`/sandboxes/${p}/ports`, { method: "POST", json: { port: 8080 } });
    expect(again.body.data.url).toBe(url);
    await apiJson(`/sandboxes/${p}/processes`, { method: "POST", json: serve });
    await expect.poll(async () => (await preview(url ?? "")).status, { timeout: 10_000 }).toBe(200);
    await apiJson(`/sandboxes/${p}?destroy=true&snapshot=false`, { method: "DELETE" });
  }, 60_000);
});
