/**
 * The compaction worker: folds a document's log entries into its snapshot and trims them from the
 * log, so that a document loads from one snapshot and a short tail. It commits the snapshot BEFORE
 * it trims, and a snapshot records the last entry it holds, so a worker killed at any point loses
 * nothing and folds nothing twice: a load reads the snapshot and only the entries after its `upTo`,
 * whether or not they were trimmed yet. Any number of workers may run (`SnapshotStore.put` keeps
 * the snapshot that reaches furthest).
 */
import * as Y from "yjs";
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { DocId } from "../ids.js";
import type { EntryId, SharedLog } from "./shared-log.js";
import type { SnapshotStore } from "./snapshot-store.js";

export interface CompactionOptions {
  readonly log: SharedLog;
  readonly snapshots: SnapshotStore;
  /** Entries folded per compaction at most (a longer log takes several). Default 10,000. */
  readonly batch?: number;
  /**
   * Entries younger than this (by the milliseconds of their id) are folded but not trimmed yet:
   * instances following the log read them from the log, and one that lags behind a trim would miss
   * what was trimmed. Default 60,000.
   */
  readonly trimGraceMs?: number;
  /** Wall-clock milliseconds (entry ids carry Redis's clock). Default `Date.now`. */
  readonly now?: () => number;
}

/** What one compaction did. */
export interface Compaction {
  readonly doc: DocId;
  /** Entries folded into the snapshot. */
  readonly folded: number;
  readonly upTo: EntryId;
  readonly snapshotBytes: number;
}

/**
 * Folds up to `batch` entries of `doc` after its snapshot into a new snapshot, commits it, then
 * trims them (and entries an earlier, killed compaction folded but left). Resolves undefined when
 * there was nothing to fold. Rejects (changing nothing more
 * than what is described above) when an engine fails.
 */
export async function compactDocument(doc: DocId, options: CompactionOptions): Promise<Compaction | undefined> {
  const batch = options.batch ?? 10_000;
  const snapshot = await options.snapshots.get(doc);
  const entries = await options.log.range(doc, snapshot?.upTo ?? null, batch);
  const last = entries[entries.length - 1];
  if (last === undefined) {
    // Entries a killed worker folded but did not trim: finish its job.
    if (snapshot !== undefined) await trimOlder(doc, snapshot.upTo, options);
    return undefined;
  }
  const ydoc = new Y.Doc({ gc: true });
  let update: Uint8Array;
  try {
    if (snapshot !== undefined) Y.applyUpdate(ydoc, snapshot.update);
    for (const e of entries) Y.applyUpdate(ydoc, e.update);
    update = Y.encodeStateAsUpdate(ydoc);
  } catch (cause) {
    throw new ConcordError("Corrupt", `document "${doc}": its snapshot or a log entry up to ${last.id} is not a valid Yjs update; nothing was compacted`, { doc }, { cause });
  } finally {
    ydoc.destroy();
  }
  // Stored, or a snapshot reaching as far already is: either way the entries up to `last` are held.
  await options.snapshots.put(doc, { update, upTo: last.id });
  await trimOlder(doc, last.id, options);
  return { doc, folded: entries.length, upTo: last.id, snapshotBytes: update.length };
}

/** Trims `doc`'s entries up to `upTo`, but none younger than the grace (see {@link CompactionOptions.trimGraceMs}). */
async function trimOlder(doc: DocId, upTo: EntryId, options: CompactionOptions): Promise<void> {
  const horizon = (options.now ?? Date.now)() - (options.trimGraceMs ?? 60_000);
  const ms = Number(upTo.slice(0, upTo.indexOf("-")));
  if (ms <= horizon) return options.log.trim(doc, upTo);
  // Only what is older than the horizon: the last id of its previous millisecond.
  if (horizon < 1) return;
  await options.log.trim(doc, `${horizon - 1}-${Number.MAX_SAFE_INTEGER}` as EntryId);
}

export interface CompactionWorkerOptions extends CompactionOptions {
  readonly clock: Clock;
  /** How often the worker looks for logs to compact, ms. Default 5,000. */
  readonly everyMs?: number;
  /** A log is compacted once it holds this many entries. Default 1,000. */
  readonly minEntries?: number;
  /** Hears each compaction and each failure. MUST NOT throw. */
  readonly report: (event: "compacted" | "failed", fields: Record<string, unknown>) => void;
}

/** Compacts every document whose log grew past `minEntries`, every `everyMs`, until stopped. */
export class CompactionWorker {
  readonly #o: CompactionWorkerOptions;
  #timer: CancelTimer | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: CompactionWorkerOptions) {
    this.#o = options;
    this.#arm();
  }

  /** One pass over every document now (also what the timer runs). Resolves when done; never rejects. */
  pass(): Promise<void> {
    this.#running ??= this.#pass().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.();
    await this.#running;
  }

  async #pass(): Promise<void> {
    const minEntries = this.#o.minEntries ?? 1_000;
    let docs;
    try {
      docs = await this.#o.log.documents();
    } catch (error) {
      this.#o.report("failed", { error });
      return;
    }
    for (const { doc, entries } of docs) {
      if (this.#stopped) return;
      if (entries < minEntries) continue;
      try {
        const done = await compactDocument(doc, this.#o);
        if (done !== undefined) this.#o.report("compacted", { ...done });
      } catch (error) {
        this.#o.report("failed", { doc, error });
      }
    }
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimer(this.#o.everyMs ?? 5_000, () => {
      void this.pass().then(() => this.#arm());
    });
  }
}
