/**
 * @module test/support/git-http
 * A minimal static file server on 127.0.0.1 for git's "dumb HTTP" protocol
 * (a bare repository after `git update-server-info` is just files), so clone
 * tests need no internet. Plus the commit ids the tests expect.
 */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

/** Serves `root` read-only at http://127.0.0.1:<port>/. */
export async function serveGitRoot(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    if (req.method !== "GET" || path.includes("..")) {
      res.writeHead(404).end();
      return;
    }
    readFile(join(root, path)).then(
      (data) => res.writeHead(200, { "content-type": "application/octet-stream" }).end(data),
      () => res.writeHead(404).end("not found"),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The full SHA of `ref` in the (bare) repository at `repoDir`. */
export function commitOf(repoDir: string, ref: string): string {
  return execFileSync("git", ["rev-parse", ref], { cwd: repoDir, encoding: "utf8" }).trim();
}
