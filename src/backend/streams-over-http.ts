/**
 * @module backend/streams-over-http
 * Calls over the WebSocket, streams over HTTP.
 *
 * With SANDBOX_TRANSPORT "websocket" the SDK carries streams (streamed exec output, file
 * reads, process logs) as WebSocket messages too. The container runtime (0.12.x,
 * ws-adapter.ts) sends each with Bun's `ServerWebSocket.send` and ignores its result, and
 * Bun drops a message (send() returns 0) once 16 MiB wait unsent on the connection, its
 * default `backpressureLimit`. A Durable Object slower than the disk (a 20 MiB file read
 * while the machine was busy) lost chunks, then waited for an end that was dropped as well:
 * the read hung at 13-24 of its 28 MB. An HTTP response has TCP's backpressure instead.
 * Request/response calls stay on the WebSocket (one message each, and the speed it was
 * chosen for: wrangler.jsonc).
 */

/** The parts of the SDK's route-based transport this touches (they are not in its types). */
interface SdkTransport {
  getMode?: () => string;
  fetchStream?: (...args: unknown[]) => Promise<ReadableStream<Uint8Array>>;
  httpFetchStream?: (...args: unknown[]) => Promise<ReadableStream<Uint8Array>>;
}

/**
 * Makes `client`'s WebSocket transport open its streams as HTTP requests, through the same
 * `containerFetch` its HTTP transport uses; any other client is returned as it is.
 */
export function streamOverHttp<T>(client: T): T {
  const transport = (client as { transport?: SdkTransport | null } | null)?.transport;
  const httpStream = transport?.httpFetchStream;
  if (transport?.getMode?.() === "websocket" && httpStream) {
    transport.fetchStream = (...args) => httpStream.apply(transport, args);
  }
  return client;
}
