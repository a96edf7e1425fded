/**
 * @module test/worker/contract/exec
 * Contract: buffered and streamed commands (output, exit codes, cwd, env, timeouts).
 */
import { expect, it } from "vitest";
import { TimeoutError } from "../../../src/errors";
import { type ContractContext, collect, expectAppError, expectWellFormed, output, readText, utf8 } from "./helpers";

/** Registers the exec tests (inside the suite's describe). */
export function defineExecContract(ctx: ContractContext): void {
  it("exec reports stdout, stderr, the exit code and a duration", async () => {
    const r = await ctx.backend().exec(ctx.project(), {
      command: "printf out; printf err >&2; exit 7",
      timeoutMs: 10_000,
    });
    expect(r).toMatchObject({ stdout: "out", stderr: "err", exitCode: 7 });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("exec output comes back byte for byte: trailing newlines, NULs, a top-level exit", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    const r = await b.exec(p, { command: "printf 'a\\n\\n'; printf 'x\\0y\\n\\n' >&2; exit 4", timeoutMs: 10_000 });
    expect(r).toMatchObject({ stdout: "a\n\n", stderr: "x\u0000y\n\n", exitCode: 4 });
    // An `exit` ends only its own command: the sandbox answers the next one.
    expect((await b.exec(p, { command: "echo still here", timeoutMs: 10_000 })).stdout).toBe("still here\n");
  });

  it("nothing waits behind another call's long command; a timeout counts only its own command", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await b.writeFile(p, "/workspace/note.txt", utf8("note"));
    const long = b.exec(p, { command: "sleep 4; echo slept", timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const [quick, read, listed] = await Promise.all([
      b.exec(p, { command: "echo quick", timeoutMs: 1_500 }),
      readText(b, p, "/workspace/note.txt"),
      b.list(p, "/workspace", { recursive: false }),
    ]);
    expect(quick.stdout).toBe("quick\n");
    expect(read).toBe("note");
    expect(listed.map((e) => e.name)).toContain("note.txt");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await long).stdout).toBe("slept\n");
  });

  it("exec runs in /workspace by default and honours cwd and env", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    expect((await b.exec(p, { command: "pwd; mkdir -p sub/dir", timeoutMs: 10_000 })).stdout).toBe("/workspace\n");
    const inSub = await b.exec(p, { command: "pwd", cwd: "/workspace/sub/dir", timeoutMs: 10_000 });
    expect(inSub.stdout).toBe("/workspace/sub/dir\n");
    const withEnv = await b.exec(p, {
      command: 'printf "%s|%s" "$GREETING" "$OTHER"',
      env: { GREETING: "hello there", OTHER: "x=y" },
      timeoutMs: 10_000,
    });
    expect(withEnv).toMatchObject({ stdout: "hello there|x=y", exitCode: 0 });
  });

  it("exec sees files written through the file API and vice versa", async () => {
    const b = ctx.backend();
    const p = ctx.project();
    await b.writeFile(p, "/workspace/from-api.txt", utf8("written by the API\n"));
    expect((await b.exec(p, { command: "cat from-api.txt", timeoutMs: 10_000 })).stdout).toBe("written by the API\n");
  });

  it("exec past its timeout is killed and fails with TimeoutError (TIMEOUT)", async () => {
    const started = Date.now();
    const err = await expectAppError(
      ctx.backend().exec(ctx.project(), { command: "echo before; sleep 20; echo after", timeoutMs: 1000 }),
      "TIMEOUT",
    );
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Partial output, where the backend keeps it, is what ran before the kill.
    if (typeof err.details?.stdout === "string") {
      expect(err.details.stdout).toContain("before");
      expect(err.details.stdout).not.toContain("after");
    }
  });

  it("execStream delivers start, output in order, then exactly one exit", async () => {
    const stream = await ctx.backend().execStream(ctx.project(), {
      command: "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; exit 3",
      timeoutMs: 10_000,
    });
    const events = await collect(stream);
    const last = expectWellFormed(events);
    expect(last).toMatchObject({ type: "exit", exitCode: 3 });
    expect(output(events, "stdout")).toBe("one\nthree\n");
    expect(output(events, "stderr")).toBe("two\n");
    const at = (type: string, text: string) =>
      events.findIndex((e) => e.type === type && "data" in e && e.data.includes(text));
    expect(at("stdout", "one")).toBeLessThan(at("stderr", "two"));
    expect(at("stderr", "two")).toBeLessThan(at("stdout", "three"));
  });

  it("execStream past its timeout ends with an error event (TIMEOUT)", async () => {
    const stream = await ctx
      .backend()
      .execStream(ctx.project(), { command: "echo started; sleep 20", timeoutMs: 1000 });
    const events = await collect(stream);
    expect(expectWellFormed(events)).toMatchObject({ type: "error", code: "TIMEOUT" });
    expect(output(events, "stdout")).toBe("started\n");
  });
}
