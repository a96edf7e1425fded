/**
 * @module backend/cloudflare-terminal
 * Terminals of the cloudflare adapter: the SDK's PTY support (`proxyTerminal`, the
 * runtime's `/ws/pty`). Each terminal gets a session of its own, made with the sandbox's
 * env and the requested cwd, which the runtime's PTY inherits. The runtime keeps one PTY
 * per session alive past its socket, so ending a terminal deletes its session: that
 * kills the shell (its PTY closes: SIGHUP) and whatever it left running in the foreground.
 *
 * The upgrade request sent to the sandbox is made here, not passed on from the client:
 * the client's headers (its bearer token among them) never reach the container.
 */
import { proxyTerminal, type Sandbox } from "@cloudflare/sandbox";
import { BackendError } from "../errors";
import { mapErrors } from "./cloudflare-errors";
import type { OpenedTerminal, TerminalRequest } from "./types";

// biome-ignore lint/suspicious/noExplicitAny: the SDK's Sandbox is generic over the Worker's Env, irrelevant here.
type AnySandbox = Sandbox<any>;

/** The prefix of a terminal's session id (the rest is random). */
export const TERMINAL_SESSION_PREFIX = "terminal-";

export async function openTerminal(sandbox: AnySandbox, req: TerminalRequest): Promise<OpenedTerminal> {
  const sessionId = `${TERMINAL_SESSION_PREFIX}${crypto.randomUUID()}`;
  await mapErrors(() => sandbox.createSession({ id: sessionId, cwd: req.cwd }));
  const close = async () => {
    try {
      await sandbox.deleteSession(sessionId);
    } catch (err) {
      // The container may be gone already, and its sessions with it.
      console.warn(`terminal: deleting session ${sessionId} failed: ${err instanceof Error ? err.message : err}`);
    }
  };
  try {
    const upgrade = new Request("http://localhost/terminal", {
      headers: { Upgrade: "websocket", Connection: "Upgrade" },
    });
    const res = await mapErrors(() => proxyTerminal(sandbox, sessionId, upgrade, { cols: req.cols, rows: req.rows }));
    if (res.status !== 101 || !res.webSocket) {
      const why = (await res.text().catch(() => "")).slice(0, 500);
      throw new BackendError(`The sandbox refused the terminal (${res.status}): ${why}`, "BACKEND_ERROR");
    }
    return { socket: res.webSocket, close };
  } catch (err) {
    await close();
    throw err;
  }
}
