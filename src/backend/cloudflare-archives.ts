/**
 * @module backend/cloudflare-archives
 * Bulk transfer as tar archives, done by GNU tar in the container.
 *
 * Upload: the request body is streamed into the container in parts of WRITE_PART_BYTES
 * (so the Worker never holds more than one part), joined there, and extracted into a
 * staging directory outside the workspace. Only an archive tar extracts without one
 * error is then copied into the target directory, so a bad archive changes nothing.
 * GNU tar itself refuses members with `..`, strips leading `/`, and creates symlinks
 * that point away only after every file (placeholders first), so no member lands
 * outside the staging directory; tar reads gzip by its magic bytes.
 *
 * Download: tar packs the directory to a file in the container's /tmp, which is
 * streamed back like any file (readFileBody: size first, refused over the limit) and
 * removed when the stream ends. One left behind by a caller that went away is removed
 * by the next download an hour later.
 */
import type { Sandbox } from "@cloudflare/sandbox";
import { BackendError, ConflictError, NotFoundError, PayloadTooLargeError, ValidationError } from "../errors";
import { shellQuote } from "../shell";
import { mapErrors } from "./cloudflare-errors";
import { readFileBody, streamParts } from "./cloudflare-files";
import type { FileContent } from "./types";

// biome-ignore lint/suspicious/noExplicitAny: the SDK's Sandbox is generic over the Worker's Env, irrelevant here.
type AnySandbox = Sandbox<any>;

/** Where staging directories and packed archives live in the container (never in the workspace). */
const SCRATCH_PREFIX = "/tmp/.sandbox-archive-";

/** Exit codes of the scripts below. */
const EXIT_NOT_FOUND = 44;
const EXIT_NOT_A_DIRECTORY = 46;
const EXIT_BAD_ARCHIVE = 47;
const EXIT_COPY_FAILED = 48;

/** The first lines of tar's complaints, for an error message. */
function firstLines(text: string, n = 5): string {
  return text.trim().split("\n").slice(0, n).join("; ");
}

/**
 * Extracts the tar (or tar.gz) archive in `body` into `dir` (created if missing; files
 * already there are overwritten, others kept). Returns how many non-directory entries
 * it held and the archive's size.
 */
export async function extractArchive(
  sandbox: AnySandbox,
  dir: string,
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<{ entries: number; bytes: number }> {
  const scratch = `${SCRATCH_PREFIX}${crypto.randomUUID()}`;
  const cleanup = `rm -rf -- ${shellQuote(scratch)} ${shellQuote(scratch)}.*`;
  try {
    const { parts, bytes } = await streamParts(sandbox, `${scratch}.part`, body, maxBytes);
    if (parts.length === 0) throw new ValidationError("The archive is empty", undefined, "INVALID_ARCHIVE");
    const [s, d, tarFile] = [shellQuote(scratch), shellQuote(dir), shellQuote(`${scratch}.tar`)];
    const script = [
      `if [ -e ${d} ] && [ ! -d ${d} ]; then exit ${EXIT_NOT_A_DIRECTORY}; fi`,
      `cat ${parts.map(shellQuote).join(" ")} > ${tarFile} && rm -f -- ${parts.map(shellQuote).join(" ")}`,
      `mkdir -p ${s}`,
      `tar -x --no-same-owner -f ${tarFile} -C ${s} || exit ${EXIT_BAD_ARCHIVE}`,
      `find ${s} -mindepth 1 ! -type d | wc -l`,
      `mkdir -p ${d} && cp -a ${s}/. ${d}/ || exit ${EXIT_COPY_FAILED}`,
    ].join("\n");
    const result = await mapErrors(() => sandbox.exec(script));
    if (result.exitCode === EXIT_NOT_A_DIRECTORY) {
      throw new ValidationError(`Not a directory: ${dir}`, undefined, "NOT_A_DIRECTORY");
    }
    if (result.exitCode === EXIT_BAD_ARCHIVE) {
      throw new ValidationError(
        `The archive was not extracted (nothing changed): ${firstLines(result.stderr)}`,
        undefined,
        "INVALID_ARCHIVE",
      );
    }
    if (result.exitCode === EXIT_COPY_FAILED) {
      throw new ConflictError(`Copying the archive into ${dir} failed: ${firstLines(result.stderr)}`);
    }
    if (result.exitCode !== 0) {
      throw new BackendError(`Extracting into ${dir} failed: ${firstLines(result.stderr)}`, "FILE_WRITE_FAILED");
    }
    return { entries: Number.parseInt(result.stdout.trim(), 10) || 0, bytes };
  } finally {
    await sandbox.exec(cleanup).catch(() => undefined);
  }
}

/** Packs `dir` (its contents, as `./…`) into a tar, or tar.gz with `gzip`, streamed back. */
export async function packArchive(
  sandbox: AnySandbox,
  dir: string,
  opts: { gzip: boolean; maxBytes: number },
): Promise<FileContent> {
  const out = `${SCRATCH_PREFIX}${crypto.randomUUID()}.tar${opts.gzip ? ".gz" : ""}`;
  const [d, o] = [shellQuote(dir), shellQuote(out)];
  const script = [
    `find /tmp -maxdepth 1 -name '.sandbox-archive-*' -mmin +60 -exec rm -rf -- {} + 2>/dev/null`,
    `if [ ! -e ${d} ]; then exit ${EXIT_NOT_FOUND}; fi`,
    `if [ ! -d ${d} ]; then exit ${EXIT_NOT_A_DIRECTORY}; fi`,
    `tar -c ${opts.gzip ? "-z " : ""}-f ${o} -C ${d} .`,
  ].join("\n");
  const remove = () => sandbox.exec(`rm -f -- ${o}`).catch(() => undefined);
  const result = await mapErrors(() => sandbox.exec(script));
  if (result.exitCode === EXIT_NOT_FOUND) throw new NotFoundError(`Directory not found: ${dir}`, "FILE_NOT_FOUND");
  if (result.exitCode === EXIT_NOT_A_DIRECTORY) {
    throw new ValidationError(`Not a directory: ${dir}`, undefined, "NOT_A_DIRECTORY");
  }
  if (result.exitCode !== 0) {
    await remove();
    throw new BackendError(`Packing ${dir} failed: ${firstLines(result.stderr)}`, "FILE_READ_FAILED");
  }
  let file: FileContent;
  try {
    file = await readFileBody(sandbox, out, opts.maxBytes);
  } catch (err) {
    await remove();
    if (err instanceof PayloadTooLargeError) throw new PayloadTooLargeError("Archive", opts.maxBytes);
    throw err;
  }
  const reader = file.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          await remove();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        await remove();
        controller.error(err);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => undefined);
      await remove();
    },
  });
  return { body, size: file.size };
}
