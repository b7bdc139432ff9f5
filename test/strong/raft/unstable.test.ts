/**
 * The unstable tail of the log (src/strong/raft/unstable.ts), case by case as etcd-raft's
 * log_unstable_test.go does: the entries and the snapshot the core accepted and the driver has not
 * persisted yet. What is handed out in a Ready, what becomes stable, and what a conflicting append
 * or a snapshot replaces decide what an acknowledgement rests on.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { Unstable } from "../../../src/strong/raft/unstable.js";
import { asIndex, asNodeId, asTerm, type Entry, type Snapshot } from "../../../src/strong/raft/types.js";
import { entry } from "./harness.js";

const ix = asIndex;
const snap = (index: number, term: number): Snapshot => ({ meta: { index: ix(index), term: asTerm(term), conf: { voters: [asNodeId("a")], learners: [] } }, data: new Uint8Array() });
const indexes = (es: readonly Entry[]): number[] => es.map((e) => e.index);

/** An unstable tail at `offset` holding entries of `terms` (one per index), and `snapshot`. */
function tail(offset: number, terms: readonly number[], snapshot: Snapshot | null = null): Unstable {
  const u = new Unstable(ix(offset));
  u.snapshot = snapshot;
  u.entries = terms.map((t, i) => entry(offset + i, t));
  return u;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConcordError(e) || e instanceof Error) return e.message;
  }
  return "no error";
}

describe("the unstable tail of the log", () => {
  it("first index: the pending snapshot's index + 1, or unknown without one", () => {
    expect(tail(5, [1]).maybeFirstIndex()).toBeNull();
    expect(tail(5, [1], snap(4, 1)).maybeFirstIndex()).toBe(5);
    expect(tail(5, [], snap(4, 1)).maybeFirstIndex()).toBe(5);
  });

  it("last index: the last entry, else the pending snapshot, else unknown", () => {
    expect(tail(5, [1]).maybeLastIndex()).toBe(5);
    expect(tail(5, [1, 1, 2]).maybeLastIndex()).toBe(7);
    expect(tail(5, [1], snap(4, 1)).maybeLastIndex()).toBe(5);
    expect(tail(5, [], snap(4, 1)).maybeLastIndex()).toBe(4);
    expect(tail(0, []).maybeLastIndex()).toBeNull();
  });

  it("term of an index: an entry's, the pending snapshot's at its index, else unknown", () => {
    const u = tail(5, [1, 3], snap(4, 2));
    expect([u.maybeTerm(ix(4)), u.maybeTerm(ix(5)), u.maybeTerm(ix(6)), u.maybeTerm(ix(7)), u.maybeTerm(ix(3))]).toEqual([2, 1, 3, null, null]);
    const bare = tail(5, [1]);
    expect([bare.maybeTerm(ix(4)), bare.maybeTerm(ix(5)), bare.maybeTerm(ix(6))]).toEqual([null, 1, null]);
  });

  it("hands each entry and the snapshot out in a Ready once, until a conflict brings entries back", () => {
    const u = tail(5, [1, 1], snap(4, 1));
    expect(indexes(u.nextEntries())).toEqual([5, 6]);
    expect(u.nextSnapshot()?.meta.index).toBe(4);
    u.acceptInProgress();
    expect([indexes(u.nextEntries()), u.nextSnapshot(), u.offsetInProgress]).toEqual([[], null, 7]);
    u.truncateAndAppend([entry(7, 1)]);
    expect(indexes(u.nextEntries())).toEqual([7]);
    // Replacing entries already handed out hands them out again (they must be rewritten).
    u.truncateAndAppend([entry(6, 2)]);
    expect([indexes(u.nextEntries()), u.offsetInProgress]).toEqual([[6], 6]);
    const none = tail(5, [1]);
    none.acceptInProgress();
    expect(none.snapshotInProgress).toBe(false);
  });

  it("entries become stable up to an index only while that entry is still there with that term", () => {
    const u = tail(5, [1, 1, 2]);
    u.acceptInProgress();
    u.stableTo(ix(6), asTerm(1));
    expect([u.offset, indexes(u.entries), u.offsetInProgress]).toEqual([7, [7], 8]);
    u.stableTo(ix(7), asTerm(1)); // a stale persist of a replaced entry: its term differs
    expect([u.offset, indexes(u.entries)]).toEqual([7, [7]]);
    u.stableTo(ix(6), asTerm(1)); // already stable
    u.stableTo(ix(9), asTerm(2)); // not held
    expect([u.offset, indexes(u.entries)]).toEqual([7, [7]]);
    // Stable before being handed out (a snapshot's index): offsetInProgress follows the offset.
    const v = tail(5, [1, 1]);
    v.stableTo(ix(5), asTerm(1));
    expect([v.offset, v.offsetInProgress]).toEqual([6, 6]);
    const w = tail(5, [], snap(4, 1));
    w.stableTo(ix(4), asTerm(1)); // the snapshot's index is not an entry here
    expect([w.offset, w.snapshot?.meta.index]).toEqual([5, 4]);
  });

  it("the snapshot becomes stable only if it is still the pending one", () => {
    const u = tail(5, [1], snap(4, 1));
    u.acceptInProgress();
    u.stableSnapTo(ix(3));
    expect([u.snapshot?.meta.index, u.snapshotInProgress]).toEqual([4, true]);
    u.stableSnapTo(ix(4));
    expect([u.snapshot, u.snapshotInProgress]).toEqual([null, false]);
  });

  it("a restored snapshot replaces everything; the log restarts after it, nothing handed out yet", () => {
    const u = tail(5, [1, 1], snap(4, 1));
    u.acceptInProgress();
    u.restore(snap(9, 3));
    expect([u.offset, u.offsetInProgress, u.entries, u.snapshot?.meta.index, u.snapshotInProgress]).toEqual([10, 10, [], 9, false]);
    expect(u.nextSnapshot()?.meta.index).toBe(9);
  });

  it("truncate and append: at the end appends; at or before the offset replaces all; in between cuts the conflicting suffix", () => {
    const end = tail(5, [1]);
    end.truncateAndAppend([entry(6, 1), entry(7, 1)]);
    expect([end.offset, indexes(end.entries)]).toEqual([5, [5, 6, 7]]);
    const before = tail(5, [1]);
    before.acceptInProgress();
    before.truncateAndAppend([entry(4, 2), entry(5, 2)]);
    expect([before.offset, before.offsetInProgress, before.entries.map((e) => e.term)]).toEqual([4, 4, [2, 2]]);
    const at = tail(5, [1, 1]);
    at.truncateAndAppend([entry(5, 2)]);
    expect([at.offset, at.entries.map((e) => [e.index, e.term])]).toEqual([5, [[5, 2]]]);
    const middle = tail(5, [1, 1, 1]);
    middle.acceptInProgress();
    middle.truncateAndAppend([entry(6, 2), entry(7, 2)]);
    expect([middle.offset, middle.offsetInProgress, middle.entries.map((e) => [e.index, e.term])]).toEqual([5, 6, [[5, 1], [6, 2], [7, 2]]]);
    // In between, not yet handed out past the cut: the hand-out point stays.
    const early = tail(5, [1, 1, 1]);
    early.truncateAndAppend([entry(7, 2)]);
    expect([early.offsetInProgress, early.entries.map((e) => e.term)]).toEqual([5, [1, 1, 2]]);
    const empty = tail(5, [1]);
    empty.truncateAndAppend([]);
    expect(indexes(empty.entries)).toEqual([5]);
  });

  it("slices [lo, hi) within what it holds, and refuses anything outside", () => {
    const u = tail(5, [1, 2, 3]);
    expect(indexes(u.slice(ix(5), ix(8)))).toEqual([5, 6, 7]);
    expect(indexes(u.slice(ix(6), ix(7)))).toEqual([6]);
    expect(u.slice(ix(6), ix(6))).toEqual([]);
    for (const [lo, hi] of [
      [4, 6],
      [6, 9],
      [7, 6],
    ]) {
      expect(refusal(() => u.slice(ix(lo!), ix(hi!)))).toBe(`unstable slice [${lo}, ${hi}) out of [5, 8)`);
    }
  });
});
