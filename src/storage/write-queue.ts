/**
 * Writes WAL records (and snapshot installs) to a {@link DocStorage} and reports them durable strictly in queue order,
 * whatever order the storage's promises settle in. A failed append stops the queue for good:
 * nothing after a failed write may be reported durable (fail-stop).
 */
import { ConcordError } from "../errors.js";
import type { DocStorage } from "./storage.js";

interface Pending<T> {
  readonly item: T;
  done: boolean;
}

export class WriteQueue<T> {
  readonly #storage: DocStorage;
  readonly #durable: (items: T[]) => void;
  readonly #failed: (error: ConcordError) => void;
  #pending: Pending<T>[] = [];
  #failure: ConcordError | null = null;
  #idle: (() => void)[] = [];
  #compacting = false;
  /** A release is queued: writes the storage settles together are reported in one `durable` call. */
  #releaseQueued = false;

  /**
   * `durable` hears items in append order once they (and all before them) are durable, those the
   * storage settled together in one call (a group commit is one batch for the driver: one apply,
   * one replication message, one ack); `failed` hears the first failure, once.
   */
  constructor(storage: DocStorage, durable: (items: T[]) => void, failed: (error: ConcordError) => void) {
    this.#storage = storage;
    this.#durable = durable;
    this.#failed = failed;
  }

  /** Appends not yet reported durable. */
  get pending(): number {
    return this.#pending.length;
  }

  get failure(): ConcordError | null {
    return this.#failure;
  }

  /** Resolves once nothing is pending (every write reported durable, or the queue failed). */
  settled(): Promise<void> {
    if (this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Replaces the log with `snapshot()` (which must hold everything appended so far) when the
   * storage asks for compaction and nothing is pending or compacting; a failure fails the queue.
   */
  compactWhenIdle(snapshot: () => Uint8Array): void {
    if (this.#failure !== null || this.#compacting || this.#pending.length > 0 || !this.#storage.shouldCompact()) return;
    this.#compacting = true;
    this.#storage.compact(snapshot()).then(
      () => {
        this.#compacting = false;
      },
      (e: unknown) => this.#fail(e),
    );
  }

  #wake(): void {
    if (this.#pending.length > 0) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  /** Appends `bytes` for `item`. Ignored after a failure. */
  append(bytes: Uint8Array, item: T): void {
    this.enqueue(() => this.#storage.append(bytes), item);
  }

  /**
   * Starts `write` (an append or a compaction of the same storage, started now so the storage sees
   * it in queue order) for `item`. Ignored after a failure.
   */
  enqueue(write: () => Promise<void>, item: T): void {
    if (this.#failure !== null) return;
    const entry: Pending<T> = { item, done: false };
    this.#pending.push(entry);
    let started: Promise<void>;
    try {
      started = write();
    } catch (e) {
      // A storage that throws instead of rejecting still fails the queue: never a pending write that no one settles.
      started = Promise.reject(e);
    }
    started.then(
      () => {
        entry.done = true;
        if (this.#releaseQueued) return;
        this.#releaseQueued = true;
        // Behind the callbacks of every write that settled in the same turn (a storage resolves a
        // whole group commit at once): they are all marked done by the time this runs.
        queueMicrotask(() => {
          this.#releaseQueued = false;
          this.#release();
        });
      },
      (e: unknown) => this.#fail(e),
    );
  }

  #release(): void {
    if (this.#failure !== null) return;
    let n = 0;
    while (n < this.#pending.length && this.#pending[n]!.done) n++;
    if (n === 0) return;
    const ready = this.#pending.splice(0, n).map((p) => p.item);
    this.#durable(ready);
    this.#wake();
  }

  #fail(e: unknown): void {
    if (this.#failure !== null) return;
    this.#failure =
      e instanceof ConcordError ? e : new ConcordError("Io", `write-ahead log append failed: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
    this.#pending = [];
    this.#failed(this.#failure);
    this.#wake();
  }
}
