/**
 * Membership changes, one server at a time (thesis 4.1, 4.2): learners that catch up before they
 * are promoted, removing followers and the leader, the one-change-at-a-time and
 * commit-in-your-term rules, and membership across restarts. The rule in force is the thesis's:
 * a configuration takes effect when its entry is appended (see src/strong/raft/membership.ts).
 */
import { describe, expect, it } from "vitest";
import { asIndex, asNodeId, asTerm, type ConfChange, type Entry } from "../../../src/strong/raft/types.js";
import { bytes, TestCluster } from "./cluster.js";
import { ackAll, append, appendResp, drain, makeLeader, solo, stepAll, take } from "./harness.js";

const ABC = ["a", "b", "c"];
const change = (type: ConfChange["type"], node: string): ConfChange => ({ type, node: asNodeId(node) }) as ConfChange;
const confEntry = (index: number, term: number, c: ConfChange): Entry => ({ kind: "conf-change", index: asIndex(index), term: asTerm(term), change: c });

describe("thesis 4.1: the rules of a change", () => {
  it("4.1 a configuration takes effect as soon as its entry is appended, before it commits", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.proposeMembershipChange(change("remove", "c"))).toEqual({ ok: true });
    expect(s.core.status().conf).toEqual({ voters: ["a", "b"], learners: [] });
    expect(s.core.status().commit).toBe(4);
    // The new configuration decides: c is gone, so only b's ack (with ours) can commit the change.
    drain(s);
    stepAll(s, appendResp("c", "a", term, 5));
    expect(s.core.status().commit).toBe(4);
    stepAll(s, appendResp("b", "a", term, 5));
    expect(s.core.status().commit).toBe(5);
  });

  it("4.1 a follower uses a configuration from the moment it appends it, and reverts it when the entry is truncated", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [confEntry(4, 2, change("add-learner", "d"))], 3));
    expect(s.core.status().conf).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    expect(s.core.status().commit).toBe(3);
    // A leader of term 3 never had that entry: its append replaces it.
    stepAll(s, append("c", "b", 3, 3, 1, [{ kind: "noop", index: asIndex(4), term: asTerm(3) }], 3));
    expect(s.core.status().conf).toEqual({ voters: ["a", "b", "c"], learners: [] });
  });

  it("4.1 only one change at a time: a second change is refused while the first is uncommitted", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.proposeMembershipChange(change("add-learner", "d"))).toEqual({ ok: true });
    expect(s.core.proposeMembershipChange(change("add-learner", "e"))).toMatchObject({ ok: false, reason: "conf-change-pending" });
    drain(s);
    stepAll(s, appendResp("b", "a", term, 5));
    expect(s.core.proposeMembershipChange(change("add-learner", "e"))).toEqual({ ok: true });
    expect(
      s.core.proposeBatch([
        { kind: "conf-change", change: change("remove", "d") },
        { kind: "conf-change", change: change("remove", "e") },
      ]),
    ).toMatchObject({ ok: false, reason: "invalid-conf-change", detail: "one membership change at a time" });
  });

  it("4.1 (Ongaro's 2015 fix) a new leader refuses a change until it has committed an entry of its own term", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    const refused = s.core.proposeMembershipChange(change("add-learner", "d"));
    expect(refused).toMatchObject({ ok: false, reason: "conf-change-pending" });
    expect(refused.ok ? "" : refused.detail).toMatch(/committed an entry of its term/);
    stepAll(s, appendResp("b", "a", term, 4));
    expect(s.core.proposeMembershipChange(change("add-learner", "d"))).toEqual({ ok: true });
  });

  it("4.1 changes that make no sense for the membership are refused with invalid-conf-change", () => {
    const s = solo("a", ABC, { learners: ["l"] });
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c", "l"]);
    const cases: [ConfChange, RegExp][] = [
      [change("remove", "zz"), /not a member/],
      [change("add-voter", "b"), /already a voter/],
      [change("add-learner", "l"), /already a learner/],
      [change("promote", "b"), /already a voter/],
      [change("promote", "zz"), /not a learner/],
      [change("add-voter", "l"), /promote/],
    ];
    for (const [c, why] of cases) {
      const r = s.core.proposeMembershipChange(c);
      expect([c, r.ok, r.ok ? "" : r.reason]).toEqual([c, false, "invalid-conf-change"]);
      expect(r.ok ? "" : (r.detail ?? "")).toMatch(why);
    }
    const single = solo("a", ["a"]);
    single.core.campaign();
    drain(single);
    expect(single.core.proposeMembershipChange(change("remove", "a"))).toMatchObject({ ok: false, reason: "invalid-conf-change" });
  });

  it("4.1 a change proposed on a follower is forwarded to the leader", () => {
    const c = new TestCluster({ voters: ABC, seed: 12 });
    c.elect("a");
    c.addNode("d");
    expect(c.core("b").proposeMembershipChange(change("add-learner", "d"))).toEqual({ ok: true });
    c.stabilize();
    for (const id of [...ABC, "d"]) expect(c.core(id).status().conf).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
  });
});

describe("thesis 4.2: adding and removing servers", () => {
  it("4.2.1 a new server joins as a learner, catches up from the log (bootstrap entries included) and does not count in quorums", () => {
    const c = new TestCluster({ voters: ABC, seed: 13 });
    c.elect("a");
    c.propose("a", "before");
    c.stabilize();
    c.addNode("d");
    expect(c.core("d").status().conf).toEqual({ voters: [], learners: [] });
    expect(c.core("a").proposeMembershipChange(change("add-learner", "d"))).toEqual({ ok: true });
    c.stabilize();
    expect(c.appliedData("d")).toEqual(["before"]);
    expect(c.core("d").status().conf).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    // a + learner d are not a majority of {a, b, c}.
    c.crash("b");
    c.crash("c");
    c.propose("a", "needs-a-quorum");
    c.stabilize();
    expect(c.appliedData("d")).toEqual(["before"]);
    expect(c.appliedData("a")).toEqual(["before"]);
  });

  it("4.2.1 a learner is promoted only once caught up; then it votes and counts", () => {
    const c = new TestCluster({ voters: ABC, seed: 14 });
    c.elect("a");
    c.addNode("d");
    const heal = c.isolate("d");
    c.core("a").proposeMembershipChange(change("add-learner", "d"));
    c.stabilize();
    c.propose("a", "x");
    c.stabilize();
    const early = c.core("a").proposeMembershipChange(change("promote", "d"));
    expect(early).toMatchObject({ ok: false, reason: "invalid-conf-change" });
    expect(early.ok ? "" : early.detail).toMatch(/not caught up/);
    heal();
    c.tickAll(3);
    expect(c.core("a").proposeMembershipChange(change("promote", "d"))).toEqual({ ok: true });
    c.stabilize();
    expect(c.core("d").status().conf).toEqual({ voters: ["a", "b", "c", "d"], learners: [] });
    // Four voters: a, d and one more make a quorum; a and d alone do not.
    c.crash("b");
    c.crash("c");
    c.propose("a", "two-of-four");
    c.stabilize();
    expect(c.appliedData("d")).toEqual(["x"]);
    c.restart("c");
    c.tickAll(3);
    expect(c.appliedData("d")).toEqual(["x", "two-of-four"]);
    c.assertSafety();
  });

  it("4.2 removing a follower: the others carry on, and the removed server cannot disrupt them", () => {
    const c = new TestCluster({ voters: ABC, seed: 15 });
    c.elect("a");
    const term = c.core("a").status().term;
    c.core("a").proposeMembershipChange(change("remove", "c"));
    c.stabilize();
    expect(c.core("a").status().conf).toEqual({ voters: ["a", "b"], learners: [] });
    c.tickAll(100);
    expect(c.leader()).toBe("a");
    expect(c.core("a").status().term).toBe(term);
    c.propose("a", "after-removal");
    c.stabilize();
    expect(c.appliedData("b")).toEqual(["after-removal"]);
    // With c gone, a quorum of {a, b} needs both.
    c.crash("b");
    c.propose("a", "stuck");
    c.stabilize();
    expect(c.appliedData("a")).toEqual(["after-removal"]);
    c.assertSafety();
  });

  it("4.2.3 a server an uncommitted change removes keeps hearing the leader (not counted) until the removal commits, and hears that commit", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.proposeMembershipChange(change("remove", "c"))).toEqual({ ok: true });
    drain(s);
    const removal = s.core.status().lastIndex;
    // Uncommitted: c still gets the entries and the heartbeats, so it does not time out and campaign.
    expect(take(s, "append").map((m) => m.to)).toContain("c");
    s.core.tick();
    expect(take(s, "heartbeat").map((m) => m.to)).toEqual(["b", "c"]);
    // c's ack does not count toward the new configuration's quorum.
    stepAll(s, appendResp("c", "a", term, removal));
    expect(s.core.status().commit).toBe(removal - 1);
    // b's does: the removal commits, c hears that commit, then the leader stops sending to it.
    stepAll(s, appendResp("b", "a", term, removal));
    expect(s.core.status().commit).toBe(removal);
    const last = take(s, "append").filter((m) => m.to === "c");
    expect(last.map((m) => m.commit)).toEqual([removal]);
    s.core.tick();
    expect(take(s, "heartbeat").map((m) => m.to)).toEqual(["b"]);
    expect([...(s.core.status().progress?.keys() ?? [])]).toEqual(["a", "b"]);
  });

  it("4.2.2 removing the leader: it leads without counting itself until the removal commits, then steps down", () => {
    const c = new TestCluster({ voters: ABC, seed: 16 });
    c.elect("a");
    c.propose("a", "x");
    c.stabilize();
    expect(c.core("a").proposeMembershipChange(change("remove", "a"))).toEqual({ ok: true });
    expect(c.core("a").status()).toMatchObject({ role: "leader", conf: { voters: ["b", "c"], learners: [] } });
    expect(c.core("a").propose(bytes("refused"))).toMatchObject({ ok: false, reason: "not-member", detail: expect.stringMatching(/removed itself/) });
    c.stabilize();
    expect(c.core("a").status().role).toBe("follower");
    // It handed over at once with timeout-now rather than leaving the cluster leaderless for a timeout.
    expect(c.sent.filter((m) => m.type === "timeout-now" && m.from === "a").length).toBe(1);
    const leader = c.leader();
    expect(leader === "b" || leader === "c").toBe(true);
    c.propose(leader ?? "b", "y");
    c.stabilize();
    for (const id of ["b", "c"]) expect(c.appliedData(id)).toEqual(["x", "y"]);
    c.tickAll(100);
    expect(c.core("a").status().role).toBe("follower");
    c.assertSafety();
  });

  it("4.2.2 a leader removing itself keeps leading while earlier entries commit; only its removal's commit makes it step down", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.propose(bytes("x"))).toEqual({ ok: true });
    drain(s);
    const x = s.core.status().lastIndex;
    expect(s.core.proposeMembershipChange(change("remove", "a"))).toEqual({ ok: true });
    drain(s);
    const removal = s.core.status().lastIndex;
    stepAll(s, appendResp("b", "a", term, x), appendResp("c", "a", term, x));
    expect(s.core.status()).toMatchObject({ role: "leader", commit: x });
    stepAll(s, appendResp("b", "a", term, removal), appendResp("c", "a", term, removal));
    expect(s.core.status()).toMatchObject({ role: "follower", commit: removal });
  });

  it("4.2.2 a removed leader hands over to a remaining voter that holds its whole log: never a lagging voter, never a learner", () => {
    // Peers in id order: b (a caught-up learner), c (a voter cut off), d, e, f (caught-up voters).
    const s = solo("a", ["a", "c", "d", "e", "f"], { learners: ["b"] });
    const term = makeLeader(s, "a", ["c", "d", "e", "f"]);
    ackAll(s, "a", ["b", "c", "d", "e", "f"]);
    expect(s.core.proposeMembershipChange(change("remove", "a"))).toEqual({ ok: true });
    drain(s);
    const removal = s.core.status().lastIndex;
    take(s);
    stepAll(s, ...["b", "d", "e", "f"].map((p) => appendResp(p, "a", term, removal)));
    expect(s.core.status()).toMatchObject({ role: "follower", commit: removal });
    expect(take(s, "timeout-now").map((m) => m.to)).toEqual(["d"]);
  });

  it("4.2.2 a server removed by an entry not yet committed still campaigns (it may be needed to commit it), without counting its own vote", () => {
    const c = new TestCluster({ voters: ["a", "b"], seed: 23 });
    c.elect("a");
    const heal = c.isolate("a");
    expect(c.core("a").proposeMembershipChange(change("remove", "a"))).toEqual({ ok: true });
    c.stabilize();
    c.crash("a");
    c.restart("a");
    heal();
    // b alone can't win {a, b}, and a's log (holding the removal) is ahead of b's: only a can lead.
    c.tickUntil(() => c.core("b").status().conf.voters.length === 1 && c.leader() === "b", 500);
    expect(c.core("b").status().conf).toEqual({ voters: ["b"], learners: [] });
    expect(c.core("a").status().role).toBe("follower");
    c.propose("b", "alone");
    c.stabilize();
    expect(c.appliedData("b")).toEqual(["alone"]);
    c.assertSafety();
    // a won the election that committed its own removal with b's vote alone.
    const aTerms = [...c.leadersByTerm].filter(([, ids]) => ids.has(asNodeId("a"))).map(([t]) => t);
    expect(aTerms.length).toBe(2);
  });

  it("4.2 membership survives restarts: recomputed from the snapshot and the log's conf-change entries", () => {
    const c = new TestCluster({ voters: ABC, seed: 17 });
    c.elect("a");
    c.addNode("d");
    c.core("a").proposeMembershipChange(change("add-learner", "d"));
    c.stabilize();
    c.tickAll(2);
    c.core("a").proposeMembershipChange(change("promote", "d"));
    c.stabilize();
    c.core("a").proposeMembershipChange(change("remove", "b"));
    c.stabilize();
    c.propose("a", "z");
    c.stabilize();
    c.snapshotAndCompact("c");
    const want = { voters: ["a", "c", "d"], learners: [] };
    for (const id of ["a", "c", "d"]) {
      c.crash(id);
      c.restart(id, { freshStateMachine: true });
      expect([id, c.core(id).status().conf]).toEqual([id, want]);
    }
    c.tickUntil(() => c.leader() !== null, 300);
    c.propose(c.leader() ?? "a", "after-restart");
    c.stabilize();
    expect(c.appliedData("d").at(-1)).toBe("after-restart");
  });

  it("4.2 a server added after compaction learns the membership from the snapshot", () => {
    const c = new TestCluster({ voters: ABC, seed: 18 });
    c.elect("a");
    c.propose("a", "v");
    c.stabilize();
    c.snapshotAndCompact("a");
    c.addNode("d");
    c.core("a").proposeMembershipChange(change("add-learner", "d"));
    c.stabilize();
    c.tickAll(3);
    expect(c.node("d").storage.snapshot().meta.conf).toEqual({ voters: ["a", "b", "c"], learners: [] });
    expect(c.core("d").status().conf).toEqual({ voters: ["a", "b", "c"], learners: ["d"] });
    expect(c.appliedData("d")).toEqual(["v"]);
  });
});

describe("thesis 3.10: leadership transfer", () => {
  it("3.10 transfer to an up-to-date voter: timeout-now, the target wins at once despite the leases, the old leader follows", () => {
    const c = new TestCluster({ voters: ABC, seed: 19 });
    c.elect("a");
    c.propose("a", "x");
    c.stabilize();
    const term = c.core("a").status().term;
    expect(c.core("a").transferLeadership(asNodeId("b"))).toEqual({ ok: true });
    c.stabilize();
    expect(c.leader()).toBe("b");
    expect(c.core("b").status().term).toBe(term + 1);
    expect(c.core("a").status()).toMatchObject({ role: "follower", leader: "b" });
    expect(c.sent.filter((m) => m.type === "timeout-now").map((m) => [m.from, m.to])).toEqual([["a", "b"]]);
    c.assertSafety();
  });

  it("3.10 transfer to a lagging target first brings it up to date, then sends timeout-now", () => {
    const c = new TestCluster({ voters: ABC, seed: 20 });
    c.elect("a");
    const heal = c.isolate("c");
    for (let i = 0; i < 5; i++) c.propose("a", `p${i}`);
    c.stabilize();
    c.core("a").transferLeadership(asNodeId("c"));
    c.stabilize();
    expect(c.sent.filter((m) => m.type === "timeout-now")).toEqual([]);
    heal();
    c.tickAll(2);
    expect(c.leader()).toBe("c");
    expect(c.appliedData("c")).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  });

  it("3.10 the leader refuses proposals while transferring, and aborts the transfer after an election timeout", () => {
    const c = new TestCluster({ voters: ABC, seed: 21 });
    c.elect("a");
    c.isolate("c");
    c.propose("a", "c-misses-this");
    c.stabilize();
    c.core("a").transferLeadership(asNodeId("c"));
    expect(c.core("a").status().transferee).toBe("c");
    expect(c.core("a").propose(bytes("x"))).toMatchObject({ ok: false, reason: "transferring" });
    expect(c.core("a").proposeMembershipChange(change("remove", "b"))).toMatchObject({ ok: false, reason: "transferring" });
    c.tickAll(10);
    expect(c.core("a").status()).toMatchObject({ role: "leader", transferee: null });
    expect(c.core("a").propose(bytes("y"))).toEqual({ ok: true });
  });

  it("3.10 transfer to a learner or a non-member is refused; a follower forwards a transfer request", () => {
    const c = new TestCluster({ voters: ABC, learners: ["l"], seed: 22 });
    c.elect("a");
    // To itself: nothing to do, and no transfer is left under way to hold proposals back.
    expect(c.core("a").transferLeadership(asNodeId("a"))).toEqual({ ok: true });
    expect(c.core("a").status().transferee).toBeNull();
    expect(c.core("a").transferLeadership(asNodeId("l"))).toMatchObject({ ok: false, reason: "not-member" });
    expect(c.core("a").transferLeadership(asNodeId("zz"))).toMatchObject({ ok: false, reason: "not-member" });
    expect(c.core("b").transferLeadership(asNodeId("c"))).toEqual({ ok: true });
    c.stabilize();
    expect(c.leader()).toBe("c");
  });

  it("3.10 a timeout-now at a server with a lagging log does not win it the election", () => {
    const s = solo("b", ABC, { config: {} });
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    take(s);
    stepAll(s, { type: "timeout-now", from: asNodeId("a"), to: asNodeId("b"), term: asTerm(2) });
    const reqs = take(s, "vote");
    expect(reqs.map((m) => [m.term, m.transfer])).toEqual([
      [3, true],
      [3, true],
    ]);
    // Voters still apply the election restriction to it.
    const voter = solo("c", ABC);
    stepAll(voter, append("a", "c", 2, 3, 1, [{ kind: "noop", index: asIndex(4), term: asTerm(2) }], 3));
    take(voter);
    stepAll(voter, ...reqs.filter((m) => m.to === "c"));
    expect(take(voter, "vote-resp").map((m) => m.reject)).toEqual([true]);
  });
});
