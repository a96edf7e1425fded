/**
 * @module test/node/sandboxd/network.test
 * A jail's network, attacked from inside a real jail: nothing on the host's loopback is
 * reachable (a server of the test, sandboxd itself, the host through slirp4netns's
 * gateway), a jail's own server is not reachable from the host, and the only ways out are
 * the jail host's: the Worker's hosts carried to the Worker's jail egress route with
 * sandboxd's token (a stand-in Worker on 127.0.0.1 records what arrives), and the host
 * ports SANDBOXD_HOST_PORTS lets in. The internet through slirp4netns is internet.test.ts.
 * The one way in: `/jails/:id/ports/:port/...` (preview URLs) to a server on the jail's own
 * loopback, with sandboxd's token kept out and the client's Authorization carried.
 */
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JAIL_EGRESS_PREFIX, RUNNER_INTERNAL_HOST, SANDBOXD_TOKEN_HEADER } from "../../../src/shared/egress.ts";
import { MODELS_INTERNAL_HOST } from "../../../src/shared/model-egress.ts";
import { type RunningSandboxd, startSandboxd } from "../../support/sandboxd-process.ts";
import { call, execInJail, newJailId, runtimeEnv } from "./helpers.ts";

const env = await runtimeEnv();
const TOKEN = "network-test-sandboxd-token";
const A = newJailId();

/** A server on the host's loopback that answers who asked, and records the request. */
interface Recorder {
  server: Server;
  port: number;
  seen: Array<{ url: string; headers: Record<string, string | string[] | undefined>; body: string }>;
}

async function recorder(answer: string): Promise<Recorder> {
  const rec: Recorder = { server: createServer(), port: 0, seen: [] };
  rec.server.on("request", (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString();
    });
    req.on("end", () => {
      rec.seen.push({ url: req.url ?? "", headers: req.headers, body });
      res.end(answer);
    });
  });
  await new Promise<void>((r) => rec.server.listen(0, "127.0.0.1", r));
  rec.port = (rec.server.address() as { port: number }).port;
  return rec;
}

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

/** From inside the jail: OPEN or CLOSED for a TCP connect to host:port (bash's /dev/tcp, 3 s at most). */
const connectProbe = (host: string, port: number) =>
  `timeout 3 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null && echo OPEN || echo CLOSED`;

/** From inside the jail: an HTTP request with Bun (the runtime's, in every jail); prints status and body. */
const bunFetch = (url: string, init: Record<string, unknown> = {}) =>
  `/opt/sandbox-runtime/bun -e 'const r = await fetch(${JSON.stringify(url)}, ${JSON.stringify(init)}); console.log(r.status, await r.text())'`;

let sd: RunningSandboxd;
let worker: Recorder;
let allowed: Recorder;
let secret: Recorder;

beforeAll(async () => {
  [worker, allowed, secret] = await Promise.all([recorder("worker"), recorder("allowed"), recorder("host secret")]);
  sd = await startSandboxd({
    token: TOKEN,
    env: { ...env, SANDBOXD_HOST_PORTS: String(allowed.port), SANDBOXD_INTERNET: "off" },
  });
  const started = await call(sd, "POST", `/jails/${A}`, { json: { egressUrl: `http://127.0.0.1:${worker.port}` } });
  expect(started.status, started.text).toBe(200);
});
afterAll(async () => {
  await sd?.stop();
  for (const r of [worker, allowed, secret]) r?.server.close();
});

const run = async (command: string) => await execInJail(sd, A, command);

describe("a jail's network", () => {
  it("says what it lets in", () => {
    expect(sd.output()).toContain(`HOST LOOPBACK PORTS LET IN: ${allowed.port}`);
  });

  it("reaches nothing on the host's loopback: a test server, sandboxd, the gateway, ::1", async () => {
    const sandboxdPort = Number(new URL(sd.url).port);
    const probes = [
      connectProbe("127.0.0.1", secret.port),
      connectProbe("127.0.0.1", sandboxdPort),
      connectProbe("10.0.2.2", secret.port),
      connectProbe("::1", secret.port),
    ];
    const r = await run(probes.join("; "));
    expect(r.stdout).toBe("CLOSED\nCLOSED\nCLOSED\nCLOSED\n");
    expect(secret.seen).toHaveLength(0);
  });

  it("has only its loopback (no internet here: SANDBOXD_INTERNET=off)", async () => {
    const r = await run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /etc/resolv.conf");
    expect(r.stdout).toBe("lo\n# This jail has no internet.\n");
  });

  it("lets in exactly the host ports SANDBOXD_HOST_PORTS names", async () => {
    const r = await run(bunFetch(`http://127.0.0.1:${allowed.port}/from-jail`));
    expect(r.stdout).toBe("200 allowed\n");
    expect(allowed.seen.map((s) => s.url)).toEqual(["/from-jail"]);
  });

  it("keeps a server started in the jail out of the host's reach", async () => {
    const port = await freePort();
    const serve = `Bun.serve({ port: ${port}, hostname: "0.0.0.0", fetch: () => new Response("jail") })`;
    await run(`/opt/sandbox-runtime/bun -e '${serve}' >/dev/null 2>&1 & sleep 0.5`);
    expect((await run(bunFetch(`http://127.0.0.1:${port}/`))).stdout).toBe("200 jail\n");
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it("carries the Worker's hosts to the Worker's jail egress route with sandboxd's token, the runner's own header kept", async () => {
    const r = await run(
      [
        bunFetch(`http://${RUNNER_INTERNAL_HOST}/runner/v1/projects/p/head?x=1`, {
          headers: { authorization: "Bearer runner-token", [SANDBOXD_TOKEN_HEADER]: "forged-by-the-jail" },
        }),
        bunFetch(`http://${MODELS_INTERNAL_HOST}/anthropic/v1/messages`, { method: "POST", body: "{}" }),
      ].join("; "),
    );
    expect(r.stdout).toBe("200 worker\n200 worker\n");
    expect(worker.seen.map((s) => s.url)).toEqual([
      `${JAIL_EGRESS_PREFIX}/${RUNNER_INTERNAL_HOST}/runner/v1/projects/p/head?x=1`,
      `${JAIL_EGRESS_PREFIX}/${MODELS_INTERNAL_HOST}/anthropic/v1/messages`,
    ]);
    expect(worker.seen[0]?.headers[SANDBOXD_TOKEN_HEADER]).toBe(TOKEN);
    expect(worker.seen[0]?.headers.authorization).toBe("Bearer runner-token");
    expect(worker.seen[1]?.body).toBe("{}");
  });

  it("refuses any other host on the egress port, whatever the jail claims", async () => {
    const before = worker.seen.length;
    const r = await run(bunFetch("http://127.0.0.1/anything", { headers: { host: "evil.example" } }));
    expect(r.stdout).toMatch(/^403 .*EGRESS_HOST_REFUSED/);
    expect(worker.seen).toHaveLength(before);
  });

  it("keeps the egress sockets the jail user's alone, read-only inside", async () => {
    const r = await run(
      "ls -ln /run/sandbox-egress | tail -n +2 | awk '{print $1}'; touch /run/sandbox-egress/x 2>&1 | grep -c Read-only",
    );
    expect(r.stdout).toBe("srw-------\nsrw-------\n1\n");
  });
});

describe("a jail's ports, from the host through sandboxd (preview URLs)", () => {
  const portCall = (port: number, path: string, headers: Record<string, string> = {}, method = "GET") =>
    fetch(`${sd.url}/jails/${A}/ports/${port}${path}`, {
      method,
      headers: { [SANDBOXD_TOKEN_HEADER]: TOKEN, ...headers },
    });

  it("carries a request to a server on the jail's loopback, the client's Authorization kept and sandboxd's token not", async () => {
    const port = await freePort();
    const echo =
      "Bun.serve({ port: " +
      port +
      ', hostname: "127.0.0.1", fetch: (r) => Response.json({ url: r.url, headers: Object.fromEntries(r.headers) }) })';
    await run(`/opt/sandbox-runtime/bun -e '${echo}' >/dev/null 2>&1 & sleep 0.5`);
    const res = await portCall(port, "/some/path?q=1", { authorization: "Basic dXNlcjpwdw==" });
    expect(res.status, await res.clone().text()).toBe(200);
    const seen = (await res.json()) as { url: string; headers: Record<string, string> };
    expect(seen.url).toBe(`http://localhost:${port}/some/path?q=1`);
    expect(seen.headers.authorization).toBe("Basic dXNlcjpwdw==");
    expect(seen.headers[SANDBOXD_TOKEN_HEADER]).toBeUndefined();
    expect(JSON.stringify(seen)).not.toContain(TOKEN);
  });

  it("answers 502 when nothing listens on the port", async () => {
    const res = await portCall(await freePort(), "/");
    expect(res.status).toBe(502);
    expect(((await res.json()) as { code: string }).code).toBe("JAIL_PROXY_FAILED");
  });

  it("refuses the runtime's port, the egress ports and ports below 1024", async () => {
    for (const port of [3000, 80, allowed.port, 22, 1023]) {
      const res = await portCall(port, "/");
      expect(res.status, String(port)).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("INVALID_PORT");
    }
    expect(allowed.seen.filter((s) => s.url !== "/from-jail")).toHaveLength(0);
  });

  it("takes sandboxd's token only in x-sandboxd-token there", async () => {
    const res = await fetch(`${sd.url}/jails/${A}/ports/8080/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(401);
  });
});
