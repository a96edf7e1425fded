/**
 * @module validation
 * The one hook every `zValidator(target, schema, onInvalid)` uses: it throws a
 * ValidationError naming each bad field, so app.onError answers with the envelope.
 */
import type { z } from "zod";
import { ValidationError } from "./errors";

/** Shared zValidator hook: turn a failed parse into a 400 ValidationError. */
export function onInvalid(result: { success: boolean; error?: z.core.$ZodError; target: string }): void {
  if (result.success || !result.error) return;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
  const summary = issues.map((i) => (i.path === "(root)" ? i.message : `${i.path}: ${i.message}`)).join("; ");
  throw new ValidationError(`Invalid ${result.target}: ${summary}`, { issues });
}

/** Parse `value` with `schema` outside a zValidator (e.g. a body whose form depends on its type). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, target: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) onInvalid({ success: false, error: parsed.error, target });
  return parsed.data as T;
}

/** The request's JSON body; malformed JSON is a 400 INVALID_JSON. */
export async function readJson(req: { json(): Promise<unknown> }): Promise<unknown> {
  try {
    return await req.json();
  } catch {
    throw new ValidationError("Malformed JSON in request body", undefined, "INVALID_JSON");
  }
}
