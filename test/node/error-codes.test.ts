/**
 * The one map of error codes and their HTTP statuses (src/shared/error-codes.ts) and
 * the README's API reference, which documents them: a code the README lists under a
 * status must be answered with that status, and every documented code must exist.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_STATUS, isErrorCode, RUNNER_CODES_WITH_STATUS } from "../../src/shared/error-codes.ts";

const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");

/** `| 404 | \`A\`, \`B\` | … |` rows of the API reference's status table. */
function documentedStatuses(): Array<{ status: number; code: string }> {
  const rows: Array<{ status: number; code: string }> = [];
  for (const line of readme.split("\n")) {
    const m = /^\| (\d{3})\s+\| ([^|]+)\|/.exec(line);
    if (!m) continue;
    for (const code of (m[2] as string).matchAll(/`([A-Z][A-Z0-9_]+)`/g)) {
      rows.push({ status: Number(m[1]), code: code[1] as string });
    }
  }
  return rows;
}

describe("error codes", () => {
  it("the README documents each code with the status the map answers it with", () => {
    const rows = documentedStatuses();
    expect(rows.length).toBeGreaterThan(40);
    for (const { status, code } of rows) {
      expect(isErrorCode(code), `${code} is in src/shared/error-codes.ts`).toBe(true);
      expect({ code, status: ERROR_STATUS[code as keyof typeof ERROR_STATUS] }).toEqual({ code, status });
    }
  });

  it("runner codes a route answers with their own status are codes of the map, not 502s", () => {
    for (const code of RUNNER_CODES_WITH_STATUS) expect(ERROR_STATUS[code]).not.toBe(502);
    expect(isErrorCode("NOT_A_CODE")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
  });
});
