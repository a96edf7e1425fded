/**
 * @module test/worker/contract/backend-contract
 * The SandboxBackend contract: one vitest suite that every adapter must pass,
 * driven only through the public interface. Each test gets a fresh project
 * (unique id, ensured before and destroyed after), so the suite is independent
 * of test order.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SandboxBackend } from "../../../src/backend/types";
import { defineExecContract } from "./exec";
import { defineFilesContract } from "./files";
import { defineCloneContract, defineProcessContract } from "./git-processes";
import { type ContractContext, expectAppError, readText, uniqueProjectId, utf8 } from "./helpers";

/** Defines the contract suite `name` against the backend `make()` returns (called once per test). */
export function defineBackendContract(name: string, make: () => SandboxBackend): void {
  describe(`SandboxBackend contract: ${name}`, () => {
    let backend: SandboxBackend;
    let project = "";
    const ctx: ContractContext = { backend: () => backend, project: () => project };

    beforeEach(async () => {
      backend = make();
      project = uniqueProjectId();
      await backend.ensure(project);
    });

    afterEach(async () => {
      await backend.destroy(project).catch(() => {});
    });

    it("ensure creates a ready sandbox, idempotently; status reports it", async () => {
      const info = await backend.ensure(project);
      expect(info).toMatchObject({ projectId: project, status: "ready", backend: backend.kind });
      expect(typeof info.isolated).toBe("boolean");
      await backend.writeFile(project, "/workspace/keep.txt", utf8("kept"));
      await backend.ensure(project);
      expect(await readText(backend, project, "/workspace/keep.txt")).toBe("kept");
      expect(await backend.status(project)).toMatchObject({
        projectId: project,
        status: "ready",
        backend: backend.kind,
      });
    });

    it("status of a sandbox never created is SANDBOX_NOT_FOUND", async () => {
      await expectAppError(backend.status(uniqueProjectId("never")), "SANDBOX_NOT_FOUND");
    });

    it("destroy removes the workspace and its processes", async () => {
      await backend.writeFile(project, "/workspace/doomed.txt", utf8("x"));
      await backend.startProcess(project, { command: "sleep 30" });
      await backend.destroy(project);
      // Gone, as before it was created: status starts nothing and says so.
      await expectAppError(backend.status(project), "SANDBOX_NOT_FOUND");
      await backend.ensure(project);
      await expectAppError(backend.readFile(project, "/workspace/doomed.txt", 1024), "FILE_NOT_FOUND");
      const running = (await backend.listProcesses(project)).filter((x) => x.status === "running");
      expect(running).toEqual([]);
    });

    describe("exec", () => defineExecContract(ctx));
    describe("files", () => defineFilesContract(ctx));
    describe("clone", () => defineCloneContract(ctx));
    describe("processes", () => defineProcessContract(ctx));
  });
}
