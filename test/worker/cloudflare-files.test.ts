/**
 * readFileBody against scripted container streams (the SDK's SSE events): what comes
 * out is the file's size, never less passing for it (src/backend/cloudflare-files.ts).
 */
import { describe, expect, it } from "vitest";
import { readFileBody } from "../../src/backend/cloudflare-files";
import { AppError } from "../../src/errors";

type Event = Record<string, unknown>;
const enc = new TextEncoder();
const b64 = (bytes: number[]) => btoa(String.fromCharCode(...bytes));

/** A sandbox whose readFileStream sends `events` and whose readFile has `exact` (base64). */
function scripted(events: Event[], exact: number[] = []) {
  const calls: string[] = [];
  const sandbox = {
    readFileStream: async () => {
      calls.push("stream");
      return new ReadableStream<Uint8Array>({
        start(c) {
          for (const e of events) c.enqueue(enc.encode(`data: ${JSON.stringify(e)}\n\n`));
          c.close();
        },
      });
    },
    readFile: async () => {
      calls.push("readFile");
      return { content: b64(exact) };
    },
  };
  // biome-ignore lint/suspicious/noExplicitAny: a stand-in for the two SDK methods readFileBody uses.
  return { sandbox: sandbox as any, calls };
}

/** The body's bytes, or the code of the AppError it failed with. */
async function outcome(stream: ReadableStream<Uint8Array>): Promise<number[] | string> {
  const out: number[] = [];
  try {
    for await (const chunk of stream) out.push(...chunk);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  return out;
}

const binary = (size: number) => ({ type: "metadata", mimeType: "application/octet-stream", size, isBinary: true });
const text = (size: number) => ({ type: "metadata", mimeType: "text/plain", size, isBinary: false });

describe("readFileBody", () => {
  it("passes a whole binary stream", async () => {
    const { sandbox } = scripted([binary(4), { type: "chunk", data: b64([0, 1, 2, 255]) }, { type: "complete" }]);
    expect(await outcome((await readFileBody(sandbox, "/w/f", 100)).body)).toEqual([0, 1, 2, 255]);
  });

  it("fails a stream that ends short, with or without its end event", async () => {
    const cut = scripted([binary(8), { type: "chunk", data: b64([1, 2, 3]) }]);
    expect(await outcome((await readFileBody(cut.sandbox, "/w/f", 100)).body)).toBe("FILE_READ_FAILED");
    const early = scripted([binary(8), { type: "chunk", data: b64([1, 2, 3]) }, { type: "complete" }]);
    expect(await outcome((await readFileBody(early.sandbox, "/w/f", 100)).body)).toBe("FILE_READ_FAILED");
  });

  it("cuts a file that grew while read at the size it announced", async () => {
    const { sandbox } = scripted([binary(3), { type: "chunk", data: b64([1, 2, 3, 4, 5]) }, { type: "complete" }]);
    expect(await outcome((await readFileBody(sandbox, "/w/f", 100)).body)).toEqual([1, 2, 3]);
  });

  it("reads text whose decoded length differs (a dropped byte-order mark) again as exact bytes", async () => {
    const file = [0xef, 0xbb, 0xbf, 0x68, 0x69];
    const { sandbox, calls } = scripted([text(5), { type: "chunk", data: "hi" }, { type: "complete" }], file);
    expect(await outcome((await readFileBody(sandbox, "/w/f", 100)).body)).toEqual(file);
    expect(calls).toEqual(["stream", "readFile"]);
  });

  it("passes plain text without a second read, and takes exact bytes where the decoder replaced some", async () => {
    const plain = scripted([text(3), { type: "chunk", data: "hé" }, { type: "complete" }]);
    expect(await outcome((await readFileBody(plain.sandbox, "/w/f", 100)).body)).toEqual([...enc.encode("hé")]);
    expect(plain.calls).toEqual(["stream"]);
    const latin1 = [0x63, 0xe9, 0x0a];
    const odd = scripted([text(3), { type: "chunk", data: "c\uFFFD\n" }, { type: "complete" }], latin1);
    expect(await outcome((await readFileBody(odd.sandbox, "/w/f", 100)).body)).toEqual(latin1);
  });

  it("refuses a file over the limit before its content, and says when the container reported an error", async () => {
    const big = scripted([binary(101), { type: "chunk", data: b64([1]) }]);
    await expect(readFileBody(big.sandbox, "/w/f", 100)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    const failing = scripted([binary(4), { type: "error", error: "EIO" }]);
    expect(await outcome((await readFileBody(failing.sandbox, "/w/f", 100)).body)).toBe("FILE_READ_FAILED");
  });
});
