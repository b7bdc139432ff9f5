/**
 * The file-system port under the file storage. `node-fs.ts` implements it over `node:fs`;
 * `sim/sim-disk.ts` implements it in memory with crash semantics (unsynced bytes lost, torn tails),
 * so the same file-storage code runs on both and its crash safety is tested in simulation.
 *
 * Paths are `/`-separated strings; implementations treat them as opaque below the root they were
 * given. Every method rejects with a `ConcordError` of code `Io` when the device refuses.
 */

/**
 * A file kept open for appending: the storage's active log, so that a commit costs a write and an
 * fsync rather than opening the file twice. Only one at a time per path; closed before the path
 * is removed or renamed.
 */
export interface AppendFile {
  /** Appends `bytes` at the end of the file. Not durable until {@link sync}. */
  append(bytes: Uint8Array): Promise<void>;
  /** The file's content as of now survives a crash (fdatasync: an append's size change included). */
  sync(): Promise<void>;
  /** Releases the handle. Later calls reject. */
  close(): Promise<void>;
}

export interface FileSystem {
  /** Creates `dir` and its parents if missing. */
  mkdirp(dir: string): Promise<void>;
  /** Names (not paths) of the entries of `dir`; `[]` if it does not exist. */
  list(dir: string): Promise<string[]>;
  /** Whole content of the file, or `undefined` if it does not exist. */
  read(path: string): Promise<Uint8Array | undefined>;
  /** Creates or replaces the file with `bytes`. Not durable until `sync(path)` and `syncDir`. */
  write(path: string, bytes: Uint8Array): Promise<void>;
  /** Appends to the file, creating it if missing. Not durable until `sync(path)`. */
  append(path: string, bytes: Uint8Array): Promise<void>;
  /** Opens the file for appending, creating it if missing. */
  openAppend(path: string): Promise<AppendFile>;
  /** Cuts the file to `size` bytes. Not durable until `sync(path)`. */
  truncate(path: string, size: number): Promise<void>;
  /** fsync: the file's content as of now survives a crash. */
  sync(path: string): Promise<void>;
  /** fsync of a directory: creations, renames and removals in it survive a crash. */
  syncDir(dir: string): Promise<void>;
  /** Atomically replaces `to` with `from` (same directory). Not durable until `syncDir`. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; no error if it is missing. Not durable until `syncDir`. */
  remove(path: string): Promise<void>;
}
