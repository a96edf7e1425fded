/**
 * @module runner/agents/claude/stream
 * Assembles one streamed Messages API response from its raw SSE events
 * (`client.messages.create({stream: true})`). The SDK's `messages.stream()` helper
 * parses each tool_use input when its block ends and fails the whole stream when
 * the model's JSON is malformed; here the raw JSON text is kept and parsed once,
 * and a parse failure becomes `input: undefined` — which the loop answers with an
 * `is_error` tool result instead of losing the turn.
 */
import type { ContentBlock, RawMessageStreamEvent, StopReason } from "@anthropic-ai/sdk/resources/messages";
import type { ApiUsage } from "./budget.ts";

/** A content block of the assembled response. */
export type CollectedBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown; raw: string }
  /** Thinking, redacted thinking, anything else: passed back to the API unchanged. */
  | { type: "other"; block: ContentBlock };

/** The assembled response. */
export interface CollectedMessage {
  model: string;
  content: CollectedBlock[];
  stopReason: StopReason | null;
  usage: ApiUsage;
}

type Draft =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; json: string }
  | { type: "other"; block: ContentBlock & { thinking?: string; signature?: string } };

function parseInput(json: string): unknown {
  if (json.trim() === "") return {};
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** Reads `events` to the end and returns the response they make up. */
export async function collectMessage(events: AsyncIterable<RawMessageStreamEvent>): Promise<CollectedMessage> {
  const drafts: Draft[] = [];
  const out: CollectedMessage = { model: "", content: [], stopReason: null, usage: {} };
  for await (const ev of events) {
    switch (ev.type) {
      case "message_start":
        out.model = ev.message.model;
        out.usage = { ...ev.message.usage };
        break;
      case "content_block_start": {
        const b = ev.content_block;
        if (b.type === "text") drafts[ev.index] = { type: "text", text: b.text };
        else if (b.type === "tool_use") drafts[ev.index] = { type: "tool_use", id: b.id, name: b.name, json: "" };
        else drafts[ev.index] = { type: "other", block: { ...b } };
        break;
      }
      case "content_block_delta": {
        const d = drafts[ev.index];
        const delta = ev.delta;
        if (!d) break;
        if (delta.type === "text_delta" && d.type === "text") d.text += delta.text;
        else if (delta.type === "input_json_delta" && d.type === "tool_use") d.json += delta.partial_json;
        else if (delta.type === "thinking_delta" && d.type === "other")
          d.block.thinking = (d.block.thinking ?? "") + delta.thinking;
        else if (delta.type === "signature_delta" && d.type === "other") d.block.signature = delta.signature;
        break;
      }
      case "message_delta": {
        out.stopReason = ev.delta.stop_reason;
        // Cumulative counts; null means "unchanged".
        for (const [k, v] of Object.entries(ev.usage)) {
          if (typeof v === "number") (out.usage as Record<string, number>)[k] = v;
        }
        break;
      }
      default:
        break;
    }
  }
  for (const d of drafts) {
    if (!d) continue;
    if (d.type === "tool_use")
      out.content.push({ type: "tool_use", id: d.id, name: d.name, input: parseInput(d.json), raw: d.json });
    else out.content.push(d);
  }
  return out;
}
