/**
 * The {@link Persistence} of a scaled-out `concord serve` instance: a document is its snapshot in
 * the {@link SnapshotStore} plus the entries after it in the {@link SharedLog}, and every update the
 * instance's room applies from its own clients is appended to the log. An append resolves once the
 * log holds it durably, which is what the room's acknowledgement to the author waits for.
 *
 * Entries other instances append reach the room through the hub (`room-hub.ts`), which applies them
 * as already stored and tells this storage ({@link SharedDocStorage.absorb}) so that its position
 * and sizes stay those of the whole document.
 *
 * Compaction is the worker's (`compactor.ts`): a store's own snapshot could lack entries of other
 * instances it has not applied yet, so `shouldCompact()` is always false here.
 */
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import { checkDocId, DEFAULT_MAX_RECORD_BYTES } from "../storage/log-limits.js";
import type { DocStorage, LogStats, Persistence, StoredLog } from "../storage/storage.js";
import { compareEntryIds, type EntryId, type LogEntry, type SharedLog } from "./shared-log.js";
import type { SnapshotStore } from "./snapshot-store.js";

export interface SharedPersistenceOptions {
  readonly log: SharedLog;
  readonly snapshots: SnapshotStore;
  /** This instance's name, stored with each entry it appends. */
  readonly instance: string;
  /** Largest update accepted, in bytes. Default 64 MiB. */
  readonly maxRecordBytes?: number;
  /** Entries read per call while loading. Default 1,000. */
  readonly readBatch?: number;
}

/** A document's storage on the shared engines. */
export interface SharedDocStorage extends DocStorage {
  /** The id of the last entry this document holds (loaded, appended here or absorbed); null before any. */
  readonly position: EntryId | null;
  /** Another instance's entries, applied to the document by the hub: counted, and the position moves. */
  absorb(entries: readonly LogEntry[]): void;
}

export interface SharedPersistence extends Persistence {
  /** The open storage of `doc` on this instance, if any (the hub follows the log from its position). */
  storageOf(doc: DocId): SharedDocStorage | undefined;
  /**
   * While set, every append is refused with this error (and the documents open here stop, as on a
   * failed append): what the hub does while the snapshot store is unreachable, so that an instance
   * that lost either engine acknowledges nothing. `undefined` lifts it.
   */
  refuseAppends(error: ConcordError | undefined): void;
}

/** Loads retried when a compaction moved the snapshot under the read (each retry reads again). */
const LOAD_ATTEMPTS = 5;

export function sharedPersistence(options: SharedPersistenceOptions): SharedPersistence {
  const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const readBatch = options.readBatch ?? 1_000;
  if (!Number.isSafeInteger(maxRecordBytes) || maxRecordBytes < 1) {
    throw new ConcordError("InvalidArgument", `sharedPersistence: maxRecordBytes must be a positive integer, got ${String(maxRecordBytes)}`);
  }
  if (!Number.isSafeInteger(readBatch) || readBatch < 1) {
    throw new ConcordError("InvalidArgument", `sharedPersistence: readBatch must be a positive integer, got ${String(readBatch)}`);
  }
  const open = new Map<DocId, SharedDocStorage>();
  const name = `shared:${options.log.name}+${options.snapshots.name}`;
  let refusal: ConcordError | undefined;
  return {
    name,
    refuseAppends: (error) => (refusal = error),
    async open(doc) {
      checkDocId(doc, name);
      const storage = new SharedDoc(doc, options, maxRecordBytes, readBatch, () => refusal, () => {
        if (open.get(doc) === storage) open.delete(doc);
      });
      open.set(doc, storage);
      return storage;
    },
    storageOf: (doc) => open.get(doc),
  };
}

class SharedDoc implements SharedDocStorage {
  readonly maxRecordBytes: number;
  #position: EntryId | null = null;
  #records = 0;
  #recordBytes = 0;
  #snapshotBytes = 0;
  #pending = new Set<Promise<unknown>>();
  #last: Promise<unknown> = Promise.resolve();
  /** Set by the first failed append: nothing after it may become durable out of order. */
  #failure: ConcordError | undefined;
  #closed = false;

  constructor(
    readonly doc: DocId,
    private readonly options: SharedPersistenceOptions,
    maxRecordBytes: number,
    private readonly readBatch: number,
    private readonly refusal: () => ConcordError | undefined,
    private readonly onClose: () => void,
  ) {
    this.maxRecordBytes = maxRecordBytes;
  }

  get position(): EntryId | null {
    return this.#position;
  }

  async load(): Promise<StoredLog> {
    this.#checkOpen();
    await this.flush();
    const { log, snapshots } = this.options;
    for (let attempt = 1; ; attempt++) {
      const snapshot = await snapshots.get(this.doc);
      const records: Uint8Array[] = [];
      let position = snapshot?.upTo ?? null;
      let bytes = 0;
      for (;;) {
        const page = await log.range(this.doc, position, this.readBatch);
        for (const e of page) {
          records.push(e.update);
          bytes += e.update.length;
        }
        if (page.length > 0) position = page[page.length - 1]!.id;
        if (page.length < this.readBatch) break;
      }
      // The worker commits a snapshot BEFORE it trims the log: if the snapshot is the one we read,
      // nothing after it was trimmed while we read the log.
      const again = await snapshots.get(this.doc);
      if ((again?.upTo ?? null) === (snapshot?.upTo ?? null)) {
        this.#position = position;
        this.#records = records.length;
        this.#recordBytes = bytes;
        this.#snapshotBytes = snapshot?.update.length ?? 0;
        return { snapshot: snapshot?.update, records };
      }
      if (attempt === LOAD_ATTEMPTS) {
        throw new ConcordError("Unavailable", `document "${this.doc}": compactions kept moving its snapshot while it loaded (${attempt} attempts); try again`, {
          doc: this.doc,
        });
      }
    }
  }

  append(record: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new ConcordError("Closed", `document "${this.doc}" on ${this.options.log.name} was closed`));
    const refused = this.refusal();
    if (refused !== undefined) this.#failure ??= refused;
    if (this.#failure) return Promise.reject(this.#failure);
    if (!(record instanceof Uint8Array)) return Promise.reject(new ConcordError("InvalidArgument", "append takes a Uint8Array"));
    if (record.length > this.maxRecordBytes) {
      return Promise.reject(
        new ConcordError("TooLarge", `an update of ${record.length} bytes is over the shared log's limit of ${this.maxRecordBytes}`, {
          bytes: record.length,
          max: this.maxRecordBytes,
        }),
      );
    }
    this.#records++;
    this.#recordBytes += record.length;
    const appended = this.options.log.append(this.doc, record, this.options.instance).then(
      (id) => {
        if (this.#failure) throw this.#failure;
        this.#advance(id);
      },
      (error: unknown) => {
        this.#failure ??= new ConcordError(
          "Io",
          `document "${this.doc}": appending to ${this.options.log.name} failed: ${error instanceof Error ? error.message : String(error)}`,
          { doc: this.doc },
          { cause: error },
        );
        throw this.#failure;
      },
    );
    this.#track(appended);
    return appended;
  }

  absorb(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      if (e.origin === this.options.instance) continue; // counted when appended here
      this.#records++;
      this.#recordBytes += e.update.length;
    }
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#advance(last.id);
  }

  compact(): Promise<void> {
    return Promise.reject(
      new ConcordError(
        "InvalidArgument",
        "a shared log is compacted by the compaction worker (concord worker, or concord serve's own), which builds each snapshot from the log itself",
      ),
    );
  }

  shouldCompact(): boolean {
    return false;
  }

  stats(): LogStats {
    return { records: this.#records, recordBytes: this.#recordBytes, snapshotBytes: this.#snapshotBytes, pending: this.#pending.size };
  }

  async flush(): Promise<void> {
    await this.#last;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
    await this.#last.catch(() => undefined);
  }

  #advance(id: EntryId): void {
    if (compareEntryIds(id, this.#position) > 0) this.#position = id;
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    const settled = (): void => void this.#pending.delete(p);
    p.then(settled, settled);
    // Appends settle in order on one connection; `flush` waits for the newest, failures included.
    this.#last = Promise.allSettled([this.#last, p]).then((r) => {
      const failed = r.find((x) => x.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    });
    this.#last.catch(() => undefined);
  }

  #checkOpen(): void {
    if (this.#closed) throw new ConcordError("Closed", `document "${this.doc}" on ${this.options.log.name} was closed`);
  }
}
