/**
 * @module sandboxd/jail-forwarder
 * Runs inside a jail (Bun, as the container runtime's user command; see bwrap.ts
 * jailCommand): listens on each port of SANDBOX_EGRESS_PORTS at 127.0.0.1 of the
 * jail's own loopback and pipes every connection to the unix socket of that port in
 * SANDBOX_EGRESS_DIR, which sandboxd serves (jail-egress.ts). The jail's network has
 * nothing else on it but the internet where that is on. A port it cannot take ends it
 * with a sentence, and with it the runtime: the jail's start fails and says why.
 * Self-contained (only node builtins): it is the one file of this repository a jail sees.
 */
import { writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

const dir = process.env.SANDBOX_EGRESS_DIR ?? "/run/sandbox-egress";
const ports = (process.env.SANDBOX_EGRESS_PORTS ?? "").split(",").filter(Boolean).map(Number);
/** Written once every port listens: sandboxd calls the jail started only then. */
const readyFile = process.env.SANDBOX_FORWARDER_READY;

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

// A stop signals the jail's whole process group: the runtime ends itself (exit 0) and the jail's
// PID namespace with it. Dying of the signal first would make the runtime exit 143 instead.
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => {});

let listening = 0;
for (const port of ports) {
  const server = createServer((inside) => pipeBoth(inside, connect(`${dir}/${port}.sock`)));
  server.once("error", (err) => {
    console.error(`jail forwarder: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, "127.0.0.1", () => {
    if (++listening === ports.length && readyFile) writeFileSync(readyFile, "");
  });
}
