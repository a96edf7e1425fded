/**
 * @module sandboxd/jail-forwarder
 * A jail's entry point (Bun; bwrap.ts jailCommand): listens on each port of
 * SANDBOX_EGRESS_PORTS at 127.0.0.1 of the jail's own loopback, piping every connection
 * to the unix socket of that port in SANDBOX_EGRESS_DIR, which sandboxd serves
 * (jail-egress.ts), then runs the container runtime whose bundle is its argument, in the
 * same process (one Bun per jail, not two). The jail's network has nothing else on it but
 * the internet where that is on. A port it cannot take ends it with a sentence before the
 * runtime starts: the jail's start fails and says why.
 * Self-contained (only node builtins): it is the one file of this repository a jail sees.
 */
import { writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

const dir = process.env.SANDBOX_EGRESS_DIR ?? "/run/sandbox-egress";
const ports = (process.env.SANDBOX_EGRESS_PORTS ?? "").split(",").filter(Boolean).map(Number);
/** Written once every port listens: sandboxd calls the jail started only then. */
const readyFile = process.env.SANDBOX_FORWARDER_READY;

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
if (readyFile) writeFileSync(readyFile, "");

// The runtime reads a user command to supervise from its arguments: it gets none.
const bundle = process.argv[2];
if (bundle) {
  process.argv.splice(2);
  const runtime = (await import(bundle)) as { main(): Promise<void> };
  await runtime.main();
}
