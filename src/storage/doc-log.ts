/**
 * The {@link DocStorage} every adapter hands out: one document's log in front of a {@link LogSink}
 * that makes it durable, with group commit and a single writer. It holds no copy of what is
 * stored: only counters, and records until they are durable (`load` reads through the sink).
 *
 * Adapters differ only in recovery (reading what is stored) and in their sink (how a batch of
 * records or a snapshot becomes durable); ordering, batching, limits and failure handling live here
 * once, so the contract suite checks them once.
 */
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError, invariant, isConcordError } from "../errors.js";
import { compactionDue, sizeError, type LogLimits } from "./log-limits.js";
import type { DocStorage, LogStats, StoredLog } from "./storage.js";

/**
 * Where a document's log becomes durable. The {@link DocStorage} calls it strictly one call at a
 * time (the next call starts only after the previous one settled), in the order effects must
 * become durable, and never again after a call rejected.
 *
 * Both methods MUST NOT resolve before their effect survives a crash (fsync, a committed
 * transaction), and MUST reject with a `ConcordError` `Io` when the device refuses (other errors
 * are wrapped into `Io`).
 */
export interface LogSink {
  /** Makes `records` durable after everything written before, in order. Owns nothing: may keep the arrays (they are never mutated). */
  append(records: readonly Uint8Array[]): Promise<void>;
  /**
   * Makes `snapshot` durable as the replacement of the current snapshot and of every record
   * appended so far. Called only when every record appended before the compaction was already
   * passed to {@link append}. A crash at any point MUST leave either the old state or the new one.
   */
  compact(snapshot: Uint8Array): Promise<void>;
  /**
   * Reads back what the previous calls made durable (the latest snapshot and the records after
   * it). May return arrays the sink keeps (the caller copies). Rejects with `Corrupt` for damaged
   * bytes, `Io` when the device refuses.
   */
  load(): Promise<StoredLog>;
  /** Releases what the sink holds open; called once, after every other call settled. */
  close(): Promise<void>;
}

/**
 * When a batch of appends is written.
 * - `"always"`: as soon as something is pending and no write is running (appends made in the same
 *   synchronous run, or while a write is in flight, share the next write).
 * - `{ maxDelayMs, clock }`: the first pending append arms a `maxDelayMs` timer on `clock`; the
 *   write starts when it fires (or at `flush()`/`close()`/a compaction).
 */
export type CommitSchedule = "always" | { readonly maxDelayMs: number; readonly clock: Clock };

/** What {@link openDocLog} needs. */
export interface DocLogOptions {
  /** Names the log in errors, e.g. `file storage ./data, doc "todos"`. */
  readonly label: string;
  /**
   * What recovery found: the durable state. Kept (never mutated) only to answer the first `load`
   * if nothing was appended or compacted before it, then released.
   */
  readonly recovered: StoredLog;
  readonly sink: LogSink;
  readonly limits: LogLimits;
  readonly schedule: CommitSchedule;
}

/**
 * A {@link DocStorage} over `options.sink`, starting from `options.recovered`.
 *
 * Guarantees on top of the contract: memory holds only records not yet durable (the stored log
 * lives in the sink alone); `load()` makes every earlier append and compaction durable, then reads
 * through the sink between two writes (the first `load()` after open, with nothing written
 * before it, answers from `recovered`); appends and snapshots are copied in and `load()` copies
 * out; after a sink failure
 * every pending append, flush and compaction rejects with that `Io` error and the log refuses
 * further calls with `Closed` whose message gives the failure.
 */
export function openDocLog(options: DocLogOptions): DocStorage {
  return new DocLog(options);
}

interface Deferred<T = void> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (e: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Appends accepted together: they become durable in one sink call and share one promise, so the
 * hot path allocates one promise per batch, not per record. `epoch` counts the compactions
 * requested before them; a group never spans a compaction, and takes no more records once the
 * writer took it out of `#pending`.
 */
interface AppendGroup {
  readonly records: Uint8Array[];
  readonly epoch: number;
  readonly done: Deferred;
}

/** A requested compaction; appends of epoch < `epoch` come before it. */
interface PendingCompaction {
  readonly snapshot: Uint8Array;
  readonly epoch: number;
  readonly done: Deferred;
}

class DocLog implements DocStorage {
  readonly maxRecordBytes: number;
  readonly #label: string;
  readonly #sink: LogSink;
  readonly #limits: LogLimits;
  readonly #schedule: CommitSchedule;

  /** Released by the first `load`, append or compaction. */
  #recovered: StoredLog | undefined;
  #recordCount = 0;
  #recordBytes = 0;
  #snapshotBytes = 0;
  /** Loads whose predecessors are durable, waiting for the writer to read between two writes. */
  readonly #reads: Deferred<StoredLog>[] = [];

  #pending: AppendGroup[] = [];
  #inFlight: AppendGroup[] = [];
  /** Records in `#pending` (several per group). */
  #pendingRecords = 0;
  #inFlightRecords = 0;
  readonly #compactions: PendingCompaction[] = [];
  #epoch = 0;
  #sinkEpoch = 0;
  #flushDue = false;
  #cancelTimer: CancelTimer | undefined;
  #writing = false;
  #failed = false;
  /** Why calls are refused (closed, or failed); undefined while open. */
  #refusal: ConcordError | undefined;
  #lastAppend: Promise<void> = Promise.resolve();
  #lastCompaction: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(options: DocLogOptions) {
    this.#label = options.label;
    this.#sink = options.sink;
    this.#limits = options.limits;
    this.maxRecordBytes = options.limits.maxRecordBytes;
    this.#schedule = options.schedule;
    const { snapshot, records } = options.recovered;
    this.#recovered = options.recovered;
    this.#snapshotBytes = snapshot?.length ?? 0;
    this.#recordCount = records.length;
    for (const r of records) this.#recordBytes += r.length;
  }

  load(): Promise<StoredLog> {
    if (this.#refusal) return Promise.reject(this.#refusal);
    const recovered = this.#recovered;
    this.#recovered = undefined;
    if (recovered !== undefined) return Promise.resolve(copyLog(recovered));
    // Everything accepted before this call is durable once both settle; then read, between writes.
    return Promise.all([this.flush(), this.#lastCompaction]).then(() => {
      if (this.#refusal && this.#failed) return Promise.reject(this.#refusal);
      const read = deferred<StoredLog>();
      this.#reads.push(read);
      this.#kick();
      return read.promise.then(copyLog);
    });
  }

  append(record: Uint8Array): Promise<void> {
    if (this.#refusal) return Promise.reject(this.#refusal);
    const argumentError = bytesError(record, "record", this.#label) ?? sizeError(this.#limits, record, "record", this.#label);
    if (argumentError) return Promise.reject(argumentError);
    const copy = copyBytes(record);
    this.#recovered = undefined;
    this.#recordCount++;
    this.#recordBytes += copy.length;
    let group = this.#pending[this.#pending.length - 1];
    if (group === undefined || group.epoch !== this.#epoch) {
      group = { records: [], epoch: this.#epoch, done: deferred() };
      this.#pending.push(group);
      this.#lastAppend = group.done.promise;
    }
    group.records.push(copy);
    this.#pendingRecords++;
    this.#kick();
    return group.done.promise;
  }

  compact(snapshot: Uint8Array): Promise<void> {
    if (this.#refusal) return Promise.reject(this.#refusal);
    const argumentError = bytesError(snapshot, "snapshot", this.#label) ?? sizeError(this.#limits, snapshot, "snapshot", this.#label);
    if (argumentError) return Promise.reject(argumentError);
    const copy = copyBytes(snapshot);
    this.#recovered = undefined;
    this.#snapshotBytes = copy.length;
    this.#recordCount = 0;
    this.#recordBytes = 0;
    const done = deferred();
    this.#compactions.push({ snapshot: copy, epoch: ++this.#epoch, done });
    this.#lastCompaction = done.promise;
    this.#kick();
    return done.promise;
  }

  shouldCompact(): boolean {
    return compactionDue(this.#limits, this.#recordBytes, this.#snapshotBytes);
  }

  stats(): LogStats {
    return {
      records: this.#recordCount,
      recordBytes: this.#recordBytes,
      snapshotBytes: this.#snapshotBytes,
      pending: this.#pendingRecords + this.#inFlightRecords,
    };
  }

  flush(): Promise<void> {
    if (this.#refusal) return Promise.reject(this.#refusal);
    this.#flushNow();
    // Records become durable in order, so the last append being durable means all of them are.
    return this.#lastAppend;
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const alreadyFailed = this.#failed;
    this.#refusal ??= new ConcordError("Closed", `${this.#label} was closed`);
    if (alreadyFailed) {
      this.#closing = this.#sink.close();
    } else {
      this.#flushNow();
      this.#closing = Promise.all([this.#lastAppend, this.#lastCompaction]).then(() => {
        this.#stopTimer();
        return this.#sink.close();
      });
    }
    return this.#closing;
  }

  #flushNow(): void {
    this.#stopTimer();
    if (this.#pending.length > 0) this.#flushDue = true;
    this.#kick();
  }

  #stopTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
  }

  /** Arms the commit timer or marks a flush due, and starts the writer if it has work. */
  #kick(): void {
    if (this.#failed) return;
    if (this.#pending.length > 0 && !this.#flushDue) {
      const schedule = this.#schedule;
      if (schedule === "always") {
        this.#flushDue = true;
      } else if (this.#cancelTimer === undefined) {
        this.#cancelTimer = schedule.clock.setTimer(schedule.maxDelayMs, () => {
          this.#cancelTimer = undefined;
          if (this.#pending.length > 0) this.#flushDue = true;
          this.#kick();
        });
      }
    }
    const work = this.#reads.length > 0 || this.#compactions.length > 0 || (this.#flushDue && this.#pending.length > 0);
    if (work && !this.#writing) {
      this.#writing = true;
      // Starting on a later microtask lets appends made in the same synchronous run share the write.
      void Promise.resolve().then(() => this.#write());
    }
  }

  /** The single writer: one sink call at a time, until nothing is due. */
  async #write(): Promise<void> {
    try {
      while (!this.#failed) {
        const read = this.#reads[0];
        const compaction = this.#compactions[0];
        if (read) {
          // Its predecessors are durable already (see `load`): read before writing anything newer.
          try {
            read.resolve(await this.#sink.load());
          } catch (e) {
            read.reject(e); // a failed read breaks nothing that is stored
          }
          this.#reads.shift();
        } else if (compaction) {
          const before = this.#takePending((p) => p.epoch < compaction.epoch);
          if (before.length > 0) {
            await this.#writeBatch(before);
            continue;
          }
          await this.#sink.compact(compaction.snapshot);
          this.#sinkEpoch = compaction.epoch;
          this.#compactions.shift();
          compaction.done.resolve();
        } else if (this.#flushDue && this.#pending.length > 0) {
          this.#flushDue = false;
          await this.#writeBatch(this.#takePending(() => true));
        } else {
          break;
        }
      }
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#writing = false;
      if (this.#pending.length === 0) this.#flushDue = false;
    }
    this.#kick();
  }

  #takePending(belongs: (g: AppendGroup) => boolean): AppendGroup[] {
    let n = 0;
    while (n < this.#pending.length && belongs(this.#pending[n]!)) n++;
    const batch = this.#pending.splice(0, n);
    for (const g of batch) this.#pendingRecords -= g.records.length;
    if (this.#pending.length === 0) this.#stopTimer();
    return batch;
  }

  async #writeBatch(batch: AppendGroup[]): Promise<void> {
    invariant(
      batch.every((g) => g.epoch === this.#sinkEpoch),
      `${this.#label}: a batch mixes records across a compaction (sink epoch ${this.#sinkEpoch})`,
    );
    this.#inFlight = batch;
    const records = batch.length === 1 ? batch[0]!.records : batch.flatMap((g) => g.records);
    this.#inFlightRecords = records.length;
    await this.#sink.append(records);
    this.#inFlight = [];
    this.#inFlightRecords = 0;
    for (const g of batch) g.done.resolve();
  }

  #fail(cause: unknown): void {
    this.#failed = true;
    this.#stopTimer();
    const io = isConcordError(cause, "Io")
      ? cause
      : new ConcordError("Io", `${this.#label}: a write failed: ${messageOf(cause)}`, {}, { cause });
    this.#refusal = new ConcordError("Closed", `${this.#label} is closed after an I/O failure: ${io.message}`, {}, { cause: io });
    const settled = [...this.#inFlight, ...this.#pending, ...this.#compactions];
    for (const read of this.#reads.splice(0)) read.reject(this.#refusal);
    this.#inFlight = [];
    this.#pending = [];
    this.#inFlightRecords = 0;
    this.#pendingRecords = 0;
    this.#compactions.length = 0;
    for (const p of settled) p.done.reject(io);
  }
}

function bytesError(bytes: unknown, what: string, where: string): ConcordError | undefined {
  if (bytes instanceof Uint8Array) return undefined;
  return new ConcordError("InvalidArgument", `${where}: a ${what} must be a Uint8Array, got ${typeof bytes}`);
}

function copyLog(log: StoredLog): StoredLog {
  return { snapshot: log.snapshot && copyBytes(log.snapshot), records: log.records.map(copyBytes) };
}

/** A fresh array with the same bytes (`Buffer#slice` would return a view, hence not `slice`). */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
