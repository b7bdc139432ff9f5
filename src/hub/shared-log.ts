/**
 * The shared log port: one durable, ordered log of Yjs updates per document, appended to by every
 * `concord serve` instance of a scaled-out deployment and followed by all of them. Redis Streams
 * implement it (`redis-log.ts`); `memory-hub.ts` is its in-memory twin. The contract suite is
 * `test/hub/shared-log-contract.ts`.
 *
 * Entry ids are Redis stream ids (`<ms>-<seq>`): strictly increasing within a document's log.
 */
import type { DocId } from "../ids.js";

/** A log entry's id: `<ms>-<seq>`, ordered by {@link compareEntryIds}. */
export type EntryId = string & { readonly __brand: "EntryId" };

/** One appended update. */
export interface LogEntry {
  readonly id: EntryId;
  /** The instance that appended it (its `--instance` name). */
  readonly origin: string;
  /** A Yjs update (v1 encoding). */
  readonly update: Uint8Array;
}

/** What {@link SharedLog.follow} tells its listener. Both MUST NOT throw. */
export interface FollowListener {
  /** Entries after the last ones delivered, in log order, in batches. */
  entries(entries: readonly LogEntry[]): void;
  /**
   * Following failed (the log is unreachable); it goes on by itself once it is reachable again,
   * from where it stopped, so nothing is skipped. Called at most once per outage.
   */
  error(error: unknown): void;
  /**
   * Entries after the last ones delivered were trimmed before this follower read them (it lagged
   * behind a compaction): what they held is in the document's snapshot, which the follower must
   * apply. Called BEFORE the entries that follow the gap are delivered. May be called when no entry
   * was actually missed (a trim racing the check); applying the snapshot again is harmless.
   */
  gap(): void;
}

/**
 * One deployment's shared log. Every method that touches the engine rejects with
 * `ConcordError("Unavailable")` when it is unreachable.
 */
export interface SharedLog {
  /** Names the engine in logs and health, e.g. `redis://127.0.0.1:6379`. */
  readonly name: string;
  /**
   * Appends `update` to `doc`'s log. Resolves with its id once it is DURABLE in the log (for Redis:
   * written and fsynced to the AOF, which `redis-log.ts` checks at connection). Appends from one
   * caller are ordered as called.
   */
  append(doc: DocId, update: Uint8Array, origin: string): Promise<EntryId>;
  /** At most `count` entries of `doc` with ids after `after` (from the start when null), ascending. */
  range(doc: DocId, after: EntryId | null, count: number): Promise<LogEntry[]>;
  /**
   * Delivers every entry of `doc` after `after`, as it is appended, until the returned function is
   * called. Only durable entries are delivered.
   */
  follow(doc: DocId, after: EntryId | null, listener: FollowListener): () => void;
  /** Drops `doc`'s entries with ids up to and including `upTo` (folded into a snapshot). */
  trim(doc: DocId, upTo: EntryId): Promise<void>;
  /** Documents whose log holds entries, with how many (for the compaction worker). */
  documents(): Promise<{ readonly doc: DocId; readonly entries: number }[]>;
  /** Resolves when the engine answers (health checks). */
  ping(): Promise<void>;
  /** Releases connections; pending calls reject with `Closed`. Idempotent. */
  close(): Promise<void>;
}

const ID = /^(\d{1,16})-(\d{1,16})$/;

/** True for a well-formed entry id. */
export function isEntryId(value: unknown): value is EntryId {
  return typeof value === "string" && ID.test(value);
}

/** Negative, zero or positive as `a` is before, equal to or after `b`; null sorts first. */
export function compareEntryIds(a: EntryId | null, b: EntryId | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const [am, as] = parts(a);
  const [bm, bs] = parts(b);
  return am !== bm ? (am < bm ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
}

function parts(id: EntryId): [bigint, bigint] {
  const at = id.indexOf("-");
  return [BigInt(id.slice(0, at)), BigInt(id.slice(at + 1))];
}
