/**
 * @module test/support/model-server-openai
 * A STAND-IN for an OpenAI-compatible model API (`POST /v1/chat/completions`),
 * scripted turn by turn, on 127.0.0.1. It lets tests run real agent CLIs
 * (opencode) without the internet: each request that offers tools takes the next
 * turn of the script — text, tool calls in the client's own tool names, or an
 * HTTP error — and answers it streamed (SSE `data:` chunks with tool_calls
 * deltas, a final usage chunk and `[DONE]`) or as one JSON body, as asked.
 *
 * Side requests that offer no tools (opencode's session-title generation) get a
 * fixed short answer and do not consume the script, so a script describes only
 * the coding conversation. When the script runs out, the server answers a plain
 * "done" text (a model that has nothing more to do). Not a model: no reasoning,
 * no validation of the conversation beyond recording it for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One tool call the model makes (`arguments` is JSON-encoded on the wire). */
export interface ScriptToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** One scripted answer. */
export type ScriptTurn =
  | { kind: "text"; text: string }
  | { kind: "tools"; calls: ScriptToolCall[]; text?: string }
  /** `retryAfterMs`: sent as `retry-after-ms`, as OpenAI does with its 429s and 5xx, which clients honour. */
  | { kind: "error"; status: number; message?: string; retryAfterMs?: number };

/** Token counts every answer reports (in its final usage chunk / `usage` field). */
export const SCRIPT_USAGE = { prompt_tokens: 100, completion_tokens: 20, cached_tokens: 10 } as const;

/** What the server saw of one request. */
export interface SeenRequest {
  path: string;
  /** The parsed JSON body. */
  body: ChatRequest;
  /** The turn it answered with; null for a side request (title) or a 404. */
  turn: ScriptTurn | null;
  authorization: string | undefined;
}

/** The parts of a chat-completions request the stand-in reads. */
export interface ChatRequest {
  model?: string;
  stream?: boolean;
  tools?: Array<{ type: string; function: { name: string } }>;
  messages?: Array<{ role: string; content?: unknown; tool_calls?: unknown; tool_call_id?: string }>;
}

/** A running stand-in. */
export interface OpenAIModelServer {
  /** Base URL including `/v1` (what OPENAI_BASE_URL takes). */
  baseUrl: string;
  /** Remaining turns; tests push more before each job. */
  script: ScriptTurn[];
  requests: SeenRequest[];
  /** Requests that took a script turn (the coding conversation). */
  turns(): SeenRequest[];
  close(): Promise<void>;
}

/** The title side request's answer. */
const TITLE_TEXT = "Scripted session";

let callCounter = 0;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function usage(): Record<string, unknown> {
  const u = SCRIPT_USAGE;
  return {
    prompt_tokens: u.prompt_tokens,
    completion_tokens: u.completion_tokens,
    total_tokens: u.prompt_tokens + u.completion_tokens,
    prompt_tokens_details: { cached_tokens: u.cached_tokens },
  };
}

/** Streams one answer as chat.completion.chunk SSE events. */
function streamAnswer(res: ServerResponse, model: string, text: string, calls: ScriptToolCall[]): void {
  const id = `chatcmpl-standin-${++callCounter}`;
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    })}\n\n`;
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  res.write(chunk({ role: "assistant", content: "" }, null));
  // Text in two pieces, as a real stream splits it.
  if (text) {
    const mid = Math.ceil(text.length / 2);
    res.write(chunk({ content: text.slice(0, mid) }, null));
    if (text.length > mid) res.write(chunk({ content: text.slice(mid) }, null));
  }
  calls.forEach((call, index) => {
    const args = JSON.stringify(call.arguments);
    const mid = Math.ceil(args.length / 2);
    const callId = `call_standin_${callCounter}_${index}`;
    res.write(
      chunk(
        {
          tool_calls: [
            { index, id: callId, type: "function", function: { name: call.name, arguments: args.slice(0, mid) } },
          ],
        },
        null,
      ),
    );
    res.write(chunk({ tool_calls: [{ index, function: { arguments: args.slice(mid) } }] }, null));
  });
  res.write(chunk({}, calls.length > 0 ? "tool_calls" : "stop"));
  // The usage chunk (stream_options.include_usage): no choices.
  res.write(
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: usage() })}\n\n`,
  );
  res.write("data: [DONE]\n\n");
  res.end();
}

/** Answers one request in one JSON body. */
function jsonAnswer(res: ServerResponse, model: string, text: string, calls: ScriptToolCall[]): void {
  const id = `chatcmpl-standin-${++callCounter}`;
  sendJson(res, 200, {
    id,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: text || null,
          ...(calls.length > 0
            ? {
                tool_calls: calls.map((c, i) => ({
                  id: `call_standin_${callCounter}_${i}`,
                  type: "function",
                  function: { name: c.name, arguments: JSON.stringify(c.arguments) },
                })),
              }
            : {}),
        },
        finish_reason: calls.length > 0 ? "tool_calls" : "stop",
      },
    ],
    usage: usage(),
  });
}

async function readJson(req: IncomingMessage): Promise<ChatRequest> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChatRequest;
  } catch {
    return {};
  }
}

/** Starts the stand-in on a free loopback port with an initial script. */
export async function startOpenAIModelServer(script: ScriptTurn[] = []): Promise<OpenAIModelServer> {
  const requests: SeenRequest[] = [];
  const state: OpenAIModelServer = {
    baseUrl: "",
    script,
    requests,
    turns: () => requests.filter((r) => r.turn !== null),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const body = await readJson(req);
    const seen: SeenRequest = { path, body, turn: null, authorization: req.headers.authorization };
    requests.push(seen);
    if (req.method !== "POST" || !path.endsWith("/chat/completions")) {
      sendJson(res, 404, { error: { message: `stand-in model server: no route ${req.method} ${path}` } });
      return;
    }
    const model = body.model ?? "standin-model";
    const answer = (text: string, calls: ScriptToolCall[]) =>
      body.stream ? streamAnswer(res, model, text, calls) : jsonAnswer(res, model, text, calls);
    if (!body.tools || body.tools.length === 0) {
      answer(TITLE_TEXT, []);
      return;
    }
    const turn: ScriptTurn = state.script.shift() ?? { kind: "text", text: "done" };
    seen.turn = turn;
    if (turn.kind === "error") {
      const error = { message: turn.message ?? `scripted error ${turn.status}`, type: "server_error", code: null };
      const headers: Record<string, string> =
        turn.retryAfterMs === undefined ? {} : { "retry-after-ms": String(turn.retryAfterMs) };
      sendJson(res, turn.status, { error }, headers);
    } else if (turn.kind === "text") {
      answer(turn.text, []);
    } else {
      answer(turn.text ?? "", turn.calls);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return state;
}
