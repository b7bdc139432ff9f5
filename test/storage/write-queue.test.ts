/**
 * The write queue of the `primary`-mode drivers (src/primary/write-queue.ts): writes are reported
 * durable strictly in queue order whatever order the storage settles them in; the first failure
 * stops the queue for good and is reported once; `settled()` waits for both.
 */
import { describe, expect, it } from "vitest";
import { ConcordError } from "../../src/errors.js";
import { WriteQueue } from "../../src/storage/write-queue.js";
import type { DocStorage, LogStats, StoredLog } from "../../src/storage/storage.js";

interface Deferred {
  readonly bytes: Uint8Array;
  readonly kind: "append" | "compact";
  resolve(): void;
  reject(error: unknown): void;
}

/** A storage whose appends and compactions settle only when the test says so. */
class ManualStorage implements DocStorage {
  readonly maxRecordBytes = 1 << 20;
  readonly calls: Deferred[] = [];

  append(record: Uint8Array): Promise<void> {
    return this.#call(record, "append");
  }

  compact(snapshot: Uint8Array): Promise<void> {
    return this.#call(snapshot, "compact");
  }

  #call(bytes: Uint8Array, kind: Deferred["kind"]): Promise<void> {
    return new Promise<void>((resolve, reject) => this.calls.push({ bytes, kind, resolve, reject }));
  }

  load(): Promise<StoredLog> {
    return Promise.resolve({ snapshot: undefined, records: [] });
  }
  shouldCompact(): boolean {
    return false;
  }
  stats(): LogStats {
    return { records: 0, recordBytes: 0, snapshotBytes: 0, pending: 0 };
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Lets every settled storage promise run its `then` callbacks. */
const flushPromises = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

function setup() {
  const storage = new ManualStorage();
  const durable: string[][] = [];
  const failures: ConcordError[] = [];
  const queue = new WriteQueue<string>(
    storage,
    (items) => durable.push(items),
    (error) => failures.push(error),
  );
  const append = (item: string): void => queue.append(new TextEncoder().encode(item), item);
  return { storage, durable, failures, queue, append };
}

describe("WriteQueue reports writes durable in queue order", () => {
  it("holds later writes that settle first until every write before them is durable", async () => {
    const { storage, durable, append, queue } = setup();
    append("a");
    append("b");
    append("c");
    storage.calls[2]!.resolve();
    storage.calls[1]!.resolve();
    await flushPromises();
    expect(durable).toStrictEqual([]);
    expect(queue.pending).toBe(3);
    storage.calls[0]!.resolve();
    await flushPromises();
    expect(durable.flat()).toStrictEqual(["a", "b", "c"]);
    expect(queue.pending).toBe(0);
  });

  it("reports each durable prefix as soon as it is complete", async () => {
    const { storage, durable, append } = setup();
    append("a");
    append("b");
    append("c");
    storage.calls[0]!.resolve();
    await flushPromises();
    expect(durable).toStrictEqual([["a"]]);
    storage.calls[2]!.resolve();
    await flushPromises();
    expect(durable).toStrictEqual([["a"]]);
    storage.calls[1]!.resolve();
    await flushPromises();
    expect(durable).toStrictEqual([["a"], ["b", "c"]]);
  });

  it("reports writes the storage settles together (a group commit) in one call", async () => {
    const { storage, durable, append } = setup();
    append("a");
    append("b");
    append("c");
    for (const call of storage.calls) call.resolve();
    await flushPromises();
    expect(durable).toStrictEqual([["a", "b", "c"]]);
  });

  it("starts every write at once, in queue order, compactions included", () => {
    const { storage, queue, append } = setup();
    append("a");
    queue.enqueue(() => storage.compact(Uint8Array.of(9)), "snap");
    append("b");
    expect(storage.calls.map((c) => c.kind)).toStrictEqual(["append", "compact", "append"]);
    expect(new TextDecoder().decode(storage.calls[2]!.bytes)).toBe("b");
  });
});

describe("WriteQueue stops at the first failure", () => {
  it("never reports a write after a failed one durable, even when it settles", async () => {
    const { storage, durable, failures, append } = setup();
    append("a");
    append("b");
    append("c");
    storage.calls[2]!.resolve();
    storage.calls[1]!.reject(new Error("EIO"));
    storage.calls[0]!.resolve();
    await flushPromises();
    expect(durable.flat()).not.toContain("b");
    expect(durable.flat()).not.toContain("c");
    expect(failures).toHaveLength(1);
  });

  it("ignores writes appended after the failure: they never reach the storage", async () => {
    const { storage, durable, append, queue } = setup();
    append("a");
    storage.calls[0]!.reject(new Error("EIO"));
    await flushPromises();
    append("b");
    expect(storage.calls).toHaveLength(1);
    expect(queue.pending).toBe(0);
    expect(durable).toStrictEqual([]);
  });

  it("reports the failure once, however many writes fail", async () => {
    const { storage, failures, append, queue } = setup();
    append("a");
    append("b");
    storage.calls[1]!.reject(new ConcordError("Io", "disk gone"));
    storage.calls[0]!.reject(new ConcordError("Io", "disk gone too"));
    await flushPromises();
    expect(failures).toHaveLength(1);
    expect(failures[0]!.message).toBe("disk gone");
    expect(queue.failure).toBe(failures[0]);
  });

  it("reports a non-Concord failure as Io naming the cause", async () => {
    const { storage, failures, append } = setup();
    append("a");
    const cause = new Error("ENOSPC: no space left on device");
    storage.calls[0]!.reject(cause);
    await flushPromises();
    expect(failures[0]).toBeInstanceOf(ConcordError);
    expect(failures[0]!.code).toBe("Io");
    expect(failures[0]!.message).toMatch(/write-ahead log append failed: ENOSPC/);
    expect(failures[0]!.cause).toBe(cause);
  });

  it("fails, rather than hangs or throws, when the storage throws instead of rejecting", async () => {
    const storage = new ManualStorage();
    const failures: ConcordError[] = [];
    const queue = new WriteQueue<string>(
      storage,
      () => undefined,
      (error) => failures.push(error),
    );
    storage.append = () => {
      throw new ConcordError("Closed", "the storage was closed");
    };
    expect(() => queue.append(Uint8Array.of(1), "a")).not.toThrow();
    await flushPromises();
    expect(failures.map((f) => f.code)).toStrictEqual(["Closed"]);
    expect(queue.pending).toBe(0);
  });
});

describe("WriteQueue.settled()", () => {
  it("resolves at once when nothing is pending", async () => {
    const { queue } = setup();
    let settled = false;
    void queue.settled().then(() => (settled = true));
    await flushPromises();
    expect(settled).toBe(true);
  });

  it("resolves only once every pending write was reported durable", async () => {
    const { storage, durable, append, queue } = setup();
    append("a");
    append("b");
    let settled = false;
    void queue.settled().then(() => {
      settled = true;
      expect(durable.flat()).toStrictEqual(["a", "b"]);
    });
    storage.calls[1]!.resolve();
    await flushPromises();
    expect(settled).toBe(false);
    storage.calls[0]!.resolve();
    await flushPromises();
    expect(settled).toBe(true);
  });

  it("resolves after a failure, with writes still outstanding", async () => {
    const { storage, append, queue } = setup();
    append("a");
    append("b");
    let settled = false;
    void queue.settled().then(() => (settled = true));
    storage.calls[1]!.reject(new Error("EIO"));
    await flushPromises();
    expect(settled).toBe(true);
    let again = false;
    void queue.settled().then(() => (again = true));
    await flushPromises();
    expect(again).toBe(true);
  });
});
