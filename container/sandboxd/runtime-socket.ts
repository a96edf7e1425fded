/**
 * @module sandboxd/runtime-socket
 * Reaching a jail's runtime socket without following what the jail put in its place.
 * The socket lives in a directory the jail can write (its runtime, root inside, binds
 * it there), so code in the jail can swap it for a symlink to any host socket, and
 * connect() follows symlinks. So the socket is opened O_PATH|O_NOFOLLOW, checked to be
 * a socket, and connected to through `/proc/self/fd/N`, which names that very inode
 * whatever happens to the path after. The fd path is also short: a unix socket path
 * has at most 107 bytes, which a deep SANDBOXD_ROOT with a 64-character jail id exceeds.
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { SandboxdError } from "./errors.ts";

/** Linux's O_PATH (the same on x86_64 and arm64); node:fs does not export it. libuv adds O_CLOEXEC. */
const O_PATH = 0o10000000;

/** An opened runtime socket: connect to `path` while it is open; `close` once connected. */
export interface RuntimeSocket {
  path: string;
  close(): void;
}

/** Opens the socket at `hostPath`; 502 JAIL_SOCKET_INVALID when it is missing, a symlink or not a socket. */
export function openRuntimeSocket(hostPath: string): RuntimeSocket {
  let fd: number;
  try {
    fd = openSync(hostPath, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw invalid(code === "ELOOP" ? "is a symlink" : `cannot be opened (${code})`);
  }
  let isSocket = false;
  try {
    isSocket = fstatSync(fd).isSocket();
  } finally {
    if (!isSocket) closeSync(fd);
  }
  if (!isSocket) throw invalid("is not a socket");
  let open = true;
  return {
    path: `/proc/self/fd/${fd}`,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

function invalid(why: string): SandboxdError {
  return new SandboxdError("JAIL_SOCKET_INVALID", `The jail's runtime socket ${why}`);
}
