/**
 * The `opencode` agent running the REAL opencode CLI (the opencode-ai
 * devDependency) against the scripted OpenAI-compatible stand-in model server:
 * directly through the agent (abort stops it and what it started; a missing CLI is
 * a clear error), and through `runner run-job` with the stand-in runner API (tool
 * calls create, read and edit files, events and usage are mapped, the session's
 * state is in the snapshot and a second job continues it; a model API that keeps
 * answering 500 fails the job with MODEL_API_ERROR). Each opencode run costs ~8
 * CPU-seconds, so one run covers as much as it can.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { opencodeAgent } from "../../../container/runner/agents/opencode.ts";
import { OPENAI_COMPATIBLE_PROVIDER, OPENCODE_STATE_DIR } from "../../../container/runner/agents/opencode-config.ts";
import type { AgentOutcome } from "../../../container/runner/agents/types.ts";
import type { JobResult, NewJobEvent } from "../../../src/shared/job-format.ts";
import { type OpenAIModelServer, startOpenAIModelServer } from "../../support/model-server-openai.ts";
import { cleanupTemp, restore, tempDir } from "../../support/runner-fixtures.ts";
import { runnerEnv, runRunner } from "../../support/runner-process.ts";
import { makeJob } from "../../support/standin-job-routes.ts";
import { type StandinRunnerApi, startStandinRunnerApi } from "../../support/standin-runner-api.ts";

const OPENCODE_BIN = join(import.meta.dirname, "../../../node_modules/.bin/opencode");
const MODEL = `${OPENAI_COMPATIBLE_PROVIDER}/scripted-model`;

let model: OpenAIModelServer;
beforeAll(async () => {
  model = await startOpenAIModelServer();
});
afterAll(async () => {
  await model?.close();
});
beforeEach(() => {
  model.script.length = 0;
  model.requests.length = 0;
});
afterEach(async () => {
  await cleanupTemp();
});

/** Environment the runner would hand the agent (keys and base URL of the stand-in). */
function agentEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    OPENAI_BASE_URL: model.baseUrl,
    OPENAI_API_KEY: "sk-standin",
    OPENCODE_BIN,
    ...extra,
  };
}

async function runAgent(
  ws: string,
  prompt: string,
  opts: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<{ outcome: AgentOutcome; events: NewJobEvent[] }> {
  const events: NewJobEvent[] = [];
  const outcome = await opencodeAgent.run({
    job: makeJob("demo", { agent: "opencode", prompt, model: MODEL, command: null }),
    workspace: ws,
    env: agentEnv(opts.env),
    signal: opts.signal ?? new AbortController().signal,
    emit: (e) => events.push(e),
    log: () => {},
  });
  return { outcome, events };
}

/** The scripted first job: creates, reads and edits a file, runs a command, then answers. */
function editScript(ws: string): void {
  const notes = join(ws, "notes.md");
  model.script.push(
    { kind: "tools", calls: [{ name: "write", arguments: { filePath: notes, content: "# v1\nhello world\n" } }] },
    { kind: "tools", calls: [{ name: "read", arguments: { filePath: notes } }] },
    {
      kind: "tools",
      text: "Editing the greeting.",
      calls: [{ name: "edit", arguments: { filePath: notes, oldString: "hello", newString: "hi" } }],
    },
    { kind: "tools", calls: [{ name: "bash", arguments: { command: "cat notes.md", description: "Show notes" } }] },
    { kind: "text", text: "Wrote notes.md." },
  );
}

const steps = (events: NewJobEvent[], kind: string) =>
  events.filter((e) => e.type === "agent_step" && e.data.kind === kind).map((e) => e.data);

describe("opencode agent (real CLI, scripted model)", () => {
  it("stops opencode and what it started when the job is aborted", async () => {
    const ws = await tempDir();
    model.script.push({
      kind: "tools",
      calls: [{ name: "bash", arguments: { command: "sleep 30; echo late > late.txt", description: "Wait" } }],
    });
    const abort = new AbortController();
    const t0 = Date.now();
    setTimeout(() => abort.abort("cancel"), 4000);
    const { outcome } = await runAgent(ws, "wait a while", { signal: abort.signal });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(outcome.exitCode).not.toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(join(ws, "late.txt"))).toBe(false);
  }, 90_000);

  it("fails with a clear error when opencode is not installed", async () => {
    const ws = await tempDir();
    const { outcome } = await runAgent(ws, "anything", { env: { OPENCODE_BIN: join(ws, "no-opencode") } });
    expect(outcome.error?.code).toBe("AGENT_FAILED");
    expect(outcome.error?.message).toContain("opencode CLI not found");
  });
});

describe("opencode agent through runner run-job", () => {
  let api: StandinRunnerApi;
  beforeEach(async () => {
    api = await startStandinRunnerApi();
  });
  afterEach(async () => {
    await api.close();
  });

  const jobEnv = (ws: string, jobId: string, extra: NodeJS.ProcessEnv = {}) =>
    runnerEnv(api, ws, { SANDBOX_JOB_ID: jobId, SANDBOX_RESTORE_INSTALL: "0", ...agentEnv(extra) });

  it("edits files through tool calls, maps events and usage, snapshots the session; a second job continues it", async () => {
    const ws1 = await tempDir();
    editScript(ws1);
    const first = api.addJob({
      agent: "opencode",
      prompt: "FIRST-PROMPT write notes",
      model: MODEL,
      command: null,
      timeoutSeconds: 150,
    });
    const run1 = await runRunner(["run-job", "--json"], jobEnv(ws1, first.job.id));
    expect(run1.code, run1.stderr).toBe(0);
    const r1 = first.results[0] as JobResult;
    expect(r1, JSON.stringify(r1)).toMatchObject({ status: "succeeded", exitCode: 0, error: null });
    expect(r1.changedFiles.added).toContain("notes.md");
    expect(r1.diff).toContain("+# v1");
    expect(r1.diff).toContain("+hi world");
    expect(r1.summary).toBe("Wrote notes.md.");
    // Five coding turns at 100 prompt tokens (10 cached) and 20 completion tokens each.
    expect(r1.usage).toMatchObject({ inputTokens: 450, outputTokens: 100, cacheReadTokens: 50 });
    const events = first.events;
    expect(steps(events, "tool_call").map((s) => s.tool)).toEqual(["write", "read", "edit", "bash"]);
    const results = steps(events, "tool_result");
    expect(results.map((s) => s.ok)).toEqual([true, true, true, true]);
    expect(String(results[3]?.output)).toContain("hi world");
    expect(steps(events, "text").map((s) => s.text)).toContain("Wrote notes.md.");
    expect(steps(events, "turn")).toHaveLength(5);
    // The stand-in saw opencode's tools and our key, and every coding turn came through it.
    const turns = model.turns();
    expect(turns).toHaveLength(5);
    expect(turns[0]?.body.tools?.map((t) => t.function.name)).toEqual(
      expect.arrayContaining(["bash", "edit", "read", "write"]),
    );
    expect(turns[0]?.authorization).toBe("Bearer sk-standin");
    expect(turns[0]?.body.model).toBe("scripted-model");
    // The snapshot holds opencode's session database and our session record.
    const manifest = JSON.parse(api.store.manifests.get(r1.snapshotId as string) as string);
    const paths = JSON.stringify(manifest);
    expect(paths).toContain(`${OPENCODE_STATE_DIR}/data/opencode/opencode.db`);
    expect(paths).toContain(`${OPENCODE_STATE_DIR}/session.json`);

    // A fresh workspace at the same path (as /workspace in a new container): everything
    // the second job knows comes from the snapshot.
    const session = JSON.parse(await readFile(join(ws1, OPENCODE_STATE_DIR, "session.json"), "utf8"));
    await rm(ws1, { recursive: true, force: true });
    await mkdir(ws1);
    const ws2 = ws1;
    model.requests.length = 0;
    model.script.push(
      { kind: "tools", calls: [{ name: "write", arguments: { filePath: join(ws2, "notes.md"), content: "# v2\n" } }] },
      { kind: "text", text: "Updated notes.md." },
    );
    const second = api.addJob({
      agent: "opencode",
      prompt: "SECOND-PROMPT update notes",
      model: MODEL,
      command: null,
      timeoutSeconds: 150,
    });
    const run2 = await runRunner(["run-job", "--json"], jobEnv(ws2, second.job.id));
    expect(run2.code, run2.stderr).toBe(0);
    const r2 = second.results[0] as JobResult;
    expect(r2, JSON.stringify(r2)).toMatchObject({ status: "succeeded", error: null });
    expect(r2.changedFiles.modified).toContain("notes.md");
    expect(r2.diff).toContain("-# v1");
    expect(r2.diff).toContain("+# v2");
    // The CLI was told to continue the recorded session…
    expect(run2.stderr).toContain(`--session ${session.sessionId}`);
    const start = second.events.find((e) => e.type === "agent_step" && e.data.kind === "start");
    expect(start?.data.continues).toBe(session.sessionId);
    // …and the model saw the first job's conversation in the second job's first request.
    const sent = JSON.stringify(model.turns()[0]?.body.messages);
    expect(sent).toContain("FIRST-PROMPT write notes");
    expect(sent).toContain("Wrote notes.md.");
    expect(sent).toContain("SECOND-PROMPT update notes");

    const check = await tempDir();
    await restore(api.store, check);
    expect(await readFile(join(check, "notes.md"), "utf8")).toBe("# v2\n");
  }, 360_000);

  it("fails the job with MODEL_API_ERROR when the model API keeps answering 500", async () => {
    const ws = await tempDir();
    // retry-after-ms keeps opencode's (and its SDK's) backoff between attempts short.
    for (let i = 0; i < 8; i++) {
      model.script.push({ kind: "error", status: 500, message: "upstream exploded", retryAfterMs: 100 });
    }
    const rec = api.addJob({ agent: "opencode", prompt: "do something", model: MODEL, command: null });
    const run = await runRunner(["run-job", "--json"], jobEnv(ws, rec.job.id, { OPENCODE_MAX_MODEL_ERRORS: "2" }));
    expect(run.code, run.stderr).toBe(0);
    const result = rec.results[0] as JobResult;
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("MODEL_API_ERROR");
    expect(result.error?.message).toContain("upstream exploded");
    expect(result.error?.message).toContain("failed 2 times");
    expect(model.turns().length).toBeGreaterThanOrEqual(2);
    // The work so far (opencode's session state) was still snapshotted.
    expect(result.snapshotId).toBe(api.store.head);
  }, 180_000);
});
