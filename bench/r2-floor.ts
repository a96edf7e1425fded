/**
 * @module bench/r2-floor
 * The floor under any first snapshot measured against local R2: the same bytes put
 * into Miniflare's R2 simulator (on disk, as bench/snapshot.ts keeps it) by a
 * Worker that does nothing else — `await env.B.put(key, request.body, { sha256 })`
 * per 16 MiB body, two in flight, from node:http as the runner sends them. No
 * scan, no hashing of files, no packing, no D1: what is left is workerd's HTTP
 * intake and the simulator's own work (it hashes every 4 KiB chunk for the ETag and
 * the checksum in JS). Production R2 does that work outside the Worker, so this
 * bound belongs to the rig, not to the design; it is printed so the first-snapshot
 * ratio can be read against it.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { convertV4MiniflareOptions, Miniflare, NoOpLog } from "miniflare";
import { IgnoreRules } from "../container/runner/ignore.ts";
import { scanWorkspace } from "../container/runner/scan.ts";

const BODY_BYTES = 16 * 1024 * 1024;
const IN_FLIGHT = 2;

const WORKER = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    await env.B.put(url.pathname.slice(1), request.body, { sha256: url.searchParams.get("sha256") });
    return new Response("stored", { status: 201 });
  },
};`;

interface Body {
  bytes: Buffer;
  sha256: string;
}

function put(url: string, agent: Agent, key: string, body: Body): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/${key}?sha256=${body.sha256}`,
      { method: "PUT", agent, headers: { "content-length": String(body.bytes.length) } },
      (res) => {
        res.resume();
        res.once("end", () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`put ${key}: ${res.statusCode}`)),
        );
      },
    );
    req.once("error", reject);
    req.end(body.bytes);
  });
}

/** Bodies of ~16 MiB holding every file of `tree` in scan order (the runner's packing order). */
async function bodiesOf(tree: string): Promise<Body[]> {
  const bodies: Body[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  const seal = () => {
    const bytes = Buffer.concat(parts);
    bodies.push({ bytes, sha256: createHash("sha256").update(bytes).digest("hex") });
    parts = [];
    size = 0;
  };
  for (const e of await scanWorkspace(tree, new IgnoreRules([]))) {
    if (e.type !== "file" || e.size === 0) continue;
    parts.push(await readFile(join(tree, e.path)));
    size += e.size;
    if (size >= BODY_BYTES) seal();
  }
  if (parts.length > 0) seal();
  return bodies;
}

/** Puts the tree's bytes into a fresh on-disk R2 simulator under `stateDir`; the put phase's wall time. */
export async function measureR2Floor(tree: string, stateDir: string): Promise<{ ms: number; bytes: number }> {
  const bodies = await bodiesOf(tree);
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      log: new NoOpLog(),
      resourcePersistencePath: stateDir,
      workers: [
        {
          name: "r2-floor",
          modules: true,
          script: WORKER,
          compatibilityDate: "2026-11-01",
          r2Buckets: ["B"],
          unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
        },
      ],
    }),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  try {
    await mf.ready;
    const url = (await mf.unsafeGetDirectURL("r2-floor")).origin;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < bodies.length) {
          const i = next++;
          await put(url, agent, `floor-${i}`, bodies[i] as Body);
        }
      }),
    );
    return { ms: performance.now() - started, bytes: bodies.reduce((n, b) => n + b.bytes.length, 0) };
  } finally {
    agent.destroy();
    await mf.dispose();
  }
}
