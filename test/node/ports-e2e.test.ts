/**
 * Preview URLs through `wrangler dev`, as a browser or curl on the host reaches them under
 * `npm run dev`: `http://<port>-<id>-<token>.localhost:<port>/` (`*.localhost` is the loopback
 * in browsers and curl; here the request goes to 127.0.0.1 with that Host header). A
 * `python3 -m http.server` in the sandbox answers; a wrong token and a port not exposed are
 * refused. The API's side (listing, revoking, validation, headers) is test/worker/ports.test.ts.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../support/stack.ts";

let stack: Stack;
const p = "ports-e2e";

/** GET `url` from the Worker's address with `url`'s host as the Host header; status and body. */
function get(url: string): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const worker = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: worker.hostname, port: worker.port, path: target.pathname, headers: { host: target.host } },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("preview URLs through wrangler dev", () => {
  beforeAll(async () => {
    stack = await startStack();
    expect((await stack.call("POST", `/sandboxes/${p}`)).status).toBe(200);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it("serves python3 -m http.server at http://8080-<id>-<token>.localhost:<port>/ and refuses the rest", async () => {
    const write = await stack.call("PUT", `/sandboxes/${p}/files/workspace/index.html`, {
      content: "<h1>preview</h1>",
    });
    expect(write.status).toBe(200);
    const started = await stack.call("POST", `/sandboxes/${p}/processes`, { command: "python3 -m http.server 8080" });
    expect(started.status).toBe(201);
    const exposed = await stack.call("POST", `/sandboxes/${p}/ports`, { port: 8080 });
    expect(exposed.status, JSON.stringify(exposed.body)).toBe(201);
    const url = String(exposed.body.data?.url);
    const workerPort = new URL(stack.url).port;
    expect(url).toMatch(new RegExp(`^http://8080-${p}-[a-z0-9_]{16}\\.localhost:${workerPort}/$`));

    await expect.poll(async () => (await get(url)).status, { timeout: 15_000 }).toBe(200);
    expect((await get(url)).body).toBe("<h1>preview</h1>");

    const token = new URL(url).hostname.split(".")[0]?.split("-").pop() ?? "";
    const wrong = url.replace(`-${token}.`, `-${"0".repeat(token.length)}.`);
    const refusedToken = await get(wrong);
    expect(refusedToken.status).toBe(404);
    expect(refusedToken.body).toContain("INVALID_TOKEN");
    const refusedPort = await get(url.replace("http://8080-", "http://8081-"));
    expect(refusedPort.status).toBe(404);
    expect(refusedPort.body).toContain("INVALID_TOKEN");
  }, 60_000);
});
