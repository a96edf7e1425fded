/**
 * @module scripts/lib/env
 * What the dev script needs to know about the machine and the project's local
 * settings: is a Docker engine reachable, and what does .dev.vars say.
 */
import { readFileSync } from "node:fs";
import { runQuiet } from "./proc.ts";

/**
 * Reads a dotenv-style file (KEY=VALUE, `#` comments, optional quotes) as wrangler
 * does for .dev.vars. A missing file yields an empty record.
 */
export function readDevVars(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return {};
  }
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m?.[1]) continue;
    let value = m[2] ?? "";
    const quoted = /^(["'])(.*)\1$/.exec(value);
    value = quoted ? (quoted[2] ?? "") : value.replace(/\s+#.*$/, "");
    out[m[1]] = value;
  }
  return out;
}

/**
 * True when `docker info` succeeds within `timeoutMs`: a client is installed AND an
 * engine answers. A client without a daemon exits non-zero quickly; a hung socket is
 * cut off by the time limit.
 */
export async function dockerAvailable(timeoutMs = 4000): Promise<boolean> {
  return (await runQuiet("docker", ["info"], timeoutMs)) === 0;
}
