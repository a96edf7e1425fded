/**
 * @module test/worker/cloudflare-errors.test
 * The SDK → AppError table of src/backend/cloudflare-errors.ts, fed both real SDK
 * error instances and their shape after crossing Durable Object RPC (own
 * `errorResponse`, no prototype getters).
 */
import { ContainerUnavailableError, RPCTransportError } from "@cloudflare/sandbox";
import { describe, expect, it } from "vitest";
import { toAppError } from "../../src/backend/cloudflare-errors";
import { AppError, NotFoundError } from "../../src/errors";

/** What an SDK error looks like on our side of the DO RPC boundary. */
function overRpc(code: string, message = `${code} happened`, extra: Record<string, unknown> = {}) {
  const err = new Error(message) as Error & Record<string, unknown>;
  err.name = "SandboxError";
  err.errorResponse = { code, message, context: {}, httpStatus: 500, timestamp: "t", ...extra };
  err.remote = true;
  return err;
}

describe("toAppError", () => {
  const table: Array<[string, string, number]> = [
    ["FILE_NOT_FOUND", "FILE_NOT_FOUND", 404],
    ["PROCESS_NOT_FOUND", "PROCESS_NOT_FOUND", 404],
    ["IS_DIRECTORY", "IS_A_DIRECTORY", 400],
    ["NOT_DIRECTORY", "NOT_A_DIRECTORY", 400],
    ["FILE_EXISTS", "CONFLICT", 409],
    ["FILE_TOO_LARGE", "PAYLOAD_TOO_LARGE", 413],
    ["PERMISSION_DENIED", "PERMISSION_DENIED", 403],
    ["READ_ONLY", "PERMISSION_DENIED", 403],
    ["NO_SPACE", "NO_SPACE", 507],
    ["VALIDATION_FAILED", "VALIDATION_ERROR", 400],
    ["INVALID_COMMAND", "VALIDATION_ERROR", 400],
    ["CONTAINER_UNAVAILABLE", "BACKEND_UNAVAILABLE", 503],
    ["RPC_TRANSPORT_ERROR", "BACKEND_UNAVAILABLE", 503],
    ["OPERATION_INTERRUPTED", "BACKEND_UNAVAILABLE", 503],
    ["SESSION_TERMINATED", "BACKEND_UNAVAILABLE", 503],
    ["COMMAND_EXECUTION_ERROR", "BACKEND_ERROR", 502],
    ["GIT_CLONE_FAILED", "BACKEND_ERROR", 502],
    ["SOMETHING_NEW", "BACKEND_ERROR", 502],
  ];
  it.each(table)("maps %s to %s (%i)", (sdkCode, code, status) => {
    const mapped = toAppError(overRpc(sdkCode));
    expect(mapped).toBeInstanceOf(AppError);
    expect([mapped.code, mapped.status]).toEqual([code, status]);
  });

  it("marks unavailable containers transient and other failures permanent", () => {
    expect(toAppError(overRpc("CONTAINER_UNAVAILABLE")).kind).toBe("transient");
    expect(toAppError(overRpc("SOMETHING_NEW")).kind).toBe("permanent");
    const starting = overRpc("INTERNAL_ERROR", "Container is starting. Please retry in a moment.", { httpStatus: 503 });
    expect([toAppError(starting).code, toAppError(starting).kind]).toEqual(["BACKEND_UNAVAILABLE", "transient"]);
  });

  it("maps the container-side command timeout to TIMEOUT when the caller knows the timeout", () => {
    const err = overRpc("COMMAND_EXECUTION_ERROR", "Failed to execute command 'x': Command timeout after 6000ms");
    const mapped = toAppError(err, { timeoutMs: 1000 });
    expect([mapped.code, mapped.status, mapped.details?.timeoutMs]).toEqual(["TIMEOUT", 408, 1000]);
  });

  it("maps real SDK error instances (own errorResponse) the same way", () => {
    const local = new ContainerUnavailableError({
      code: "CONTAINER_UNAVAILABLE",
      message: "no container instance",
      context: { reason: "container_starting", retryable: true, originalMessage: "x" },
      httpStatus: 503,
      timestamp: "t",
    } as ConstructorParameters<typeof ContainerUnavailableError>[0]);
    expect(toAppError(local).code).toBe("BACKEND_UNAVAILABLE");
    const transport = new RPCTransportError({
      code: "RPC_TRANSPORT_ERROR",
      message: "peer closed",
      context: { kind: "peer_closed", originalMessage: "x" },
      httpStatus: 503,
      timestamp: "t",
    } as ConstructorParameters<typeof RPCTransportError>[0]);
    expect(toAppError(transport).kind).toBe("transient");
  });

  it("passes AppErrors through, redacts messages, and classifies plain errors", () => {
    const nf = new NotFoundError("x", "FILE_NOT_FOUND");
    expect(toAppError(nf)).toBe(nf);
    const secret = toAppError(overRpc("GIT_CLONE_FAILED", "fatal: https://u:pw@h/r"), {
      redact: (t) => t.replace("u:pw@", "***@"),
    });
    expect(secret.message).not.toContain("pw@");
    expect(toAppError(new Error("Network connection lost.")).kind).toBe("transient");
    expect(toAppError(new TypeError("boom")).code).toBe("BACKEND_ERROR");
  });
});
