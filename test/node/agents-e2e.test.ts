/**
 * The claude agent end to end (local jails): a job queued through the API,
 * leased by /run-next, run by the bundled runner in a real bubblewrap sandbox
 * against the scripted stand-in of the Anthropic API (test/support/model-server-
 * anthropic.ts; ANTHROPIC_BASE_URL points at it, the key is fake), reported back
 * with its diff, usage and cost; its events show every tool call. The Worker passes
 * the key and base URL to run-job only (src/runner-driver/job.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobResult } from "../../src/shared/job-format.ts";
import { type AnthropicStandin, startAnthropicStandin, toolResults } from "../support/model-server-anthropic.ts";
import { type Stack, startStack } from "../support/stack.ts";

const FAKE_KEY = "sk-ant-e2e-fake-key";
let stack: Stack;
let model: AnthropicStandin;

describe("claude agent end to end (local jail)", () => {
  beforeAll(async () => {
    model = await startAnthropicStandin();
    stack = await startStack({ ANTHROPIC_API_KEY: FAKE_KEY, ANTHROPIC_BASE_URL: model.url });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  it("POST /jobs {agent: claude} → /run-next → succeeded with the change in the diff and every tool call in the events", async () => {
    model.turns = [
      () => ({
        content: [
          { type: "text", text: "Creating the module." },
          {
            type: "tool_use",
            name: "str_replace_based_edit_tool",
            input: { command: "create", path: "/workspace/add.js", file_text: "export const add = (a, b) => a - b;\n" },
          },
        ],
      }),
      (req) => {
        expect([...toolResults(req).values()][0]?.isError).toBe(false);
        return {
          content: [
            {
              type: "tool_use",
              name: "str_replace_based_edit_tool",
              input: { command: "str_replace", path: "/workspace/add.js", old_str: "a - b", new_str: "a + b" },
            },
            { type: "tool_use", name: "bash", input: { command: "pwd && cat add.js && ls /workspace" } },
          ],
        };
      },
      (req) => {
        const results = [...toolResults(req).values()];
        expect(results.map((r) => r.isError)).toEqual([false, false]);
        // Inside the sandbox the workspace is /workspace.
        expect(results[1]?.content).toContain("/workspace\nexport const add = (a, b) => a + b;");
        return { content: [{ type: "text", text: "Fixed add()." }] };
      },
    ];
    const p = "agents-e2e-claude";
    const created = await stack.call("POST", "/jobs", { projectId: p, agent: "claude", prompt: "Write add()" });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.data?.id);
    const leased = await stack.call("POST", "/run-next");
    expect(leased.status, JSON.stringify(leased.body)).toBe(202);

    const job = await stack.waitForJob(id);
    expect(model.errors).toEqual([]);
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    const result = job.result as JobResult;
    expect(result.summary).toBe("Fixed add().");
    expect(result.changedFiles.added).toContain("add.js");
    expect(result.diff).toContain("+export const add = (a, b) => a + b;");
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    expect(result.usage.costUsd).toBeGreaterThan(0);

    // The key reached the model API (from the runner's environment), on every request.
    expect(model.requests).toHaveLength(3);
    for (const r of model.requests) {
      expect(r.headers["x-api-key"] ?? r.headers.authorization?.replace(/^Bearer /, "")).toBe(FAKE_KEY);
    }

    const page = await stack.call("GET", `/jobs/${id}/events?format=json&after=0`);
    const events = (page.body.data as { events: Array<{ type: string; data: Record<string, unknown> }> }).events;
    const steps = events.filter((e) => e.type === "agent_step");
    const uses = steps.filter((e) => e.data.kind === "tool_use").map((e) => e.data);
    expect(uses.map((u) => u.name)).toEqual(["str_replace_based_edit_tool", "str_replace_based_edit_tool", "bash"]);
    expect(uses[2]?.input).toEqual({ command: "pwd && cat add.js && ls /workspace" });
    expect(steps.filter((e) => e.data.kind === "tool_result")).toHaveLength(3);
    expect(steps.filter((e) => e.data.kind === "usage")).toHaveLength(3);
    // The key never shows in the job's events.
    expect(JSON.stringify(events)).not.toContain(FAKE_KEY);
  });
});
