/**
 * The core's view of the log (src/strong/raft/raft-log.ts), case by case as etcd-raft's
 * log_test.go does: terms at the edges of a compacted log, the follower's append (paper 5.3),
 * commit, slices across the stable and unstable parts, and what is handed out for application.
 * The simulations reach most of this; these cases pin the edges they rarely hit (the mutation run
 * found them unguarded) and the invariants that refuse a broken storage or driver loudly.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import { RaftLog } from "../../../src/strong/raft/raft-log.js";
import { asIndex, asNodeId, asTerm, type Entry, type Snapshot } from "../../../src/strong/raft/types.js";
import { entry } from "./harness.js";

const ix = asIndex;
const tm = asTerm;
const snap = (index: number, term: number): Snapshot => ({
  meta: { index: ix(index), term: tm(term), conf: { voters: [asNodeId("a")], learners: [] } },
  data: new Uint8Array(),
});
const indexes = (es: readonly Entry[] | string): number[] | string => (typeof es === "string" ? es : es.map((e) => e.index));
/** Entries from `first` on, one per term in `terms`. */
const run = (first: number, terms: readonly number[]): Entry[] => terms.map((t, i) => entry(first + i, t));

/**
 * A log whose storage holds a snapshot at (`snapIndex`, `snapTerm`) (none when 0) and stable
 * entries of `stable` terms after it, with `unstable` terms appended by the core after those.
 */
function log(
  o: { snapIndex?: number; snapTerm?: number; stable?: readonly number[]; unstable?: readonly number[]; committed?: number; applied?: number } = {},
): RaftLog {
  const storage = new MemoryRaftStorage();
  const snapIndex = o.snapIndex ?? 0;
  if (snapIndex > 0) storage.applySnapshot(snap(snapIndex, o.snapTerm ?? 1));
  storage.append(run(snapIndex + 1, o.stable ?? []));
  const l = new RaftLog(storage, ix(o.committed ?? snapIndex), ix(o.applied ?? snapIndex));
  const unstable = o.unstable ?? [];
  if (unstable.length > 0) l.append(run(l.lastIndex() + 1, unstable));
  return l;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConcordError(e) || e instanceof Error) return e.message;
  }
  return "no error";
}

/** A storage that answers "unavailable" for the term of `index`: a broken adapter. */
function forgetfulAt(storage: MemoryRaftStorage, index: number): MemoryRaftStorage {
  const term = storage.term.bind(storage);
  storage.term = (i) => (i === index ? "unavailable" : term(i));
  return storage;
}

describe("the core's log", () => {
  it("first and last index: the storage's, or the unstable tail's when it has a snapshot or entries", () => {
    const l = log({ snapIndex: 3, stable: [1, 2], unstable: [3, 3] });
    expect([l.firstIndex(), l.lastIndex()]).toEqual([4, 7]);
    expect([log({ snapIndex: 3 }).firstIndex(), log({ snapIndex: 3 }).lastIndex()]).toEqual([4, 3]);
    l.restore(snap(9, 4));
    expect([l.firstIndex(), l.lastIndex()]).toEqual([10, 9]);
  });

  it("term: the snapshot's just below the first index, each entry's, then compacted below and unavailable above", () => {
    const l = log({ snapIndex: 3, snapTerm: 1, stable: [1, 2], unstable: [3, 3] });
    const terms = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => l.term(ix(i)));
    expect(terms).toEqual(["compacted", "compacted", 1, 1, 2, 3, 3, "unavailable"]);
    expect(log().term(ix(0))).toBe(0);
    expect(log({ stable: [2] }).lastTerm()).toBe(2);
  });

  it("refuses a storage that cannot tell the term of its last entry, naming the index", () => {
    const storage = forgetfulAt(MemoryRaftStorage.bootstrap({ voters: [asNodeId("a")], learners: [] }), 1);
    const l = new RaftLog(storage, ix(0), ix(0));
    expect(refusal(() => l.lastTerm())).toContain("term of the last index 1 is unavailable");
  });

  it("up to date (paper 5.4.1): a later last term wins; in the same term, a log at least as long", () => {
    const l = log({ stable: [1, 2, 2] });
    expect(l.isUpToDate(ix(1), tm(3))).toBe(true);
    expect(l.isUpToDate(ix(9), tm(1))).toBe(false);
    expect(l.isUpToDate(ix(3), tm(2))).toBe(true);
    expect(l.isUpToDate(ix(2), tm(2))).toBe(false);
  });

  it("finds the first entry not held with the same term, or 0", () => {
    const l = log({ stable: [1, 1, 2] });
    expect(l.findConflict(run(1, [1, 1, 2]))).toBe(0);
    expect(l.findConflict(run(2, [1, 3]))).toBe(3);
    expect(l.findConflict(run(3, [2, 2]))).toBe(4);
    expect(l.findConflict([])).toBe(0);
  });

  it("conflict by term: the highest index at or below with a term at most the given one; unknown below the snapshot", () => {
    const l = log({ stable: [1, 1, 3, 3, 5] });
    expect(l.findConflictByTerm(ix(5), tm(4))).toEqual({ index: 4, term: 3 });
    expect(l.findConflictByTerm(ix(5), tm(5))).toEqual({ index: 5, term: 5 });
    expect(l.findConflictByTerm(ix(4), tm(2))).toEqual({ index: 2, term: 1 });
    expect(l.findConflictByTerm(ix(4), tm(0))).toEqual({ index: 0, term: 0 });
    const compacted = log({ snapIndex: 5, snapTerm: 2, stable: [5, 5, 5] });
    // 8..6 are of term 5, the snapshot at 5 is of term 2: 4 is compacted, so unknown (term 0).
    expect(compacted.findConflictByTerm(ix(8), tm(1))).toEqual({ index: 4, term: 0 });
    expect(compacted.findConflictByTerm(ix(8), tm(2))).toEqual({ index: 5, term: 2 });
  });

  describe("a follower's append (paper 5.3)", () => {
    it("refuses when the entry before does not match", () => {
      const l = log({ stable: [1, 1] });
      expect(l.maybeAppend(ix(2), tm(2), ix(2), run(3, [2]))).toBeNull();
      expect(l.maybeAppend(ix(3), tm(1), ix(2), run(4, [2]))).toBeNull();
      expect([l.lastIndex(), l.committed]).toEqual([2, 0]);
    });

    it("appends nothing when it holds every entry, and commits no further than the last new entry", () => {
      const l = log({ stable: [1, 1, 1] });
      const r = l.maybeAppend(ix(1), tm(1), ix(9), run(2, [1]));
      expect(r).not.toBeNull();
      expect([r?.lastNew, r?.appended.length]).toEqual([2, 0]);
      // The leader's commit is 9, but this append only showed the follower to hold up to 2.
      expect([l.lastIndex(), l.committed]).toEqual([3, 2]);
    });

    it("truncates from the first conflict and appends only from there", () => {
      const l = log({ stable: [1, 1, 1, 1] });
      const r = l.maybeAppend(ix(1), tm(1), ix(1), run(2, [1, 2, 2]));
      expect(indexes(r?.appended ?? [])).toEqual([3, 4]);
      expect([1, 2, 3, 4, 5].map((i) => l.term(ix(i)))).toEqual([1, 1, 2, 2, "unavailable"]);
      expect(l.lastIndex()).toBe(4);
    });

    it("refuses loudly a conflict at or below the commit index: committed entries are never replaced", () => {
      const atCommit = log({ stable: [1, 1, 1], committed: 2 });
      expect(refusal(() => atCommit.maybeAppend(ix(1), tm(1), ix(2), run(2, [2])))).toContain("entry 2 conflicts with committed 2");
      const above = log({ stable: [1, 1, 1], committed: 2 });
      expect(above.maybeAppend(ix(2), tm(1), ix(2), run(3, [2]))?.appended.length).toBe(1);
    });
  });

  describe("append by the core", () => {
    it("appending nothing answers the last index", () => {
      expect(log({ stable: [1, 1] }).append([])).toBe(2);
    });

    it("refuses to overwrite a committed entry or to leave a gap", () => {
      const l = log({ stable: [1, 1, 1], committed: 2 });
      expect(refusal(() => l.append(run(2, [2])))).toContain("append at 2 would overwrite committed 2");
      expect(refusal(() => l.append(run(5, [2])))).toContain("append at 5 leaves a gap after 3");
      expect(l.append(run(3, [2]))).toBe(3);
      expect(l.append(run(4, [2]))).toBe(4);
    });
  });

  describe("commit", () => {
    it("never goes back, and refuses to go beyond the last index", () => {
      const l = log({ stable: [1, 1, 1] });
      l.commitTo(ix(2));
      l.commitTo(ix(1));
      expect(l.committed).toBe(2);
      expect(refusal(() => l.commitTo(ix(4)))).toContain("commit 4 is beyond the last index 3");
      expect(l.committed).toBe(2);
    });

    it("a leader commits only an entry of its own term (paper 5.4.2)", () => {
      const l = log({ stable: [1, 1, 2] });
      expect(l.maybeCommit(ix(2), tm(2))).toBe(false);
      expect(l.committed).toBe(0);
      expect(l.maybeCommit(ix(3), tm(2))).toBe(true);
      expect(l.committed).toBe(3);
      expect(l.maybeCommit(ix(3), tm(2))).toBe(false);
    });
  });

  describe("slice", () => {
    it("an empty or reversed range is empty, even below the first index", () => {
      const l = log({ snapIndex: 3, stable: [1, 1] });
      expect(l.slice(ix(5), ix(5), 100)).toEqual([]);
      expect(l.slice(ix(5), ix(4), 100)).toEqual([]);
      expect(l.slice(ix(2), ix(2), 100)).toEqual([]);
    });

    it("below the first index is compacted; beyond the last index is refused loudly", () => {
      const l = log({ snapIndex: 3, stable: [1, 1] });
      expect(l.slice(ix(3), ix(5), 100)).toBe("compacted");
      expect(refusal(() => l.slice(ix(4), ix(7), 100))).toContain("slice [4, 7) is beyond the last index 5");
    });

    it("joins the stable and the unstable parts", () => {
      const l = log({ snapIndex: 3, stable: [1, 1], unstable: [2, 2] });
      expect(indexes(l.slice(ix(4), ix(8), 1_000))).toEqual([4, 5, 6, 7]);
      expect(indexes(l.slice(ix(5), ix(7), 1_000))).toEqual([5, 6]);
      expect(indexes(l.slice(ix(4), ix(6), 1_000))).toEqual([4, 5]);
      expect(indexes(l.slice(ix(6), ix(8), 1_000))).toEqual([6, 7]);
    });

    it("takes as many entries as fit in the byte budget, at least one", () => {
      // Each entry's payload is "e<index>": 2 bytes below 10.
      const l = log({ stable: [1, 1], unstable: [1, 1] });
      expect(indexes(l.slice(ix(1), ix(5), 4))).toEqual([1, 2]);
      expect(indexes(l.slice(ix(1), ix(5), 6))).toEqual([1, 2, 3]);
      expect(indexes(l.slice(ix(3), ix(5), 4))).toEqual([3, 4]);
      expect(indexes(l.slice(ix(3), ix(5), 3))).toEqual([3]);
      expect(indexes(l.slice(ix(1), ix(5), 0))).toEqual([1]);
      expect(indexes(l.slice(ix(3), ix(5), 0))).toEqual([3]);
    });

    it("refuses loudly a storage that has lost entries below the unstable offset", () => {
      const storage = new MemoryRaftStorage();
      storage.append(run(1, [1, 1]));
      const l = new RaftLog(storage, ix(0), ix(0));
      storage.entries = () => "unavailable";
      expect(refusal(() => l.slice(ix(1), ix(3), 100))).toContain("storage has no entries [1, 3) below the unstable offset 3");
    });
  });

  it("durable last index: the last persisted entry, or 0 while a received snapshot is not persisted", () => {
    const l = log({ stable: [1, 1], unstable: [1] });
    expect(l.durableLastIndex()).toBe(2);
    l.restore(snap(9, 2));
    expect(l.durableLastIndex()).toBe(0);
  });

  describe("application", () => {
    it("hands out every committed entry not yet handed out when the budget is 0, else at least one within it", () => {
      const all = log({ stable: [1, 1, 1, 1], committed: 3 });
      expect(indexes(all.nextCommitted(0))).toEqual([1, 2, 3]);
      const budget = log({ stable: [1, 1, 1, 1], committed: 3 });
      expect(indexes(budget.nextCommitted(4))).toEqual([1, 2]);
      expect(indexes(budget.nextCommitted(1))).toEqual([1]);
    });

    it("nothing while a snapshot is pending or nothing new is committed", () => {
      const l = log({ stable: [1, 1], committed: 2, applied: 2 });
      expect(l.hasNextCommitted()).toBe(false);
      expect(l.nextCommitted(0)).toEqual([]);
      l.restore(snap(9, 2));
      l.applying = ix(2);
      expect(l.hasNextCommitted()).toBe(false);
    });

    it("refuses loudly committed entries compacted before they were applied", () => {
      const storage = new MemoryRaftStorage();
      storage.applySnapshot(snap(5, 1));
      const l = new RaftLog(storage, ix(5), ix(2));
      expect(refusal(() => l.nextCommitted(0))).toContain("committed entries after 2 were compacted before being applied");
    });

    it("applied and applying never go back", () => {
      const l = log({ stable: [1, 1, 1, 1, 1], committed: 5 });
      l.appliedTo(ix(4));
      l.appliedTo(ix(2));
      expect([l.applied, l.applying]).toEqual([4, 4]);
      l.applying = ix(5);
      l.appliedTo(ix(4));
      expect([l.applied, l.applying]).toEqual([4, 5]);
    });
  });
});
