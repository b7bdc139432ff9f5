/**
 * Membership arithmetic (src/strong/raft/membership.ts), case by case: each change on each kind of
 * member, the bootstrap log, replay, and the tracker that follows the log through appends,
 * truncations, snapshot installs and compaction. Every server must compute the same membership
 * from the same log, and a truncated change must be undone, or two servers count different quorums.
 */
import { describe, expect, it } from "vitest";
import {
  applyConfChange,
  bootstrapEntries,
  ConfTracker,
  EMPTY_CONF,
  members,
  replayConf,
  sameConf,
  sortIds,
} from "../../../src/strong/raft/membership.js";
import { asIndex, asNodeId, asTerm, type ConfChange, type ConfState, type Entry } from "../../../src/strong/raft/types.js";

const ids = (...xs: string[]) => xs.map(asNodeId);
const conf = (voters: string[], learners: string[] = []): ConfState => ({ voters: ids(...voters), learners: ids(...learners) });
const change = (type: ConfChange["type"], node: string): ConfChange => ({ type, node: asNodeId(node) }) as ConfChange;
const confEntry = (index: number, c: ConfChange, term = 2): Entry => ({ kind: "conf-change", index: asIndex(index), term: asTerm(term), change: c });
const noop = (index: number): Entry => ({ kind: "noop", index: asIndex(index), term: asTerm(2) });

describe("one membership change", () => {
  const ab_c = conf(["a", "b"], ["c"]);
  const cases: [ConfChange, ConfState | string][] = [
    [change("add-learner", "d"), conf(["a", "b"], ["c", "d"])],
    [change("add-learner", "a"), "a is already a voter"],
    [change("add-learner", "c"), "c is already a learner"],
    [change("add-voter", "0"), conf(["0", "a", "b"], ["c"])],
    [change("add-voter", "b"), "b is already a voter"],
    [change("add-voter", "c"), "c is a learner: promote it instead"],
    [change("promote", "c"), conf(["a", "b", "c"])],
    [change("promote", "a"), "a is already a voter"],
    [change("promote", "d"), "d is not a learner: add it as a learner first"],
    [change("remove", "a"), conf(["b"], ["c"])],
    [change("remove", "c"), conf(["a", "b"])],
    [change("remove", "d"), "d is not a member"],
  ];
  for (const [c, want] of cases) {
    it(`${c.type} ${c.node} on voters a, b and learner c: ${typeof want === "string" ? want : "applied"}`, () => {
      expect(applyConfChange(ab_c, c)).toEqual(typeof want === "string" ? { error: want } : want);
    });
  }

  it("never removes the last voter; a learner beside it may go", () => {
    expect(applyConfChange(conf(["a"], ["l"]), change("remove", "a"))).toEqual({ error: "a is the last voter: the cluster would have none" });
    expect(applyConfChange(conf(["a"], ["l"]), change("remove", "l"))).toEqual(conf(["a"]));
  });

  it("refuses a change of an unknown type, saying what it got", () => {
    const odd = { type: "demote", node: asNodeId("a") } as unknown as ConfChange;
    expect(applyConfChange(ab_c, odd)).toEqual({ error: 'unknown change {"type":"demote","node":"a"}' });
  });
});

describe("membership helpers", () => {
  it("members are voters and learners in code-unit order; sameConf ignores order only", () => {
    expect(members(conf(["b", "B"], ["a", "10", "9"]))).toEqual(["10", "9", "B", "a", "b"]);
    expect(sortIds(ids("b", "a", "b"))).toEqual(["a", "b", "b"]);
    expect(sameConf(conf(["b", "a"], ["c"]), conf(["a", "b"], ["c"]))).toBe(true);
    expect(sameConf(conf(["a", "b"]), conf(["a", "b"], ["c"]))).toBe(false);
    expect(sameConf(conf(["a", "b"]), conf(["a", "c"]))).toBe(false);
    expect(sameConf(conf(["a"], ["b"]), conf(["b"], ["a"]))).toBe(false);
  });

  it("the bootstrap log: one committed add-voter per voter, then one add-learner per learner, at term 1", () => {
    const { entries, hardState } = bootstrapEntries(conf(["c", "a"], ["z"]));
    expect(entries.map((e) => [e.index, e.term, e.kind === "conf-change" ? `${e.change.type} ${e.change.node}` : e.kind])).toEqual([
      [1, 1, "add-voter a"],
      [2, 1, "add-voter c"],
      [3, 1, "add-learner z"],
    ]);
    expect(hardState).toEqual({ term: 1, vote: null, commit: 3 });
    expect(bootstrapEntries(EMPTY_CONF)).toEqual({ entries: [], hardState: { term: 0, vote: null, commit: 0 } });
    expect(replayConf(EMPTY_CONF, entries)).toEqual(conf(["a", "c"], ["z"]));
  });

  it("replay applies conf changes in order and skips what is not one or makes no sense", () => {
    const log = [confEntry(1, change("add-voter", "a")), noop(2), confEntry(3, change("add-voter", "a")), confEntry(4, change("add-learner", "b")), confEntry(5, change("promote", "b"))];
    expect(replayConf(EMPTY_CONF, log)).toEqual(conf(["a", "b"]));
  });
});

describe("the configuration tracker", () => {
  it("follows appends: the latest configuration is in force at once, confAt answers any index", () => {
    const t = new ConfTracker(conf(["a", "b", "c"]), asIndex(3));
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c"]), 3]);
    t.onAppend([noop(4), confEntry(5, change("add-learner", "d")), noop(6), confEntry(7, change("promote", "d"))]);
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c", "d"]), 7]);
    expect(t.confAt(asIndex(3))).toEqual(conf(["a", "b", "c"]));
    expect(t.confAt(asIndex(4))).toEqual(conf(["a", "b", "c"]));
    expect(t.confAt(asIndex(5))).toEqual(conf(["a", "b", "c"], ["d"]));
    expect(t.confAt(asIndex(6))).toEqual(conf(["a", "b", "c"], ["d"]));
    expect(t.confAt(asIndex(7))).toEqual(conf(["a", "b", "c", "d"]));
    expect(t.confAt(asIndex(99))).toEqual(conf(["a", "b", "c", "d"]));
  });

  it("a change that makes no sense still takes its index, with the configuration unchanged", () => {
    const t = new ConfTracker(conf(["a"]), asIndex(1));
    t.onAppend([confEntry(2, change("remove", "zz"))]);
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a"]), 2]);
  });

  it("a truncation undoes the changes from its index on, and only those", () => {
    const t = new ConfTracker(conf(["a", "b", "c"]), asIndex(3));
    t.onAppend([confEntry(5, change("add-learner", "d")), confEntry(7, change("remove", "c"))]);
    t.truncateFrom(asIndex(8));
    expect(t.current()).toEqual(conf(["a", "b"], ["d"]));
    t.truncateFrom(asIndex(7));
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c"], ["d"]), 5]);
    t.truncateFrom(asIndex(4));
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c"]), 3]);
    t.truncateFrom(asIndex(1));
    expect(t.current()).toEqual(conf(["a", "b", "c"]));
  });

  it("a snapshot install replaces base and history", () => {
    const t = new ConfTracker(conf(["a"]), asIndex(1));
    t.onAppend([confEntry(2, change("add-voter", "b"))]);
    t.restore(conf(["x", "y"]), asIndex(40));
    expect([t.current(), t.latestIndex(), t.confAt(asIndex(40))]).toEqual([conf(["x", "y"]), 40, conf(["x", "y"])]);
  });

  it("compaction folds committed changes into the base without changing any answer at or above it", () => {
    const t = new ConfTracker(conf(["a"]), asIndex(1));
    t.onAppend([confEntry(2, change("add-voter", "b")), confEntry(4, change("add-voter", "c")), confEntry(6, change("add-learner", "d"))]);
    t.compactTo(asIndex(4));
    expect([t.confAt(asIndex(4)), t.confAt(asIndex(5)), t.confAt(asIndex(6)), t.latestIndex()]).toEqual([
      conf(["a", "b", "c"]),
      conf(["a", "b", "c"]),
      conf(["a", "b", "c"], ["d"]),
      6,
    ]);
    // A truncation after the compaction point still reverts to the folded base.
    t.truncateFrom(asIndex(5));
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c"]), 4]);
    t.compactTo(asIndex(99));
    expect([t.current(), t.latestIndex()]).toEqual([conf(["a", "b", "c"]), 4]);
  });
});
