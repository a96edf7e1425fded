/**
 * @module backend/cloudflare-preview
 * The SDK's preview-URL proxy, for src/preview.ts: `proxyToSandbox` parses
 * `<port>-<sandboxId>-<token>.<domain>`, and the Sandbox Durable Object checks the
 * token and the port's activation before it forwards to the container's port.
 * Kept here so that only the adapter's modules import the SDK.
 */
import { proxyToSandbox } from "@cloudflare/sandbox";

/** The sandbox's server's answer, or null when `request`'s host is not a preview host to the SDK. */
export async function forwardToPreview(request: Request, env: Env): Promise<Response | null> {
  // The product's Sandbox class has more methods than the SDK's generic one the signature names.
  return await proxyToSandbox(request, env as unknown as Parameters<typeof proxyToSandbox>[1]);
}
