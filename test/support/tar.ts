/**
 * @module test/support/tar
 * The client side of the archive tests: a small ustar writer and reader in plain
 * JavaScript (the Workers tests run in workerd, without a tar binary). They cover what
 * the tests send and read back — regular files, directories, symlinks, modes, names up
 * to the ustar prefix split, and GNU tar's `./`-prefixed names; the container side is
 * GNU tar itself.
 */

/** One archive member. */
export interface TarEntry {
  name: string;
  type: "file" | "dir" | "symlink";
  /** File bytes (files only). */
  data?: Uint8Array;
  /** Symlink target. */
  link?: string;
  /** Permission bits; default 0o644 (files, links) or 0o755 (dirs). */
  mode?: number;
}

const BLOCK = 512;
const enc = new TextEncoder();
const dec = new TextDecoder();

function putString(header: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = enc.encode(text);
  if (bytes.byteLength > length) throw new Error(`tar field too long: ${text}`);
  header.set(bytes, offset);
}

function putOctal(header: Uint8Array, offset: number, length: number, value: number): void {
  putString(header, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Splits a long name into ustar's prefix (155) and name (100) at a slash. */
function splitName(name: string): [string, string] {
  if (enc.encode(name).byteLength <= 100) return ["", name];
  const cut = name.lastIndexOf("/", 155);
  if (cut <= 0 || enc.encode(name.slice(cut + 1)).byteLength > 100) throw new Error(`name too long for ustar: ${name}`);
  return [name.slice(0, cut), name.slice(cut + 1)];
}

/** A ustar archive of `entries`, in order. */
export function writeTar(entries: TarEntry[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    const data = entry.type === "file" ? (entry.data ?? new Uint8Array()) : new Uint8Array();
    const header = new Uint8Array(BLOCK);
    const [prefix, name] = splitName(entry.type === "dir" && !entry.name.endsWith("/") ? `${entry.name}/` : entry.name);
    putString(header, 0, 100, name);
    putOctal(header, 100, 8, entry.mode ?? (entry.type === "dir" ? 0o755 : 0o644));
    putOctal(header, 108, 8, 0);
    putOctal(header, 116, 8, 0);
    putOctal(header, 124, 12, data.byteLength);
    putOctal(header, 136, 12, 1_700_000_000);
    header.fill(0x20, 148, 156); // checksum counted as spaces
    header[156] = enc.encode(entry.type === "file" ? "0" : entry.type === "dir" ? "5" : "2")[0] ?? 0;
    if (entry.link !== undefined) putString(header, 157, 100, entry.link);
    putString(header, 257, 8, "ustar\u000000");
    putString(header, 345, 155, prefix);
    const sum = header.reduce((a, b) => a + b, 0);
    putString(header, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
    blocks.push(header, data);
    const pad = (BLOCK - (data.byteLength % BLOCK)) % BLOCK;
    if (pad) blocks.push(new Uint8Array(pad));
  }
  blocks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.byteLength;
  }
  return out;
}

function field(header: Uint8Array, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return dec.decode(end >= 0 ? raw.subarray(0, end) : raw);
}

/**
 * The members of a ustar/GNU archive, names without a leading `./`; the archive's own
 * `./` entry is left out. Checksums are verified. GNU long names (type L) are followed.
 */
export function readTar(archive: Uint8Array): TarEntry[] {
  const entries: TarEntry[] = [];
  let longName: string | null = null;
  for (let at = 0; at + BLOCK <= archive.byteLength; ) {
    const header = archive.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    const stored = Number.parseInt(field(header, 148, 8).trim(), 8);
    const sum = header.reduce((a, b, i) => a + (i >= 148 && i < 156 ? 0x20 : b), 0);
    if (stored !== sum) throw new Error(`tar checksum mismatch at byte ${at}`);
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const data = archive.slice(at + BLOCK, at + BLOCK + size);
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "L") {
      longName = dec.decode(data).replace(/\0+$/, "");
      continue;
    }
    const prefix = field(header, 345, 155);
    let name = longName ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100));
    longName = null;
    name = name.replace(/^\.\//, "").replace(/\/$/, "");
    if (name === "" || name === ".") continue;
    const mode = Number.parseInt(field(header, 100, 8).trim(), 8) & 0o7777;
    if (type === "5") entries.push({ name, type: "dir", mode });
    else if (type === "2") entries.push({ name, type: "symlink", link: field(header, 157, 100), mode });
    else if (type === "0" || type === "\0") entries.push({ name, type: "file", data, mode });
  }
  return entries;
}

/** gzip-compresses bytes with the platform's CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes.slice()]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** gunzips bytes with the platform's DecompressionStream. */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes.slice()]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
