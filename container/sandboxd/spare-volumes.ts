/**
 * @module sandboxd/spare-volumes
 * A formatted workspace image kept ready, so that a new sandbox's start does not wait for
 * mkfs.ext4 (~70 ms of a ~450 ms start, npm run bench:api): taking the spare is a rename,
 * and the next one is formatted at once in the background, at the lowest CPU priority so
 * that the start it sped up keeps the CPU. A spare is never mounted before it is taken, so
 * one left by an earlier sandboxd run is as good as new. One spare per directory, size and
 * owner (what mkfs.ext4 writes into the image).
 */
import { mkdir, rename } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Formats an empty image at a path, at a low CPU priority (workspace-volume.ts's createImage). */
type MakeSpare = (spare: string) => Promise<void>;

/** The spares being formatted now, by path. */
const making = new Map<string, Promise<void>>();

function spareOf(dir: string, bytes: number, owner: { uid: number; gid: number } | null): string {
  return join(dir, `spare-${bytes}-${owner ? `${owner.uid}.${owner.gid}` : "root"}.img`);
}

/**
 * Moves the spare for (`bytes`, `owner`) in `dir` to `image` and starts the next one.
 * False, having moved nothing, when there is no spare yet (the caller formats its own).
 */
export async function takeSpareImage(
  dir: string,
  image: string,
  bytes: number,
  owner: { uid: number; gid: number } | null,
  make: MakeSpare,
): Promise<boolean> {
  const spare = spareOf(dir, bytes, owner);
  // One still being formatted is not there yet (it appears whole, by a link, when done): on a
  // busy machine a low-priority mkfs can take long, and the caller formats its own as before.
  let taken = true;
  await mkdir(dirname(image), { recursive: true });
  await rename(spare, image).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
    taken = false;
  });
  refill(spare, make);
  return taken;
}

/** Formats the next spare now, in the background and at a low priority. */
function refill(spare: string, make: MakeSpare): void {
  if (making.has(spare)) return;
  const formatting = (async () => {
    // Not recursive: a root that is gone by now (a test's, a removed SANDBOXD_ROOT) stays gone.
    await mkdir(dirname(spare), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    await make(spare);
  })()
    // A spare that could not be made is only a start that formats its own image.
    .catch(() => {})
    .finally(() => making.delete(spare));
  making.set(spare, formatting);
}
