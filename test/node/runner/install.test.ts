/**
 * Package manager install after restore, with fake npm/pnpm/yarn/bun scripts on
 * PATH that record their argv (no network install): the lockfile picks the
 * manager, nothing runs when package.json and lockfiles did not change, and
 * `--no-install` / SANDBOX_RESTORE_INSTALL=0 switch it off.
 */
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pickInstallCommand } from "../../../container/runner/install.ts";
import { cleanupTemp, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import { type StandinRunnerApi, startStandinRunnerApi } from "../../support/standin-runner-api.ts";

let api: StandinRunnerApi;
let bin: string;
let record: string;

beforeAll(async () => {
  api = await startStandinRunnerApi();
  bin = await tempDir("fakebin-");
  record = join(bin, "calls.log");
  for (const name of ["npm", "pnpm", "yarn", "bun"]) {
    await writeFile(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${record}"\nexit 0\n`);
    await chmod(join(bin, name), 0o755);
  }
});
afterAll(async () => {
  await api.close();
  await cleanupTemp();
});

describe("install after restore", () => {
  it("picks the package manager by lockfile", async () => {
    const ws = await tempDir();
    expect(await pickInstallCommand(ws)).toBeNull();
    await writeFile(join(ws, "package.json"), "{}");
    expect(await pickInstallCommand(ws)).toEqual(["npm", "install"]);
    const cases: [string, string[]][] = [
      ["package-lock.json", ["npm", "ci"]],
      ["bun.lockb", ["bun", "install"]],
      ["yarn.lock", ["yarn", "install", "--frozen-lockfile"]],
      ["pnpm-lock.yaml", ["pnpm", "install", "--frozen-lockfile"]],
    ];
    for (const [lock, argv] of cases) {
      await writeFile(join(ws, lock), "");
      expect(await pickInstallCommand(ws)).toEqual(argv);
      await rm(join(ws, lock));
    }
  });

  it("runs the install (real process) only when package.json or a lockfile changed, unless turned off", async () => {
    const src = await tempDir();
    await writeFile(join(src, "package.json"), '{"name":"x"}');
    await writeFile(join(src, "pnpm-lock.yaml"), "lockfileVersion: 9\n");
    await mkdir(join(src, "src"));
    await writeFile(join(src, "src/a.ts"), "a");
    expect((await runRunner(["snapshot", "--json"], runnerEnv(api, src))).result).toMatchObject({ ok: true });
    const env = (ws: string, extra: NodeJS.ProcessEnv = {}) =>
      runnerEnv(api, ws, { PATH: `${bin}:${process.env.PATH}`, ...extra });

    const ws = await tempDir();
    const r = await runRunner(["restore", "--json"], env(ws));
    expect(r.result).toMatchObject({ ok: true, install: { command: "pnpm install --frozen-lockfile", exitCode: 0 } });
    expect(await readFile(record, "utf8")).toBe("pnpm install --frozen-lockfile\n");

    // Only a source file differs: no install.
    await writeFile(join(ws, "src/a.ts"), "local");
    const r2 = await runRunner(["restore", "--json"], env(ws));
    expect(r2.result).toMatchObject({ ok: true, install: null });

    // Switched off both ways.
    await writeFile(join(ws, "package.json"), "{}");
    expect((await runRunner(["restore", "--no-install", "--json"], env(ws))).result).toMatchObject({ install: null });
    await writeFile(join(ws, "package.json"), "{}");
    const off = await runRunner(["restore", "--json"], env(ws, { SANDBOX_RESTORE_INSTALL: "0" }));
    expect(off.result).toMatchObject({ ok: true, install: null });
    expect(await readFile(record, "utf8")).toBe("pnpm install --frozen-lockfile\n");
  });
});
