/**
 * The `opencode` agent end to end (local jails): a job queued through the
 * API, leased by /run-next, run by the bundled runner in a real bubblewrap
 * sandbox, where the REAL opencode CLI (bound read-only at /opt/opencode/bin by
 * sandboxd) talks to the scripted stand-in model server through OPENAI_BASE_URL
 * (a Worker variable the Worker hands to run-job). The result's diff holds the
 * change, the events show each tool call, and a follow-up job continues the
 * session kept in the snapshot.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPENAI_COMPATIBLE_PROVIDER } from "../../container/runner/agents/opencode-config.ts";
import type { JobResult } from "../../src/shared/job-format.ts";
import { type OpenAIModelServer, startOpenAIModelServer } from "../support/model-server-openai.ts";
import { type Stack, startStack } from "../support/stack.ts";

const MODEL = `${OPENAI_COMPATIBLE_PROVIDER}/scripted-model`;
let stack: Stack;
let model: OpenAIModelServer;

type Step = { seq: number; type: string; data: Record<string, unknown> };

async function runJob(projectId: string, prompt: string): Promise<{ job: Record<string, unknown>; events: Step[] }> {
  // opencode's first run on a cold, loaded machine (CI) took over a minute: room, not a target.
  const job = { projectId, agent: "opencode", model: MODEL, prompt, timeoutSeconds: 150 };
  const created = await stack.call("POST", "/jobs", job);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = String(created.body.data?.id);
  const leased = await stack.call("POST", "/run-next");
  expect(leased.status, JSON.stringify(leased.body)).toBe(202);
  expect(leased.body.data).toMatchObject({ id, agent: "opencode" });
  const finished = await stack.waitForJob(id, 160_000);
  const page = await stack.call("GET", `/jobs/${id}/events?format=json&after=0`);
  return { job: finished, events: (page.body.data as { events: Step[] }).events };
}

describe("opencode agent end to end (local jail, real CLI, scripted model)", () => {
  beforeAll(async () => {
    model = await startOpenAIModelServer();
    stack = await startStack({ OPENAI_BASE_URL: model.baseUrl, OPENAI_API_KEY: "sk-standin-e2e" });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await model?.close();
  });

  it("runs POST /jobs {agent: opencode} via /run-next: the change is in the diff, each tool call in the events", async () => {
    model.script.push(
      {
        kind: "tools",
        calls: [{ name: "write", arguments: { filePath: "/workspace/app.py", content: "print('hello')\n" } }],
      },
      { kind: "tools", calls: [{ name: "read", arguments: { filePath: "/workspace/app.py" } }] },
      {
        kind: "tools",
        calls: [
          {
            name: "edit",
            arguments: {
              filePath: "/workspace/app.py",
              oldString: "print('hello')",
              newString: "print('hello, world')",
            },
          },
        ],
      },
      { kind: "tools", calls: [{ name: "bash", arguments: { command: "python3 app.py", description: "Run it" } }] },
      { kind: "text", text: "app.py prints hello, world." },
    );
    const { job, events } = await runJob("opencode-e2e", "Create app.py that greets the world");
    expect(job.status, JSON.stringify(job)).toBe("succeeded");
    const result = job.result as JobResult;
    expect(result.exitCode).toBe(0);
    expect(result.summary).toBe("app.py prints hello, world.");
    expect(result.changedFiles.added).toContain("app.py");
    // opencode's HOME is per-job scratch: no npm cache or tool state lands in the workspace.
    expect(result.changedFiles.added.filter((p) => !p.startsWith(".opencode-state/"))).toEqual(["app.py"]);
    expect(result.diff).toContain("+print('hello, world')");
    expect(result.usage.inputTokens).toBeGreaterThan(0);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
    const calls = events.filter((e) => e.type === "agent_step" && e.data.kind === "tool_call");
    expect(calls.map((e) => e.data.tool)).toEqual(["write", "read", "edit", "bash"]);
    const results = events.filter((e) => e.type === "agent_step" && e.data.kind === "tool_result");
    expect(results.map((e) => e.data.ok)).toEqual([true, true, true, true]);
    expect(String(results[3]?.data.output)).toContain("hello, world");
    // The key reached the model server from inside the sandbox; the scripted turns were all used.
    expect(model.turns()[0]?.authorization).toBe("Bearer sk-standin-e2e");
    expect(model.script).toHaveLength(0);

    // A follow-up job continues the session the snapshot kept.
    const before = model.requests.length;
    model.script.push({ kind: "text", text: "Nothing more to do." });
    const next = await runJob("opencode-e2e", "FOLLOW-UP: anything else?");
    expect(next.job.status, JSON.stringify(next.job)).toBe("succeeded");
    const start = next.events.find((e) => e.type === "agent_step" && e.data.kind === "start");
    expect(String(start?.data.continues)).toMatch(/^ses_/);
    const sent = JSON.stringify(model.requests.slice(before).find((r) => r.turn)?.body.messages);
    expect(sent).toContain("Create app.py that greets the world");
    expect(sent).toContain("FOLLOW-UP: anything else?");
  }, 200_000);
});
