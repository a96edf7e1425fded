/**
 * Per-sandbox settings at create (issue 13, point 6, part): environment variables every
 * command and process gets, kept by the Sandbox Durable Object and shown by name only;
 * the SDK's sleepAfter and keepAlive; refusals for names the sandbox's own processes
 * depend on.
 */
import { describe, expect, it } from "vitest";
import { api, apiJson, uniqueProject } from "./support/http";

type Settings = { envNames: string[]; sleepAfter: string | number; keepAlive: boolean; idleTtl: number | null };

describe("sandbox settings", () => {
  it("env reaches commands and processes, is shown by name only, and a later create replaces it", async () => {
    const p = uniqueProject("settings");
    const secret = "s3cr3t-value-that-must-not-show";
    const created = await apiJson<{ settings: Settings }>(`/sandboxes/${p}`, {
      method: "POST",
      json: { env: { GREETING: "hello there", API_SECRET: secret }, sleepAfter: "15m", keepAlive: true },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.data.settings).toEqual({
      envNames: ["API_SECRET", "GREETING"],
      sleepAfter: "15m",
      keepAlive: true,
      idleTtl: null,
    });
    const run = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: 'echo "$GREETING"; [ -n "$API_SECRET" ] && echo set' },
    });
    expect(run.body.data.stdout).toBe("hello there\nset\n");
    // A per-call env still wins over the sandbox's.
    const override = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: 'echo "$GREETING"', env: { GREETING: "per call" } },
    });
    expect(override.body.data.stdout).toBe("per call\n");
    const proc = await apiJson<{ id: string }>(`/sandboxes/${p}/processes`, {
      method: "POST",
      json: { command: 'echo "$GREETING" > from-process.txt' },
    });
    expect(proc.status).toBe(201);
    await expect
      .poll(async () => (await apiJson<{ content: string }>(`/sandboxes/${p}/files/workspace/from-process.txt`)).body)
      .toMatchObject({ data: { content: "hello there\n" } });

    // Status and listing show names, never values.
    const status = await api(`/sandboxes/${p}`);
    const statusText = await status.text();
    expect(JSON.parse(statusText).data.settings.envNames).toEqual(["API_SECRET", "GREETING"]);
    expect(statusText).not.toContain(secret);
    expect(await (await api("/sandboxes?limit=200")).text()).not.toContain(secret);

    // Another create with env replaces the whole set; one without leaves it.
    await apiJson(`/sandboxes/${p}`, { method: "POST", json: { env: { ONLY: "this" } } });
    await apiJson(`/sandboxes/${p}`, { method: "POST" });
    const after = await apiJson<{ stdout: string }>(`/sandboxes/${p}/exec`, {
      method: "POST",
      json: { command: 'echo "[$GREETING] $ONLY"' },
    });
    expect(after.body.data.stdout).toBe("[] this\n");
    expect((await apiJson<{ settings: Settings }>(`/sandboxes/${p}`)).body.data.settings).toMatchObject({
      envNames: ["ONLY"],
      sleepAfter: "15m",
      keepAlive: true,
    });
  });

  it("refuses what the sandbox's own processes depend on, and malformed settings, changing nothing", async () => {
    const p = uniqueProject("settings");
    for (const [body, pattern] of [
      [{ env: { SANDBOX_RUNNER_TOKEN: "x" } }, /env may not set SANDBOX_/],
      [{ env: { LD_PRELOAD: "/workspace/x.so" } }, /env may not set/],
      [{ env: { NODE_OPTIONS: "--require /workspace/x.js" } }, /env may not set/],
      [{ env: { "BAD NAME": "x" } }, /valid shell variable names/],
      [{ sleepAfter: "forever" }, /sleepAfter is a duration/],
      [{ sleepAfter: 1 }, /sleepAfter/],
      [{ keepAlive: "yes" }, /keepAlive/],
      [{ unknown: true }, /unknown/i],
    ] as const) {
      const res = await apiJson(`/sandboxes/${p}`, { method: "POST", json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error, JSON.stringify(body)).toMatch(pattern);
    }
    // Nothing was created by the refused calls.
    expect((await api(`/sandboxes/${p}`)).status).toBe(404);
    const notJson = await api(`/sandboxes/${p}`, {
      method: "POST",
      body: "env=x",
      headers: { "content-type": "text/plain" },
    });
    expect(notJson.status).toBe(415);
  });
});
