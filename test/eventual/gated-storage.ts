/**
 * A Persistence decorator for tests: appends reach the inner storage only when the test releases
 * them, so a test can observe exactly when a write's ack resolves relative to its durability.
 */
import { asDocId } from "../../src/ids.js";
import type { DocStorage, Persistence } from "../../src/storage/storage.js";

export interface Gate {
  readonly persistence: Persistence;
  /** Appends waiting for release, in order. */
  readonly held: Uint8Array[];
  /** Lets the oldest `n` held appends through to the inner storage (default: all). */
  release(n?: number): Promise<void>;
}

export function gatedStorage(inner: Persistence): Gate {
  const queue: Array<{ record: Uint8Array; go: () => Promise<void> }> = [];
  const held: Uint8Array[] = [];
  const persistence: Persistence = {
    name: `gated(${inner.name})`,
    async open(doc) {
      const storage = await inner.open(asDocId(doc));
      const gated: DocStorage = {
        ...bind(storage),
        append(record) {
          return new Promise<void>((resolve, reject) => {
            held.push(record);
            queue.push({ record, go: () => storage.append(record).then(resolve, reject) });
          });
        },
      };
      return gated;
    },
  };
  return {
    persistence,
    held,
    async release(n = queue.length) {
      const batch = queue.splice(0, n);
      held.splice(0, n);
      await Promise.all(batch.map((b) => b.go()));
    },
  };
}

function bind(s: DocStorage): DocStorage {
  return {
    get maxRecordBytes() {
      return s.maxRecordBytes;
    },
    load: () => s.load(),
    append: (r) => s.append(r),
    compact: (snap) => s.compact(snap),
    shouldCompact: () => s.shouldCompact(),
    stats: () => s.stats(),
    flush: () => s.flush(),
    close: () => s.close(),
  };
}
