/**
 * @module test/support/internet-probe
 * Run by test/node/sandboxd/internet.test.ts inside a network namespace of the test's own
 * (`unshare --net`), where 198.51.100.1 (TEST-NET-2, on the namespace's loopback) plays the
 * internet: starts a server there and one on 127.0.0.1, then two sandboxds (internet auto and
 * off) with a jail each, asks from inside each jail for both servers, and prints one JSON line.
 */
import { createServer } from "node:http";
import { call, execInJail, newJailId, runtimeEnv } from "../node/sandboxd/helpers.ts";
import { startSandboxd } from "./sandboxd-process.ts";

export const INTERNET_ADDRESS = "198.51.100.1";

async function serve(host: string, answer: string): Promise<{ port: number; close: () => void }> {
  const server = createServer((_req, res) => res.end(answer));
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

const fetchLine = (url: string) =>
  `/opt/sandbox-runtime/bun -e 'try { const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }); console.log(r.status, await r.text()) } catch { console.log("unreachable") }'`;

const env = await runtimeEnv();
const internet = await serve(INTERNET_ADDRESS, "internet");
const loopback = await serve("127.0.0.1", "host loopback");
const results: Record<string, unknown> = {};
for (const setting of ["auto", "off"]) {
  const sd = await startSandboxd({ env: { ...env, SANDBOXD_INTERNET: setting } });
  try {
    const id = newJailId();
    const started = await call(sd, "POST", `/jails/${id}`);
    if (started.status !== 200) throw new Error(`jail start: ${started.text}`);
    const r = await execInJail(
      sd,
      id,
      [
        fetchLine(`http://${INTERNET_ADDRESS}:${internet.port}/`),
        fetchLine(`http://127.0.0.1:${loopback.port}/`),
        fetchLine(`http://10.0.2.2:${loopback.port}/`),
        "cat /etc/resolv.conf",
      ].join("; "),
    );
    results[setting] = { stdout: r.stdout, stderr: r.stderr, banner: sd.output() };
  } finally {
    await sd.stop();
  }
}
internet.close();
loopback.close();
console.log(JSON.stringify(results));
