/**
 * @module test/worker/contract/helpers
 * Small helpers shared by the backend contract suite: unique project ids, stream
 * collection, typed-error expectations and polling.
 */
import { expect } from "vitest";
import type { ExecEvent, SandboxBackend } from "../../../src/backend/types";
import { AppError } from "../../../src/errors";

/** What each part of the suite gets: the backend and the current test's project. */
export interface ContractContext {
  backend(): SandboxBackend;
  project(): string;
}

/** A project id unique to this test run (Cloudflare sandbox id rules). */
export function uniqueProjectId(prefix = "ct"): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Reads a whole event stream. */
export async function collect(stream: ReadableStream<ExecEvent>): Promise<ExecEvent[]> {
  const events: ExecEvent[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return events;
    events.push(value);
  }
}

/** The concatenated data of one output stream's events. */
export function output(events: ExecEvent[], type: "stdout" | "stderr"): string {
  return events.map((e) => (e.type === type ? e.data : "")).join("");
}

/** Asserts the stream's shape: `start` first, exactly one terminal event, last. */
export function expectWellFormed(events: ExecEvent[]): ExecEvent {
  expect(events[0]?.type).toBe("start");
  const terminal = events.filter((e) => e.type === "exit" || e.type === "error");
  expect(terminal).toHaveLength(1);
  const last = events[events.length - 1];
  expect(last).toBe(terminal[0]);
  return last as ExecEvent;
}

/** Awaits `promise`, expecting it to reject with an AppError of `code`; returns the error. */
export async function expectAppError(promise: Promise<unknown>, code: string): Promise<AppError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected an AppError with code ${code}`).toBeInstanceOf(AppError);
  expect((caught as AppError).code).toBe(code);
  return caught as AppError;
}

/** Polls `check` until it returns a value other than undefined (or fails after `timeoutMs`). */
export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A file's bytes through readFile. */
export async function readBytes(backend: SandboxBackend, project: string, path: string): Promise<Uint8Array> {
  const file = await backend.readFile(project, path, 64 * 1024 * 1024);
  const bytes = new Uint8Array(await new Response(file.body).arrayBuffer());
  expect(file.size).toBe(bytes.byteLength);
  return bytes;
}

/** A file's text through readFile. */
export async function readText(backend: SandboxBackend, project: string, path: string): Promise<string> {
  return new TextDecoder().decode(await readBytes(backend, project, path));
}

/** Encodes text for writeFile. */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
