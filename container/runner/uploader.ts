/**
 * @module runner/uploader
 * Uploads finished packs while the archiver builds the next ones: at most
 * `maxInFlight` uploads run at once and `submit` waits for a free slot, so memory
 * stays bounded (a few 16 MiB packs) while the network and the disk both stay
 * busy. Each upload first asks the store whether it already holds the pack (a
 * HEAD, overlapped with building, not in front of it): packs are built in scan
 * order, so a run repeated after an interrupted one rebuilds the same packs and
 * sends none of those that arrived. The first failure stops further submissions
 * and is thrown by `submit` or `drain`.
 */
import type { Readable } from "node:stream";
import type { SnapshotStore } from "./store.ts";

/** A pack ready to go: its id, size, a way to stream its bytes (again, on retries). */
export interface OutgoingPack {
  packId: string;
  size: number;
  blobs: number;
  open: () => Readable;
  /** Frees what holds the bytes (a spool file), after upload or failure. */
  release?: () => Promise<void>;
}

/** Pipelined pack uploads with a bound on how many are in flight. */
export class PackUploader {
  private readonly store: SnapshotStore;
  private readonly maxInFlight: number;
  private readonly log: (message: string) => void;
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  uploadedBytes = 0;
  packsUploaded = 0;
  packsSkipped = 0;

  constructor(store: SnapshotStore, options: { maxInFlight?: number; log?: (message: string) => void } = {}) {
    this.store = store;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 2);
    this.log = options.log ?? (() => {});
  }

  private async upload(pack: OutgoingPack): Promise<void> {
    try {
      if (await this.store.hasPack(pack.packId)) {
        this.packsSkipped++;
        return;
      }
      await this.store.putPack(pack.packId, pack.size, pack.open);
      this.uploadedBytes += pack.size;
      this.packsUploaded++;
      this.log(`uploaded pack ${pack.packId.slice(0, 12)} (${pack.size} bytes, ${pack.blobs} blobs)`);
    } finally {
      await pack.release?.().catch(() => {});
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Starts uploading `pack` once a slot is free. Throws the first upload failure seen. */
  async submit(pack: OutgoingPack): Promise<void> {
    while (this.inFlight.size >= this.maxInFlight && this.failure === null) await Promise.race(this.inFlight);
    if (this.failure !== null) {
      await pack.release?.().catch(() => {});
      this.throwIfFailed();
    }
    const task: Promise<void> = this.upload(pack).then(
      () => {
        this.inFlight.delete(task);
      },
      (err: unknown) => {
        this.inFlight.delete(task);
        this.failure ??= err;
      },
    );
    this.inFlight.add(task);
  }

  /** Waits for every upload; throws the first failure. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.throwIfFailed();
  }
}
