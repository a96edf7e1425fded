/**
 * @module runner/install
 * After a restore that changed package.json or a lockfile at the workspace root,
 * runs the matching package manager's install so node_modules (never snapshotted)
 * matches the restored tree. The lockfile decides: pnpm-lock.yaml → pnpm,
 * yarn.lock → yarn, bun.lock(b) → bun, package-lock.json / npm-shrinkwrap.json →
 * npm ci; package.json alone → npm install. Off with `--no-install` or
 * SANDBOX_RESTORE_INSTALL=0. Its output goes to stderr (stdout carries the result).
 */
import { spawn } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";

/** Root files whose change calls for an install. */
export const INSTALL_TRIGGERS: readonly string[] = [
  "package.json",
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "yarn.lock",
  "bun.lockb",
  "bun.lock",
];

/** Lockfile → install command, first match wins. */
const BY_LOCKFILE: readonly (readonly [string, readonly string[]])[] = [
  ["pnpm-lock.yaml", ["pnpm", "install", "--frozen-lockfile"]],
  ["yarn.lock", ["yarn", "install", "--frozen-lockfile"]],
  ["bun.lockb", ["bun", "install"]],
  ["bun.lock", ["bun", "install"]],
  ["package-lock.json", ["npm", "ci"]],
  ["npm-shrinkwrap.json", ["npm", "ci"]],
];

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Whether any changed path is an install trigger at the workspace root. */
export function needsInstall(changedPaths: readonly string[]): boolean {
  return changedPaths.some((p) => INSTALL_TRIGGERS.includes(p));
}

/** The install argv for this workspace, or null without a package.json. */
export async function pickInstallCommand(workspace: string): Promise<string[] | null> {
  if (!(await exists(join(workspace, "package.json")))) return null;
  for (const [lock, argv] of BY_LOCKFILE) {
    if (await exists(join(workspace, lock))) return [...argv];
  }
  return ["npm", "install"];
}

/** Runs `argv` in `cwd`, output to stderr; resolves with the exit code (127 if it cannot start). */
export function runInstall(argv: string[], cwd: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, stdio: ["ignore", 2, 2] });
    child.on("error", () => resolve(127));
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Runs the install if the restore changed a trigger file; null when nothing ran. */
export async function installAfterRestore(
  workspace: string,
  changedPaths: readonly string[],
  log: (message: string) => void = () => {},
): Promise<{ command: string; exitCode: number } | null> {
  if (!needsInstall(changedPaths)) return null;
  const argv = await pickInstallCommand(workspace);
  if (!argv) return null;
  const command = argv.join(" ");
  log(`running ${command}`);
  const exitCode = await runInstall(argv, workspace);
  log(`${command} exited with ${exitCode}`);
  return { command, exitCode };
}
