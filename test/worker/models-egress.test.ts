/**
 * Model API keys stay in the Worker (src/models/egress.ts): the Sandbox's outbound
 * handler for MODELS_INTERNAL_HOST adds ANTHROPIC_API_KEY / OPENAI_API_KEY, drops
 * whatever credentials the container sent, forwards to the configured upstream (a
 * stand-in fetch here: no test may reach the real APIs) and never shows the key to
 * the caller; and the runner's environment per backend (start.ts).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config";
import { forwardModelRequest, type ModelConfig, modelRunnerEnv } from "../../src/models/egress";
import { modelsOutboundHandler } from "../../src/sandbox-class";
import { EGRESS_KEY_PLACEHOLDER, MODELS_INTERNAL_ORIGIN } from "../../src/shared/model-egress";

const config: ModelConfig = {
  ANTHROPIC_API_KEY: "sk-ant-worker-secret",
  OPENAI_API_KEY: "sk-openai-worker-secret",
  ANTHROPIC_BASE_URL: "https://gateway.example/anthropic",
  OPENAI_BASE_URL: undefined,
};

/** A stand-in upstream: records what reached it and answers with a stream. */
function upstream() {
  const seen: Array<{ url: string; method: string; headers: Headers; body: string }> = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, method: req.method, headers: req.headers, body: await req.text() });
    return new Response("event: message_stop\ndata: {}\n\n", {
      status: 200,
      headers: { "content-type": "text/event-stream", "request-id": "req_standin" },
    });
  }) as typeof fetch;
  return { seen, fetchFn };
}

describe("model egress", () => {
  it("forwards /anthropic/* with x-api-key, dropping the caller's credentials", async () => {
    const up = upstream();
    const res = await forwardModelRequest(
      new Request(`${MODELS_INTERNAL_ORIGIN}/anthropic/v1/messages?beta=true`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${EGRESS_KEY_PLACEHOLDER}`,
          "x-api-key": "attacker-chosen",
          "anthropic-version": "2023-06-01",
          cookie: "a=b",
        },
        body: JSON.stringify({ model: "m", messages: [] }),
      }),
      config,
      up.fetchFn,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const text = await res.text();
    expect(text).toContain("message_stop");
    expect(text).not.toContain("sk-ant");
    for (const [, v] of res.headers) expect(v).not.toContain("sk-ant");

    expect(up.seen).toHaveLength(1);
    const sent = up.seen[0];
    expect(sent?.url).toBe("https://gateway.example/anthropic/v1/messages?beta=true");
    expect(sent?.method).toBe("POST");
    expect(sent?.headers.get("x-api-key")).toBe("sk-ant-worker-secret");
    expect(sent?.headers.get("authorization")).toBeNull();
    expect(sent?.headers.get("cookie")).toBeNull();
    expect(sent?.headers.get("anthropic-version")).toBe("2023-06-01");
    expect(JSON.parse(sent?.body ?? "")).toEqual({ model: "m", messages: [] });
  });

  it("forwards /openai/* with a bearer key to the default base URL", async () => {
    const up = upstream();
    const res = await forwardModelRequest(
      new Request(`${MODELS_INTERNAL_ORIGIN}/openai/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer whatever", "x-api-key": "nope" },
        body: "{}",
      }),
      config,
      up.fetchFn,
    );
    expect(res.status).toBe(200);
    expect(up.seen[0]?.url).toBe("https://api.openai.com/v1/chat/completions");
    expect(up.seen[0]?.headers.get("authorization")).toBe("Bearer sk-openai-worker-secret");
    expect(up.seen[0]?.headers.get("x-api-key")).toBeNull();
  });

  it("answers other paths 404 and a missing key 401, forwarding nothing", async () => {
    const up = upstream();
    const other = await forwardModelRequest(new Request(`${MODELS_INTERNAL_ORIGIN}/sandboxes/x`), config, up.fetchFn);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { code: string }).code).toBe("ROUTE_NOT_FOUND");
    const sneaky = await forwardModelRequest(
      new Request(`${MODELS_INTERNAL_ORIGIN}/anthropicx/v1`),
      config,
      up.fetchFn,
    );
    expect(sneaky.status).toBe(404);
    const noKey = await forwardModelRequest(
      new Request(`${MODELS_INTERNAL_ORIGIN}/anthropic/v1/messages`, { method: "POST", body: "{}" }),
      { ...config, ANTHROPIC_API_KEY: undefined },
      up.fetchFn,
    );
    expect(noKey.status).toBe(401);
    expect(((await noKey.json()) as { code: string }).code).toBe("MODEL_KEY_MISSING");
    expect(up.seen).toHaveLength(0);
  });

  it("the Sandbox's handler uses the Worker's configuration (no key configured in tests)", async () => {
    const res = await modelsOutboundHandler(
      new Request(`${MODELS_INTERNAL_ORIGIN}/openai/models`, { headers: { authorization: "Bearer x" } }),
      env,
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain("OPENAI_API_KEY");
  });

  it("gives the runner placeholders and the Worker-answered models host, never a key", () => {
    const env = modelRunnerEnv();
    expect(env).toEqual({
      ANTHROPIC_BASE_URL: `${MODELS_INTERNAL_ORIGIN}/anthropic`,
      OPENAI_BASE_URL: `${MODELS_INTERNAL_ORIGIN}/openai`,
      ANTHROPIC_API_KEY: EGRESS_KEY_PLACEHOLDER,
      OPENAI_API_KEY: EGRESS_KEY_PLACEHOLDER,
    });
    expect(JSON.stringify(env)).not.toContain("secret");
  });

  it("parses the four settings (empty = unset, base URLs checked and trimmed)", () => {
    const c = loadConfig({
      ANTHROPIC_API_KEY: " k ",
      OPENAI_API_KEY: "",
      ANTHROPIC_BASE_URL: "https://gw.example/anthropic/",
    });
    expect(c.ANTHROPIC_API_KEY).toBe("k");
    expect(c.OPENAI_API_KEY).toBeUndefined();
    expect(c.ANTHROPIC_BASE_URL).toBe("https://gw.example/anthropic");
    expect(c.OPENAI_BASE_URL).toBeUndefined();
    expect(() => loadConfig({ OPENAI_BASE_URL: "ftp://x" })).toThrow(/OPENAI_BASE_URL/);
    expect(() => loadConfig({ AGENT_MAX_TURNS: "0" })).toThrow(/AGENT_MAX_TURNS/);
    expect(loadConfig({ AGENT_MAX_COST_USD: "2.5" }).AGENT_MAX_COST_USD).toBe("2.5");
  });
});
