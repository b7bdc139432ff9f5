/**
 * The file storage (DESIGN.md section 3, "Storage"): per document, an append-only log of
 * CRC-checked records with group commit, snapshots written beside it by compaction, and recovery
 * that cuts a torn tail and refuses damage. Layout in `file-layout.ts`, framing and crash model in
 * `record.ts`, recovery in `file-log-recovery.ts`.
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError, invariant } from "../errors.js";
import type { DocId } from "../ids.js";
import { openDocLog, type LogSink } from "./doc-log.js";
import { docFolderName, joinPath, logFileName, MAX_GENERATION, parentPath } from "./file-layout.js";
import { readFolder, recoverFolder } from "./file-log-recovery.js";
import type { AppendFile, FileSystem } from "./fs.js";
import { checkDocId, resolveLogLimits, type LogLimitOptions } from "./log-limits.js";
import { encodeRecord, encodeRecords } from "./record.js";
import type { DocStorage, Persistence, StoredLog } from "./storage.js";

/**
 * When appended records are fsynced.
 * - `"always"`: a write + fsync starts as soon as a record is pending and no fsync is running;
 *   appends arriving meanwhile share the next one.
 * - `{ maxDelayMs }`: the first pending append arms a timer of `maxDelayMs` ms (on the injected
 *   clock); every append made until it fires shares one write + fsync. Trades up to `maxDelayMs`
 *   of latency for fewer fsyncs.
 * Either way an append resolves only after its fsync: the policy never weakens durability.
 */
export type FsyncPolicy = "always" | { readonly maxDelayMs: number };

/** Options of {@link fileStorage}. */
export interface FileStorageOptions extends LogLimitOptions {
  /** The file system. Default: the real one (`node-fs.ts`), loaded on the first `open`. */
  fs?: FileSystem;
  /** With the default `fs`: write and fsync appends on the calling thread (see `NodeFileSystemOptions.blockingAppends`). Default false. */
  blockingAppends?: boolean;
  /** Drives the group-commit timer. Default {@link systemClock}. */
  clock?: Clock;
  /** Default `{ maxDelayMs: 2 }`. */
  fsync?: FsyncPolicy;
}

/**
 * Documents stored as files under `dir`, one folder per document (see `file-layout.ts`).
 *
 * Guarantees: an acknowledged append, compaction or flush survives a process or OS crash (given
 * an fs whose fsync is honest); records survive in append order; a torn last write is cut off at
 * recovery; a checksum failure is `Corrupt`, never skipped. Compaction writes `snap-n.tmp`,
 * fsyncs it, renames it to `snap-n.snap`, fsyncs the folder, creates `log-n`, and only then
 * removes the older snapshot and logs; records appended during it go to `log-n`, which receives
 * no byte before the previous log is fully fsynced.
 *
 * An append that rejected with `Io` may or may not be found after a restart (its bytes may have
 * reached the disk before the failing fsync), but only ever with every record before it.
 *
 * Not guaranteed: exclusivity (no OS lock: opening the same document twice at once, in one or two
 * processes, corrupts it); durability of `dir`'s own entry in its parent beyond one fsync of that
 * parent when the storage is first used; anything if the fs lies about fsync.
 *
 * @throws ConcordError `InvalidArgument` for bad options (synchronously). `open` rejects with
 *   `InvalidArgument` for an empty, over-long or unencodable document name.
 */
export function fileStorage(dir: string, options: FileStorageOptions = {}): Persistence {
  if (typeof dir !== "string" || dir.length === 0) {
    throw new ConcordError("InvalidArgument", "fileStorage: dir must be a non-empty path", { dir });
  }
  const name = `file:${dir}`;
  const limits = resolveLogLimits(options, `fileStorage(${JSON.stringify(dir)})`);
  const fsync = options.fsync ?? { maxDelayMs: 2 };
  if (fsync !== "always" && !(typeof fsync === "object" && fsync !== null && Number.isFinite(fsync.maxDelayMs) && fsync.maxDelayMs >= 0)) {
    throw new ConcordError("InvalidArgument", `fileStorage(${JSON.stringify(dir)}): fsync must be "always" or { maxDelayMs: >= 0 }`, {
      fsync,
    });
  }
  if (options.blockingAppends !== undefined && typeof options.blockingAppends !== "boolean") {
    throw new ConcordError("InvalidArgument", `fileStorage(${JSON.stringify(dir)}): blockingAppends must be true or false`, {
      blockingAppends: options.blockingAppends,
    });
  }
  const clock = options.clock ?? systemClock;
  let fsReady: Promise<FileSystem> | undefined;

  /** The fs, with `dir` created and its entry fsynced in its parent, once per storage. */
  const rootReady = (): Promise<FileSystem> => {
    if (fsReady === undefined) {
      fsReady = (async () => {
        const fs = options.fs ?? (await import("./node-fs.js")).nodeFileSystem({ blockingAppends: options.blockingAppends === true });
        await fs.mkdirp(dir);
        await fs.syncDir(parentPath(dir));
        return fs;
      })();
      fsReady.catch(() => (fsReady = undefined)); // a failed setup is retried by the next open
    }
    return fsReady;
  };

  return {
    name,
    async open(doc: DocId): Promise<DocStorage> {
      checkDocId(doc, name);
      const folder = joinPath(dir, docFolderName(doc));
      const fs = await rootReady();
      const recovered = await recoverFolder(fs, folder, limits.maxRecordBytes);
      const sink = new FileLogSink(fs, folder, recovered.snapshotGen, recovered.logGens, limits.maxRecordBytes);
      return openDocLog({
        label: `file storage ${dir}, doc ${JSON.stringify(doc)}`,
        recovered: recovered.log,
        sink,
        limits,
        schedule: fsync === "always" ? "always" : { maxDelayMs: fsync.maxDelayMs, clock },
      });
    },
  };
}

/** Makes one document folder's log durable; called one operation at a time by the doc log. */
class FileLogSink implements LogSink {
  readonly #fs: FileSystem;
  readonly #folder: string;
  #snapshotGen: number;
  /** Every log generation present in the folder, ascending. */
  #logGens: number[];
  /** The log that receives appends: the newest one. */
  #activeGen: number;
  /** The active log, kept open between appends; null until the first append after an open or a compaction. */
  #appender: Promise<AppendFile> | null = null;

  constructor(
    fs: FileSystem,
    folder: string,
    snapshotGen: number,
    logGens: readonly number[],
    private readonly maxRecordBytes: number,
  ) {
    const activeGen = logGens[logGens.length - 1];
    invariant(activeGen !== undefined, `${folder}: recovery left no log to append to`);
    this.#fs = fs;
    this.#folder = folder;
    this.#snapshotGen = snapshotGen;
    this.#logGens = [...logGens];
    this.#activeGen = activeGen;
  }

  #path(kind: "snap" | "log" | "tmp", gen: number): string {
    return joinPath(this.#folder, logFileName(kind, gen));
  }

  async append(records: readonly Uint8Array[]): Promise<void> {
    this.#appender ??= this.#fs.openAppend(this.#path("log", this.#activeGen));
    const file = await this.#appender;
    await file.append(encodeRecords(records));
    await file.sync();
  }

  /** Closes the active log's handle (a failed open leaves nothing to close). */
  async close(): Promise<void> {
    const appender = this.#appender;
    this.#appender = null;
    const file = await appender?.catch(() => undefined);
    await file?.close();
  }

  load(): Promise<StoredLog> {
    return readFolder(this.#fs, this.#folder, this.#snapshotGen, this.#logGens, this.maxRecordBytes);
  }

  async compact(snapshot: Uint8Array): Promise<void> {
    const fs = this.#fs;
    const gen = this.#activeGen + 1;
    invariant(gen <= MAX_GENERATION, `${this.#folder}: generation ${gen} does not fit a 10-digit file name`);
    const tmp = this.#path("tmp", gen);
    const snap = this.#path("snap", gen);
    await fs.write(tmp, encodeRecord(snapshot));
    await fs.sync(tmp);
    await fs.rename(tmp, snap);
    await fs.syncDir(this.#folder);
    // From here recovery picks snapshot `gen`. The new log is empty, so only its directory entry
    // must become durable before an append to it is acknowledged: the syncDir after the removals
    // below does that (a crash before it loses an empty file, which recovery recreates).
    await fs.write(this.#path("log", gen), new Uint8Array(0));

    const obsolete = this.#logGens.map((g) => this.#path("log", g));
    if (this.#snapshotGen > 0) obsolete.push(this.#path("snap", this.#snapshotGen));
    this.#snapshotGen = gen;
    this.#logGens = [gen];
    this.#activeGen = gen;
    await this.close(); // the old active log is about to go; appends go to log `gen` from now on
    for (const path of obsolete) await fs.remove(path);
    await fs.syncDir(this.#folder);
  }
}
