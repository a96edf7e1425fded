/**
 * The `claude` agent (container/runner/agents/claude.ts) through `runner run-job` as
 * a real child process, against the stand-in runner API and the scripted stand-in
 * of the Anthropic Messages API (test/support/model-server-anthropic.ts): files
 * created and edited through tool calls, every call an event, prompt caching and the
 * key on the wire; malformed tool input answered as is_error; a budget overrun
 * (snapshotted); 429 retried with backoff; 500 forever failing clearly.
 */
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobEvent, JobResult } from "../../../src/shared/job-format.ts";
import {
  type AnthropicStandin,
  type RecordedRequest,
  startAnthropicStandin,
  toolResults,
} from "../../support/model-server-anthropic.ts";
import { cleanupTemp, restore, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import { type StandinRunnerApi, startStandinRunnerApi } from "../../support/standin-runner-api.ts";

const FAKE_KEY = "sk-ant-test-standin-key";
const EDITOR = "str_replace_based_edit_tool";

let api: StandinRunnerApi;
let model: AnthropicStandin;
beforeEach(async () => {
  api = await startStandinRunnerApi();
  model = await startAnthropicStandin();
});
afterEach(async () => {
  await api.close();
  await model.close();
  await cleanupTemp();
});

async function runClaudeJob(
  prompt: string,
  extra: NodeJS.ProcessEnv = {},
  jobModel: string | null = null,
): Promise<{ result: JobResult; events: JobEvent[]; ws: string; stderr: string }> {
  const rec = api.addJob({ agent: "claude", prompt, command: null, model: jobModel });
  const ws = await tempDir();
  const env = runnerEnv(api, ws, {
    SANDBOX_JOB_ID: rec.job.id,
    SANDBOX_RESTORE_INSTALL: "0",
    ANTHROPIC_API_KEY: FAKE_KEY,
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_AUTH_TOKEN: "",
    OPENAI_API_KEY: "",
    ...extra,
  });
  const run = await runRunner(["run-job", "--json"], env);
  expect(run.code, run.stderr).toBe(0);
  expect(rec.results, run.stderr).toHaveLength(1);
  return { result: rec.results[0] as JobResult, events: rec.events, ws, stderr: run.stderr };
}

const steps = (events: JobEvent[], kind: string) =>
  events.filter((e) => e.type === "agent_step" && e.data.kind === kind).map((e) => e.data);

/** The tool results of `req`, in order, as [content, isError]. */
const resultsOf = (req: RecordedRequest) => [...toolResults(req).values()].map((r) => [r.content, r.isError]);

describe("claude agent", () => {
  it("creates and edits files through tool calls, emits every call, caches the prompt and reports usage", async () => {
    model.turns = [
      () => ({
        content: [
          { type: "text", text: "I'll create the files." },
          {
            type: "tool_use",
            name: EDITOR,
            input: { command: "create", path: "/workspace/greet.txt", file_text: "hello\n" },
          },
          { type: "tool_use", name: "bash", input: { command: "mkdir -p src && cd src && echo one > a.txt" } },
        ],
      }),
      (req) => {
        const r = resultsOf(req);
        expect(r).toHaveLength(2);
        expect(r[0]).toEqual([expect.stringContaining("Created /workspace/greet.txt"), false]);
        expect(r[1]).toEqual(["(no output)", false]);
        return {
          content: [
            {
              type: "tool_use",
              name: EDITOR,
              input: { command: "str_replace", path: "greet.txt", old_str: "hello", new_str: "hello world" },
            },
            {
              type: "tool_use",
              name: EDITOR,
              input: { command: "insert", path: "/workspace/greet.txt", insert_line: 0, new_str: "# greeting" },
            },
            // The working directory carries over from the previous call (src/).
            { type: "tool_use", name: "bash", input: { command: "pwd; cat ../greet.txt; echo oops >&2; exit 3" } },
          ],
        };
      },
      (req) => {
        const r = resultsOf(req);
        expect(r[0]).toEqual([expect.stringContaining("Replaced 1 occurrence"), false]);
        expect(r[1]?.[1]).toBe(false);
        const bashOut = String(r[2]?.[0]);
        expect(bashOut).toMatch(/\/src\n# greeting\nhello world\n/);
        expect(bashOut).toContain("oops");
        expect(bashOut).toContain("[exit code 3]");
        return { content: [{ type: "text", text: "Done: greet.txt says hello world." }] };
      },
    ];
    const { result, events, ws } = await runClaudeJob("Write a greeting");
    expect(model.errors).toEqual([]);
    expect(result).toMatchObject({ status: "succeeded", exitCode: 0, error: null });
    expect(result.summary).toBe("Done: greet.txt says hello world.");
    expect(result.changedFiles.added).toEqual(["greet.txt", "src/a.txt"]);
    expect(result.diff).toContain("+hello world");
    expect(await readFile(join(ws, "greet.txt"), "utf8")).toBe("# greeting\nhello world\n");
    // The snapshot holds the work.
    const check = await tempDir();
    await restore(api.store, check);
    expect(await readFile(join(check, "src/a.txt"), "utf8")).toBe("one\n");

    // Every tool call and result is an event, in order; text and usage too.
    const uses = steps(events, "tool_use");
    expect(uses.map((u) => `${u.name}:${(u.input as { command?: string }).command}`)).toEqual([
      `${EDITOR}:create`,
      "bash:mkdir -p src && cd src && echo one > a.txt",
      `${EDITOR}:str_replace`,
      `${EDITOR}:insert`,
      "bash:pwd; cat ../greet.txt; echo oops >&2; exit 3",
    ]);
    const results = steps(events, "tool_result");
    expect(results.map((r) => r.id)).toEqual(uses.map((u) => u.id));
    expect(results.every((r) => r.isError === false)).toBe(true);
    expect(steps(events, "text").map((t) => t.text)).toEqual([
      "I'll create the files.",
      "Done: greet.txt says hello world.",
    ]);
    const usages = steps(events, "usage");
    expect(usages).toHaveLength(3);
    expect(usages[2]?.total).toEqual(result.usage);
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.usage.costUsd).toBeGreaterThan(0);

    // On the wire: the key, the default model, the client tools and the cache breakpoints.
    expect(model.requests).toHaveLength(3);
    for (const req of model.requests) {
      // SDK 1.x sends the key as a bearer token (0.x used x-api-key); either way, only the key.
      const key = req.headers["x-api-key"] ?? req.headers.authorization?.replace(/^Bearer /, "");
      expect(key).toBe(FAKE_KEY);
      expect(req.body.stream).toBe(true);
      expect(req.body.model).toBe("claude-sonnet-5-5");
      expect(req.body.tools?.map((t) => `${t.type}/${t.name}`)).toEqual([
        "bash_20250124/bash",
        `text_editor_20250728/${EDITOR}`,
      ]);
      expect(req.body.tools?.at(-1)?.cache_control).toEqual({ type: "ephemeral" });
      expect(req.body.system?.at(-1)?.cache_control).toEqual({ type: "ephemeral" });
      const last = req.body.messages.at(-1)?.content;
      expect(Array.isArray(last) && last.at(-1)?.cache_control).toEqual({ type: "ephemeral" });
      // Exactly one moving breakpoint in the conversation.
      const marks = req.body.messages
        .flatMap((m) => (Array.isArray(m.content) ? m.content : []))
        .filter((b) => b.cache_control);
      expect(marks).toHaveLength(1);
    }
    expect(model.requests[2]?.body.messages).toHaveLength(5);
  });

  it("answers malformed or forbidden tool input with is_error results and carries on", async () => {
    const outside = await tempDir("outside-");
    await writeFile(join(outside, "secret.txt"), "no\n");
    model.turns = [
      () => ({
        content: [
          { type: "tool_use", name: EDITOR, rawInput: '{"command": create, "path": }' },
          { type: "tool_use", name: EDITOR, input: { command: "create", path: "x.txt" } },
          { type: "tool_use", name: EDITOR, input: { command: "view", path: join(outside, "secret.txt") } },
          { type: "tool_use", name: EDITOR, input: { command: "view", path: "link/secret.txt" } },
          { type: "tool_use", name: EDITOR, input: { command: "str_replace", path: "nothere.txt", old_str: "a" } },
          { type: "tool_use", name: EDITOR, input: { command: "delete", path: "x.txt" } },
          { type: "tool_use", name: "bash", input: { cmd: "ls" } },
          { type: "tool_use", name: "python", input: { code: "1" } },
          { type: "tool_use", name: EDITOR, input: ["not", "an", "object"] },
        ],
      }),
      (req) => {
        const r = resultsOf(req);
        expect(r).toHaveLength(9);
        for (const [, isError] of r) expect(isError).toBe(true);
        expect(String(r[1]?.[0])).toContain("file_text");
        expect(String(r[2]?.[0])).toContain("outside the workspace");
        expect(String(r[3]?.[0])).toContain("outside the workspace");
        expect(String(r[4]?.[0])).toContain("does not exist");
        expect(String(r[5]?.[0])).toContain("Unknown command");
        expect(String(r[6]?.[0])).toContain("command");
        expect(String(r[7]?.[0])).toContain("Unknown tool");
        return {
          content: [
            { type: "tool_use", name: EDITOR, input: { command: "create", path: "ok.txt", file_text: "fine\n" } },
          ],
        };
      },
      (req) => {
        expect(resultsOf(req)[0]).toEqual([expect.stringContaining("Created"), false]);
        return { content: [{ type: "text", text: "Recovered." }] };
      },
    ];
    const rec = api.addJob({ agent: "claude", prompt: "try things", command: null });
    const ws = await tempDir();
    await symlink(outside, join(ws, "link"));
    const run = await runRunner(
      ["run-job", "--json"],
      runnerEnv(api, ws, {
        SANDBOX_JOB_ID: rec.job.id,
        SANDBOX_RESTORE_INSTALL: "0",
        ANTHROPIC_API_KEY: FAKE_KEY,
        ANTHROPIC_BASE_URL: model.url,
      }),
    );
    expect(run.code, run.stderr).toBe(0);
    expect(model.errors).toEqual([]);
    const result = rec.results[0] as JobResult;
    expect(result).toMatchObject({ status: "succeeded", summary: "Recovered." });
    expect(result.changedFiles.added).toContain("ok.txt");
    expect(await readFile(join(outside, "secret.txt"), "utf8")).toBe("no\n");
    const errs = rec.events.filter((e) => e.type === "agent_step" && e.data.kind === "tool_result" && e.data.isError);
    expect(errs).toHaveLength(9);
  });

  it("stops over budget with BUDGET_EXCEEDED and snapshots the work so far", async () => {
    model.turns = [
      () => ({
        content: [{ type: "tool_use", name: "bash", input: { command: "echo partial > partial.txt" } }],
        usage: { input_tokens: 100, output_tokens: 50 },
      }),
      () => ({
        // 10,000 input + 1,000 output tokens at $2/$10 per MTok = $0.03, over the $0.01 budget.
        content: [{ type: "tool_use", name: "bash", input: { command: "echo never > never.txt" } }],
        usage: { input_tokens: 10_000, output_tokens: 1_000 },
      }),
    ];
    const { result, events, ws } = await runClaudeJob("spend", { AGENT_MAX_COST_USD: "0.01" });
    expect(model.errors).toEqual([]);
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("BUDGET_EXCEEDED");
    expect(result.error?.message).toContain("AGENT_MAX_COST_USD");
    expect(result.changedFiles.added).toEqual(["partial.txt"]);
    expect(result.snapshotId).toBe(api.store.head);
    expect(result.usage).toMatchObject({ inputTokens: 10_100, outputTokens: 1_050 });
    expect(result.usage.costUsd).toBeCloseTo(0.0307, 6);
    // The over-budget turn's tool call never ran.
    await expect(readFile(join(ws, "never.txt"))).rejects.toThrow();
    expect(steps(events, "tool_use")).toHaveLength(1);
    expect(events.some((e) => e.type === "phase" && e.data.name === "snapshot" && e.data.state === "end")).toBe(true);

    // The turn limit is a budget too.
    model.requests.length = 0;
    model.turns = [
      () => ({ content: [{ type: "tool_use", name: "bash", input: { command: "true" } }] }),
      () => ({ content: [{ type: "tool_use", name: "bash", input: { command: "true" } }] }),
    ];
    const turns = await runClaudeJob("loop", { AGENT_MAX_TURNS: "2" });
    expect(turns.result.error).toMatchObject({
      code: "BUDGET_EXCEEDED",
      message: expect.stringContaining("turn limit"),
    });
    expect(model.requests).toHaveLength(2);
  });

  it("retries a 429 with backoff, then succeeds", async () => {
    model.faults = [{ status: 429 }];
    model.turns = [() => ({ content: [{ type: "text", text: "fine after all" }] })];
    const { result } = await runClaudeJob("hi");
    expect(result).toMatchObject({ status: "succeeded", summary: "fine after all" });
    expect(model.requests.map((r) => r.status)).toEqual([429, 200]);
    // The SDK's own backoff: at least 0.5 s × jitter (≥ 0.75) before the retry.
    const gap = (model.requests[1]?.at ?? 0) - (model.requests[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(350);
  });

  it("fails with MODEL_API_ERROR naming the status when the API answers 500 on every retry", async () => {
    model.faults = [{ status: 500, times: Number.POSITIVE_INFINITY }];
    const { result } = await runClaudeJob("hi", { CLAUDE_MAX_RETRIES: "2" });
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("MODEL_API_ERROR");
    expect(result.error?.message).toMatch(/answered 500 after 2 retries/);
    expect(model.requests.map((r) => r.status)).toEqual([500, 500, 500]);
    expect(result.snapshotId).toBe(api.store.head);
  });

  it("uses the job's model and fails clearly without a key", async () => {
    model.turns = [() => ({ content: [{ type: "text", text: "ok" }] })];
    const { result } = await runClaudeJob("hi", {}, "claude-haiku-4-5");
    expect(model.requests[0]?.body.model).toBe("claude-haiku-4-5");
    expect(result.status).toBe("succeeded");

    const noKey = await runClaudeJob("hi", { ANTHROPIC_API_KEY: "" });
    expect(noKey.result.error?.code).toBe("MODEL_API_KEY_MISSING");
    expect(model.requests).toHaveLength(1);
  });

  it("keeps model keys out of the bash tool's environment", async () => {
    model.turns = [
      () => ({ content: [{ type: "tool_use", name: "bash", input: { command: "env > env.txt" } }] }),
      () => ({ content: [{ type: "text", text: "listed" }] }),
    ];
    const { ws } = await runClaudeJob("env", { OPENAI_API_KEY: "sk-openai-secret" });
    const env = await readFile(join(ws, "env.txt"), "utf8");
    expect(env).not.toContain(FAKE_KEY);
    expect(env).not.toContain("sk-openai-secret");
    expect(env).not.toContain("SANDBOX_RUNNER_TOKEN");
    await mkdir(join(ws, "unused"), { recursive: true });
  });
});
