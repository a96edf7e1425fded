/**
 * @module routes/terminal
 * GET /:projectId/terminal: an interactive shell on a PTY over a WebSocket (the SDK's
 * terminal support; protocol in terminal/protocol.ts). The Worker accepts the client's
 * socket and relays it to the runtime's (terminal/relay.ts); closing either ends the
 * shell. Auth is the bearer middleware's (a header, or for browsers the bearer
 * subprotocol, auth.ts); a plain GET is answered 426.
 */
import { type Context, Hono } from "hono";
import { isWebSocketUpgrade, offeredProtocols } from "../auth";
import type { AppDeps } from "../deps";
import { UpgradeRequiredError } from "../errors";
import { confinePath } from "../paths";
import { ensureReady } from "../sandboxes/ready";
import { recordUse } from "../sandboxes/registry";
import { ProjectParamSchema, TerminalQuerySchema } from "../schemas";
import { TERMINAL_PROTOCOL } from "../terminal/protocol";
import { relayTerminal } from "../terminal/relay";
import { validate } from "../validation";

/** Keeps `work` running past the response where there is an execution context (none in app.request tests). */
function waitUntil(c: Context): (work: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (work) => ctx.waitUntil(work);
  } catch {
    return () => {};
  }
}

export function terminalRoutes(deps: AppDeps): Hono {
  const { backend, config } = deps;
  const root = config.WORKSPACE_ROOT;
  return new Hono().get(
    "/:projectId/terminal",
    validate("param", ProjectParamSchema),
    async (c, next) => {
      // Before the query is read: a client that cannot upgrade learns that first.
      // (No `Upgrade` header on the 426: wrangler dev dropped it from the response, as hop-by-hop.)
      if (!isWebSocketUpgrade(c)) {
        throw new UpgradeRequiredError(
          "The terminal is a WebSocket: connect with Upgrade: websocket (a WebSocket client such as websocat)",
        );
      }
      await next();
    },
    validate("query", TerminalQuerySchema),
    async (c) => {
      const { projectId } = c.req.valid("param");
      const query = c.req.valid("query");
      const cwd = confinePath(query.cwd ?? root, root);
      await ensureReady(deps, projectId);
      const terminal = await backend.openTerminal(projectId, {
        cols: query.cols,
        rows: query.rows,
        cwd,
      });
      const keep = waitUntil(c);
      const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
      server.accept();
      terminal.socket.accept();
      // Typing is use: the idle TTL (sandboxes/idle.ts) must not stop a sandbox under a user at
      // its terminal. The registry writes a use at most once a minute; the rest cost nothing.
      const onInput = () => keep(recordUse(deps.sandboxes, projectId));
      relayTerminal(server, terminal.socket, () => keep(terminal.close()), onInput);
      // A browser fails a handshake whose answer names no protocol when it offered some.
      const headers = offeredProtocols(c).includes(TERMINAL_PROTOCOL)
        ? { "Sec-WebSocket-Protocol": TERMINAL_PROTOCOL }
        : undefined;
      return new Response(null, { status: 101, webSocket: client, headers });
    },
  );
}
