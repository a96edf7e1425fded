/**
 * @module test/support/model-server-anthropic
 * A STAND-IN for the Anthropic Messages API (POST /v1/messages), on 127.0.0.1, for
 * tests of the claude agent — no test may reach the real API. Driven by a script:
 * each turn is a function of the request (so a test can assert the tool results
 * the agent sent back) returning text and/or tool_use blocks, which are streamed as
 * the real API streams them (SSE: message_start, content_block_start/delta/stop with
 * text_delta and input_json_delta, message_delta with usage, message_stop) or, for
 * `stream: false`, answered as one JSON message. `faults` answers requests with
 * errors (429, 500…) ahead of the script; every request is recorded (headers, body,
 * answer status, time) so tests can assert x-api-key, cache_control and backoff.
 * Not the real API: no validation beyond what the tests need.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as the stand-in saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (a Messages API request). */
  body: MessagesRequest;
  /** Status the stand-in answered. */
  status: number;
  /** Epoch ms when it arrived. */
  at: number;
}

/** The parts of a Messages API request the tests look at. */
export interface MessagesRequest {
  model: string;
  max_tokens: number;
  stream?: boolean;
  system?: Array<{ type: string; text: string; cache_control?: unknown }>;
  tools?: Array<{ type?: string; name: string; cache_control?: unknown }>;
  messages: Array<{ role: "user" | "assistant"; content: string | Array<Record<string, unknown>> }>;
}

/** A content block of a scripted answer. `rawInput` streams that exact (maybe broken) JSON text. */
export type ScriptBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; name: string; input: unknown; id?: string }
  | { type: "tool_use"; name: string; rawInput: string; id?: string };

/** Usage of one answer; what is left out is estimated from the sizes. */
export interface ScriptUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** One scripted answer. stopReason defaults to tool_use when a tool_use block is present, else end_turn. */
export interface ScriptTurn {
  content: ScriptBlock[];
  stopReason?: "end_turn" | "tool_use" | "max_tokens" | "refusal";
  usage?: ScriptUsage;
}

/** A turn of the script: sees the request, returns the answer (throwing fails the test: see `errors`). */
export type Turn = (req: RecordedRequest) => ScriptTurn | Promise<ScriptTurn>;

/** An error answer for the next `times` requests (default 1; Infinity = every request). */
export interface Fault {
  status: number;
  times?: number;
  /** Sent as `retry-after-ms` (the SDK honours it instead of its own backoff). */
  retryAfterMs?: number;
}

/** A running stand-in. */
export interface AnthropicStandin {
  /** Base URL for ANTHROPIC_BASE_URL (the SDK appends /v1/messages). */
  url: string;
  requests: RecordedRequest[];
  /** Requests the script answered (faults excluded). */
  scripted: RecordedRequest[];
  /** The script; each answered request consumes the first turn. */
  turns: Turn[];
  faults: Fault[];
  /** Errors thrown by turns, or requests after the script ran out (answered 400). */
  errors: string[];
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function errorBody(status: number, message: string): unknown {
  return { type: "error", error: { type: ERROR_TYPES[status] ?? "api_error", message } };
}

/** The tool results (by tool_use_id) of the newest user message of a request. */
export function toolResults(req: RecordedRequest): Map<string, { content: string; isError: boolean }> {
  const out = new Map<string, { content: string; isError: boolean }>();
  const last = req.body.messages.at(-1);
  if (!last || typeof last.content === "string") return out;
  for (const b of last.content) {
    if (b.type !== "tool_result") continue;
    const c = b.content;
    const text = typeof c === "string" ? c : Array.isArray(c) ? c.map((x) => String(x.text ?? "")).join("") : "";
    out.set(String(b.tool_use_id), { content: text, isError: b.is_error === true });
  }
  return out;
}

/** Starts the stand-in on a free loopback port. */
export async function startAnthropicStandin(
  opts: { turns?: Turn[]; faults?: Fault[] } = {},
): Promise<AnthropicStandin> {
  const s: AnthropicStandin = {
    url: "",
    requests: [],
    scripted: [],
    turns: opts.turns ?? [],
    faults: opts.faults ?? [],
    errors: [],
    close: async () => {},
  };
  let answered = 0;
  let ids = 0;

  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: req.headers,
      body: { model: "", max_tokens: 0, messages: [] },
      status: 0,
      at: Date.now(),
    };
    s.requests.push(rec);
    try {
      rec.body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as MessagesRequest;
    } catch {
      rec.status = 400;
      return sendJson(res, 400, errorBody(400, "body is not JSON"));
    }
    if (rec.method !== "POST" || !rec.path.startsWith("/v1/messages")) {
      rec.status = 404;
      return sendJson(res, 404, errorBody(404, `no route ${rec.method} ${rec.path}`));
    }
    const fault = s.faults[0];
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) s.faults.shift();
      rec.status = fault.status;
      const headers: Record<string, string> =
        fault.retryAfterMs !== undefined ? { "retry-after-ms": String(fault.retryAfterMs) } : {};
      return sendJson(res, fault.status, errorBody(fault.status, `injected ${fault.status}`), headers);
    }
    // Turns are consumed: a test may assign a new script between jobs.
    const turn = s.turns.shift();
    let answer: ScriptTurn;
    try {
      if (!turn) throw new Error(`the script has no turn left (${answered} answered)`);
      answered++;
      answer = await turn(rec);
    } catch (err) {
      const msg = `scripted model server: ${err instanceof Error ? err.message : String(err)}`;
      s.errors.push(msg);
      rec.status = 400;
      return sendJson(res, 400, errorBody(400, msg));
    }
    s.scripted.push(rec);
    rec.status = 200;
    const blocks = answer.content.map((b) =>
      b.type === "text"
        ? b
        : {
            type: "tool_use" as const,
            id: b.id ?? `toolu_standin_${++ids}`,
            name: b.name,
            json: "rawInput" in b ? b.rawInput : JSON.stringify(b.input),
          },
    );
    const stopReason = answer.stopReason ?? (blocks.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn");
    const size = (x: unknown) => Math.max(1, Math.ceil(JSON.stringify(x).length / 4));
    const usage = {
      input_tokens: answer.usage?.input_tokens ?? size(rec.body.messages),
      output_tokens: answer.usage?.output_tokens ?? size(answer.content),
      cache_read_input_tokens: answer.usage?.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: answer.usage?.cache_creation_input_tokens ?? 0,
    };
    const id = `msg_standin_${++ids}`;
    const model = rec.body.model;
    if (!rec.body.stream) {
      const content = blocks.map((b) =>
        b.type === "text" ? b : { type: "tool_use", id: b.id, name: b.name, input: JSON.parse(b.json) },
      );
      return sendJson(res, 200, {
        id,
        type: "message",
        role: "assistant",
        model,
        content,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      });
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const event = (type: string, data: Record<string, unknown>) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    });
    event("ping", {});
    blocks.forEach((b, index) => {
      if (b.type === "text") {
        event("content_block_start", { index, content_block: { type: "text", text: "" } });
        // Several deltas, as the real API sends them.
        for (let i = 0; i < b.text.length; i += 16) {
          event("content_block_delta", { index, delta: { type: "text_delta", text: b.text.slice(i, i + 16) } });
        }
      } else {
        event("content_block_start", { index, content_block: { type: "tool_use", id: b.id, name: b.name, input: {} } });
        for (let i = 0; i < b.json.length; i += 24) {
          event("content_block_delta", {
            index,
            delta: { type: "input_json_delta", partial_json: b.json.slice(i, i + 24) },
          });
        }
      }
      event("content_block_stop", { index });
    });
    event("message_delta", {
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    event("message_stop", {});
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return s;
}
