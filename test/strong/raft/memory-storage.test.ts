/**
 * MemoryRaftStorage: the RaftStorage contract (errors as values) and its writer side.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { bootstrapEntries } from "../../../src/strong/raft/membership.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import { asIndex, asNodeId, asTerm, type ConfChange, type Entry } from "../../../src/strong/raft/types.js";
import { bytes } from "./cluster.js";
import { entry, storedTerms } from "./harness.js";

const conf = { voters: ["a", "b", "c"].map(asNodeId), learners: [asNodeId("l")] };

function filled(): MemoryRaftStorage {
  const s = MemoryRaftStorage.bootstrap(conf);
  s.append([entry(5, 2), entry(6, 2), entry(7, 3)]);
  return s;
}

describe("MemoryRaftStorage", () => {
  it("bootstrap holds one committed membership entry per member, at term 1", () => {
    const s = MemoryRaftStorage.bootstrap(conf);
    expect(s.initialState()).toEqual({ hardState: { term: 1, vote: null, commit: 4 }, confState: { voters: [], learners: [] } });
    expect(s.confStateAt(asIndex(4))).toEqual(conf);
    expect(bootstrapEntries(conf).entries.map((e) => (e.kind === "conf-change" ? `${e.change.type} ${e.change.node}` : e.kind))).toEqual([
      "add-voter a",
      "add-voter b",
      "add-voter c",
      "add-learner l",
    ]);
    const empty = new MemoryRaftStorage();
    expect([empty.firstIndex(), empty.lastIndex(), empty.term(asIndex(0))]).toEqual([1, 0, 0]);
  });

  it("answers compacted below the first index and unavailable past the last, as values", () => {
    const s = filled();
    s.createSnapshot(asIndex(5), s.confStateAt(asIndex(5)), bytes("state"));
    s.compact(asIndex(5));
    expect([s.firstIndex(), s.lastIndex()]).toEqual([6, 7]);
    expect(s.term(asIndex(4))).toBe("compacted");
    expect(s.term(asIndex(5))).toBe(2);
    expect(s.term(asIndex(8))).toBe("unavailable");
    expect(s.entries(asIndex(5), asIndex(7), Infinity)).toBe("compacted");
    expect(s.entries(asIndex(6), asIndex(9), Infinity)).toBe("unavailable");
    expect(s.initialState().confState).toEqual(conf);
  });

  it("entries returns at least one entry, then as many as fit in maxBytes", () => {
    const s = MemoryRaftStorage.bootstrap(conf);
    s.append([
      { kind: "normal", index: asIndex(5), term: asTerm(2), data: bytes("12345") },
      { kind: "normal", index: asIndex(6), term: asTerm(2), data: bytes("12345") },
      { kind: "normal", index: asIndex(7), term: asTerm(2), data: bytes("12345") },
    ]);
    const got = (max: number): number => {
      const r = s.entries(asIndex(5), asIndex(8), max);
      return typeof r === "string" ? -1 : r.length;
    };
    expect([got(0), got(5), got(10), got(14), got(Infinity)]).toEqual([1, 1, 2, 2, 3]);
  });

  it("append overwrites a conflicting suffix, skips compacted entries and refuses a gap", () => {
    const s = filled();
    s.append([entry(6, 4)]);
    expect(storedTerms(s)).toEqual([1, 1, 1, 1, 2, 4]);
    s.createSnapshot(asIndex(5), s.confStateAt(asIndex(5)), bytes("x"));
    s.compact(asIndex(5));
    s.append([entry(5, 2), entry(6, 4), entry(7, 4)]);
    expect([s.firstIndex(), ...storedTerms(s)]).toEqual([6, 4, 4]);
    let err: unknown;
    try {
      s.append([entry(10, 4)]);
    } catch (e) {
      err = e;
    }
    expect(isConcordError(err, "InvalidArgument")).toBe(true);
  });

  it("applySnapshot replaces the whole log; an older one is refused as out-of-date", () => {
    const s = filled();
    const snap = { meta: { index: asIndex(10), term: asTerm(3), conf }, data: bytes("s") };
    expect(s.applySnapshot(snap)).toBe("applied");
    expect([s.firstIndex(), s.lastIndex(), s.term(asIndex(10))]).toEqual([11, 10, 3]);
    expect(s.snapshot()).toBe(snap);
    expect(s.applySnapshot({ ...snap, meta: { ...snap.meta, index: asIndex(9) } })).toBe("out-of-date");
  });

  it("compaction never passes the latest snapshot, so a leader can always send one instead", () => {
    const s = filled();
    let err: unknown;
    try {
      s.compact(asIndex(6));
    } catch (e) {
      err = e;
    }
    expect(isConcordError(err, "InvalidArgument")).toBe(true);
    expect(s.createSnapshot(asIndex(6), s.confStateAt(asIndex(6)), bytes("six"))).toBe("created");
    expect(s.createSnapshot(asIndex(5), s.confStateAt(asIndex(5)), bytes("five"))).toBe("out-of-date");
    s.compact(asIndex(4));
    expect(s.firstIndex()).toBe(5);
    expect(s.initialState().confState).toEqual(conf);
  });

  it("confStateAt replays membership entries up to an index", () => {
    const s = filled();
    const remove: ConfChange = { type: "remove", node: asNodeId("b") };
    const e: Entry = { kind: "conf-change", index: asIndex(8), term: asTerm(3), change: remove };
    s.append([e]);
    expect(s.confStateAt(asIndex(7))).toEqual(conf);
    expect(s.confStateAt(asIndex(8))).toEqual({ voters: ["a", "c"], learners: ["l"] });
  });
});
