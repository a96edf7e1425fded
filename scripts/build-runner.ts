/**
 * @module scripts/build-runner
 * Bundles the in-sandbox runner (container/runner/main.ts) into one executable
 * ESM file, dist/runner/runner.mjs: platform node, target node20, minified, a
 * `#!/usr/bin/env node` shebang, node built-ins only (the build fails if anything
 * else would have to be resolved at runtime), at most 2 MB. `npm run build:runner`.
 * The file is replaced atomically (built beside it, then renamed): sandboxes that
 * start the runner while a test or `npm run dev` rebuilds it never read half a file.
 */
import { chmod, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** Size ceiling of the bundle (issue 3). */
export const MAX_RUNNER_BYTES = 2 * 1024 * 1024;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Builds the bundle; returns its path and size. Throws if it is too large. `entryPoint`
 * lets a benchmark bundle the same runner around another store (bench/disk-runner.ts).
 */
export async function buildRunner(
  outfile = join(root, "dist/runner/runner.mjs"),
  entryPoint = join(root, "container/runner/main.ts"),
): Promise<{ outfile: string; bytes: number }> {
  const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string };
  const tmp = `${outfile}.${process.pid}.tmp`;
  try {
    await buildTo(entryPoint, tmp, pkg.version);
    await chmod(tmp, 0o755);
    const bytes = (await stat(tmp)).size;
    if (bytes > MAX_RUNNER_BYTES)
      throw new Error(`runner bundle is ${bytes} bytes, over the ${MAX_RUNNER_BYTES} limit`);
    await rename(tmp, outfile);
    return { outfile, bytes };
  } finally {
    await rm(tmp, { force: true });
  }
}

async function buildTo(entryPoint: string, outfile: string, version: string): Promise<void> {
  await build({
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    minify: true,
    // Only node: built-ins may stay external; any npm import would be bundled or fail.
    external: ["node:*"],
    banner: { js: "#!/usr/bin/env node" },
    define: { __RUNNER_VERSION__: JSON.stringify(version) },
    legalComments: "none",
    logLevel: "warning",
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { outfile, bytes } = await buildRunner(process.argv[2]);
  console.log(`built ${outfile} (${bytes} bytes)`);
}
