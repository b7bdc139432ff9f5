/**
 * An in-memory {@link RaftStorage} with the writer side a driver needs (etcd-raft's
 * `MemoryStorage`): used by tests, the simulation and as the reference for durable adapters.
 * "Durable" here means "held by this object": it survives a core restart, not a process exit.
 *
 * Writing a Ready, in order: `applySnapshot(rd.snapshot)` if any, `append(rd.entries)`,
 * `setHardState(rd.hardState)` if any; then send, apply, `core.advance(rd)`.
 *
 * New cluster: `MemoryRaftStorage.bootstrap(conf)` for each founding member (the same `conf` for
 * all); `new MemoryRaftStorage()` for a server that will be added later.
 */
import { ConcordError } from "../../errors.js";
import { bootstrapEntries, EMPTY_CONF, replayConf } from "./membership.js";
import type { InitialState, RaftStorage } from "./storage.js";
import {
  asIndex,
  asTerm,
  EMPTY_HARD_STATE,
  entryPayloadSize,
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type Snapshot,
  type Term,
} from "./types.js";

/**
 * Log entries after a compaction point, the latest snapshot and the hard state, all in memory.
 * Invariant: compaction point <= snapshot index (so the snapshot covers every compacted entry).
 */
export class MemoryRaftStorage implements RaftStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = { meta: { index: asIndex(0), term: asTerm(0), conf: EMPTY_CONF }, data: new Uint8Array(0) };
  /** Index, term and membership of the last compacted entry (firstIndex - 1). */
  private offsetIndex: LogIndex = asIndex(0);
  private offsetTerm: Term = asTerm(0);
  private offsetConf: ConfState = EMPTY_CONF;
  /** Entries offsetIndex + 1 ... lastIndex. */
  private ents: Entry[] = [];

  /**
   * Storage for a founding member of a new cluster whose initial membership is `conf`: the log
   * holds one committed entry per member (see `bootstrapEntries`). Every founding member MUST be
   * bootstrapped with the same `conf`.
   */
  static bootstrap(conf: ConfState): MemoryRaftStorage {
    const s = new MemoryRaftStorage();
    const { entries, hardState } = bootstrapEntries(conf);
    s.ents = entries;
    s.hard = hardState;
    return s;
  }

  /** Hard state, and the membership as of `firstIndex() - 1` (the core replays the log's changes on top). */
  initialState(): InitialState {
    return { hardState: this.hard, confState: this.offsetConf };
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): readonly Entry[] | "compacted" | "unavailable" {
    if (lo <= this.offsetIndex) return "compacted";
    if (hi > this.lastIndex() + 1 || lo > hi) return "unavailable";
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offsetIndex - 1];
      if (e === undefined) break;
      const size = entryPayloadSize(e);
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(e);
      bytes += size;
    }
    return out;
  }

  term(index: LogIndex): Term | "compacted" | "unavailable" {
    if (index < this.offsetIndex) return "compacted";
    if (index === this.offsetIndex) return this.offsetTerm;
    const e = this.ents[index - this.offsetIndex - 1];
    return e === undefined ? "unavailable" : e.term;
  }

  firstIndex(): LogIndex {
    return asIndex(this.offsetIndex + 1);
  }

  lastIndex(): LogIndex {
    return asIndex(this.offsetIndex + this.ents.length);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** The last hard state written. */
  hardState(): HardState {
    return this.hard;
  }

  /** Persists the hard state of a Ready. */
  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  /**
   * Appends contiguous entries, first dropping every entry at or after `entries[0].index` (a
   * conflicting suffix the core replaced). Entries at or below the compaction point are skipped.
   * Throws ConcordError "InvalidArgument" if they would leave a gap after the last index.
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index > this.lastIndex() + 1) {
      throw new ConcordError("InvalidArgument", `append at ${first.index} leaves a gap after the last index ${this.lastIndex()}`, {
        first: first.index,
        last: this.lastIndex(),
      });
    }
    const kept = entries.filter((e) => e.index > this.offsetIndex);
    const start = kept[0];
    if (start === undefined) return;
    // In place: appending at the end is the common case and must not copy the whole log.
    this.ents.length = start.index - this.offsetIndex - 1;
    for (const e of kept) this.ents.push(e);
  }

  /**
   * Installs a snapshot received from the leader: the whole log is replaced by it. Returns
   * "out-of-date" (and changes nothing) when it is not newer than the snapshot held.
   */
  applySnapshot(snapshot: Snapshot): "applied" | "out-of-date" {
    if (snapshot.meta.index <= this.snap.meta.index) return "out-of-date";
    this.snap = snapshot;
    this.offsetIndex = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.offsetConf = snapshot.meta.conf;
    this.ents = [];
    return "applied";
  }

  /**
   * Records a snapshot of the state machine taken at `index` (which it has applied) with the
   * membership as of `index` (see {@link confStateAt}). Does not compact: call {@link compact}.
   * Returns "out-of-date" when not newer than the snapshot held; throws ConcordError
   * "InvalidArgument" when `index` is beyond the last index.
   */
  createSnapshot(index: LogIndex, conf: ConfState, data: Uint8Array): "created" | "out-of-date" {
    if (index <= this.snap.meta.index) return "out-of-date";
    const term = this.term(index);
    if (typeof term !== "number") {
      throw new ConcordError("InvalidArgument", `cannot snapshot at ${index}: the log holds ${this.firstIndex()}..${this.lastIndex()}`, {
        index,
      });
    }
    this.snap = { meta: { index, term, conf }, data };
    return "created";
  }

  /**
   * Discards entries up to and including `index`. Requires `index <= snapshot().meta.index` (a
   * leader must be able to send a snapshot instead of what was discarded), else throws
   * ConcordError "InvalidArgument". Compacting at or below the current point does nothing.
   */
  compact(index: LogIndex): void {
    if (index <= this.offsetIndex) return;
    if (index > this.snap.meta.index) {
      throw new ConcordError(
        "InvalidArgument",
        `cannot compact to ${index}: the latest snapshot is at ${this.snap.meta.index}; createSnapshot at or above it first`,
        { index, snapshot: this.snap.meta.index },
      );
    }
    const conf = this.confStateAt(index);
    const term = this.term(index);
    if (typeof term !== "number") return;
    this.ents = this.ents.slice(index - this.offsetIndex);
    this.offsetIndex = index;
    this.offsetTerm = term;
    this.offsetConf = conf;
  }

  /**
   * The membership as of `index` (every conf-change entry up to it applied), for
   * {@link createSnapshot}. Requires `firstIndex() - 1 <= index <= lastIndex()`, else throws
   * ConcordError "InvalidArgument".
   */
  confStateAt(index: LogIndex): ConfState {
    if (index < this.offsetIndex || index > this.lastIndex()) {
      throw new ConcordError("InvalidArgument", `no membership known at ${index}: the log holds ${this.firstIndex()}..${this.lastIndex()}`, {
        index,
      });
    }
    return replayConf(this.offsetConf, this.ents.slice(0, index - this.offsetIndex));
  }
}
