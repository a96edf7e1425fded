/**
 * @module sandboxd/jail-forwarder
 * A jail's entry point (Bun; bwrap.ts jailCommand): listens on each port of
 * SANDBOX_EGRESS_PORTS at 127.0.0.1 of the jail's own loopback, piping every connection
 * to the unix socket of that port in SANDBOX_EGRESS_DIR, which sandboxd serves
 * (jail-egress.ts), then runs the container runtime whose bundle is its argument, in the
 * same process (one Bun per jail, not two). The jail's network has nothing else on it but
 * the internet where that is on. A port it cannot take ends it with a sentence before the
 * runtime starts: the jail's start fails and says why.
 *
 * The other way, in: the unix socket SANDBOX_PORTS_SOCKET (in the run directory, beside the
 * runtime's), where sandboxd carries a preview URL's traffic to a server in the jail. Each
 * connection starts with the port in decimal and a newline; the rest is piped to that port
 * of the jail's loopback (127.0.0.1, else ::1). sandboxd chooses and checks the port
 * (server.ts); the egress ports are refused here as well, since they lead out of the jail.
 * Self-contained (only node builtins): it is the one file of this repository a jail sees.
 */
import { writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

const dir = process.env.SANDBOX_EGRESS_DIR ?? "/run/sandbox-egress";
const ports = (process.env.SANDBOX_EGRESS_PORTS ?? "").split(",").filter(Boolean).map(Number);
/** Written once every port listens: sandboxd calls the jail started only then. */
const readyFile = process.env.SANDBOX_FORWARDER_READY;
const portsSocket = process.env.SANDBOX_PORTS_SOCKET;

/** http.ts spliceSockets, again: this file imports nothing of the repository (the jail sees only it). */
function pipeBoth(a: Socket, b: Socket): void {
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

await Promise.all(
  ports.map(
    (port) =>
      new Promise<void>((resolve) => {
        const server = createServer((inside) => pipeBoth(inside, connect(`${dir}/${port}.sock`)));
        server.once("error", (err) => {
          console.error(`jail forwarder: cannot listen on 127.0.0.1:${port}: ${err.message}`);
          process.exit(1);
        });
        server.listen(port, "127.0.0.1", resolve);
      }),
  ),
);
/** One connection from sandboxd to a port in the jail: "<port>\n", then the bytes to pipe. */
function portConnection(outside: Socket): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const nl = head.indexOf(10);
    if (nl === -1) {
      if (head.length > 8) outside.destroy();
      return;
    }
    outside.off("data", onData);
    outside.pause();
    const port = Number(head.subarray(0, nl).toString("latin1"));
    const rest = head.subarray(nl + 1);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || ports.includes(port)) {
      outside.destroy();
      return;
    }
    const dial = (host: string, fallback: string | null) => {
      const inside = connect(port, host);
      let connected = false;
      inside.once("connect", () => {
        connected = true;
        if (rest.length > 0) inside.write(rest);
        pipeBoth(outside, inside);
        outside.resume();
      });
      inside.once("error", () => {
        if (!connected && fallback) dial(fallback, null);
        else outside.destroy();
      });
    };
    dial("127.0.0.1", "::1");
  };
  outside.on("data", onData);
  outside.once("error", () => outside.destroy());
}

if (portsSocket) {
  await new Promise<void>((resolve) => {
    const server = createServer(portConnection);
    server.once("error", (err) => {
      console.error(`jail forwarder: cannot listen on ${portsSocket}: ${err.message}`);
      process.exit(1);
    });
    server.listen(portsSocket, resolve);
  });
}
if (readyFile) writeFileSync(readyFile, "");

// The runtime reads a user command to supervise from its arguments: it gets none.
const bundle = process.argv[2];
if (bundle) {
  process.argv.splice(2);
  const runtime = (await import(bundle)) as { main(): Promise<void> };
  await runtime.main();
}
