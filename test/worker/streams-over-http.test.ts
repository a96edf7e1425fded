/**
 * The SDK's streams go over HTTP while its calls stay on the WebSocket
 * (src/backend/streams-over-http.ts): Bun drops WebSocket messages past 16 MiB of
 * backpressure, which hung large reads (files.test.ts reads 20 MiB through it).
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { streamOverHttp } from "../../src/backend/streams-over-http";
import type { Sandbox } from "../../src/sandbox-class";

/** A transport of the SDK's shape whose two stream paths say which one ran. */
function fakeTransport(mode: string) {
  const opened: string[] = [];
  const transport = {
    getMode: () => mode,
    fetchStream: async (path: unknown) => {
      opened.push(`ws ${path}`);
      return new ReadableStream<Uint8Array>();
    },
    httpFetchStream(this: unknown, path: unknown) {
      opened.push(`http ${path} ${this === transport}`);
      return Promise.resolve(new ReadableStream<Uint8Array>());
    },
  };
  return { transport, opened };
}

describe("streams over HTTP", () => {
  it("sends a WebSocket transport's streams through its HTTP path, and leaves others alone", async () => {
    const ws = fakeTransport("websocket");
    await streamOverHttp({ transport: ws.transport }).transport.fetchStream("/api/read/stream");
    expect(ws.opened).toEqual(["http /api/read/stream true"]);
    const http = fakeTransport("http");
    await streamOverHttp({ transport: http.transport }).transport.fetchStream("/api/read/stream");
    expect(http.opened).toEqual(["ws /api/read/stream"]);
    expect(streamOverHttp({ transport: null })).toEqual({ transport: null });
  });

  it("applies to the client the Sandbox Durable Object makes, and to one it makes later", async () => {
    const ns = (env as unknown as { Sandbox: DurableObjectNamespace<Sandbox> }).Sandbox;
    await runInDurableObject(ns.get(ns.idFromName("streams-over-http")), async (instance) => {
      const client = instance.client as unknown as { transport: { getMode(): string } };
      expect(client.transport.getMode()).toBe("websocket");
      expect(Object.hasOwn(client.transport, "fetchStream")).toBe(true);
      const later = fakeTransport("websocket");
      (instance as unknown as { client: unknown }).client = { transport: later.transport };
      await (instance.client as unknown as typeof later).transport.fetchStream("/api/execute/stream");
      expect(later.opened).toEqual(["http /api/execute/stream true"]);
    });
  });
});
