/**
 * Elections beyond the paper: pre-vote (thesis 9.6), check-quorum (thesis 6.2) and the leader lease
 * that protects a live leader from disruptive vote requests (thesis 4.2.3).
 */
import { describe, expect, it } from "vitest";
import { TestCluster } from "./cluster.js";
import { append, drain, makeLeader, msg, solo, stepAll, take, ticks, voteReq, voteResp } from "./harness.js";
import { asIndex, asTerm } from "../../../src/strong/raft/types.js";

const ABC = ["a", "b", "c"];

describe("thesis 9.6: pre-vote", () => {
  it("9.6 a pre-candidate keeps its term and vote, asks about the next term, and campaigns only after a majority of pre-votes", () => {
    const s = solo("a", ABC);
    s.core.campaign();
    drain(s);
    expect(s.core.status()).toMatchObject({ role: "pre-candidate", term: 1, vote: null });
    // Nothing durable changed: no hard state to persist for a pre-vote round.
    expect(s.hardStates.filter((h) => h.term !== 1 || h.vote !== null)).toEqual([]);
    const pre = take(s, "pre-vote");
    expect(pre.map((m) => [m.to, m.term])).toEqual([
      ["b", 2],
      ["c", 2],
    ]);
    stepAll(s, voteResp("pre-vote-resp", "b", "a", 2));
    expect(s.core.status()).toMatchObject({ role: "candidate", term: 2, vote: "a" });
    expect(take(s, "vote").map((m) => [m.to, m.term])).toEqual([
      ["b", 2],
      ["c", 2],
    ]);
  });

  it("9.6 a pre-vote changes nothing at the voter, granted or not", () => {
    const s = solo("b", ABC);
    stepAll(s, voteReq("pre-vote", "a", "b", 5, 3, 1));
    expect(take(s, "pre-vote-resp").map((m) => [m.term, m.reject])).toEqual([[5, false]]);
    expect(s.core.status()).toMatchObject({ term: 1, vote: null, role: "follower" });
  });

  it("9.6 a pre-candidate rejected at a higher term becomes a follower of that term", () => {
    const s = solo("a", ABC);
    s.core.campaign();
    drain(s);
    stepAll(s, voteResp("pre-vote-resp", "b", "a", 7, true));
    expect(s.core.status()).toMatchObject({ role: "follower", term: 7 });
  });

  it("9.6 a pre-candidate that loses the pre-vote returns to follower without changing its term", () => {
    const s = solo("a", ABC);
    s.core.campaign();
    drain(s);
    stepAll(s, voteResp("pre-vote-resp", "b", "a", 1, true), voteResp("pre-vote-resp", "c", "a", 1, true));
    expect(s.core.status()).toMatchObject({ role: "follower", term: 1, vote: null });
  });

  it("9.6 a partitioned server that rejoins does not disrupt the leader", () => {
    const c = new TestCluster({ voters: ABC, seed: 5 });
    c.elect("a");
    const term = c.core("a").status().term;
    const heal = c.isolate("c");
    c.tickAll(100);
    // Alone, c kept failing pre-votes: its term never moved.
    expect(c.core("c").status().term).toBe(term);
    heal();
    c.tickAll(30);
    expect(c.leader()).toBe("a");
    expect(c.core("a").status().term).toBe(term);
    expect(c.core("c").status()).toMatchObject({ role: "follower", leader: "a", term });
    c.assertSafety();
  });

  it("9.6 without pre-vote the same rejoining server forces a new term (the disruption pre-vote prevents)", () => {
    const c = new TestCluster({ voters: ABC, seed: 5, config: { preVote: false } });
    c.elect("a");
    const term = c.core("a").status().term;
    const heal = c.isolate("c");
    c.tickAll(100);
    expect(c.core("c").status().term).toBeGreaterThan(term + 3);
    heal();
    c.tickAll(60);
    const leader = c.leader();
    expect(leader).not.toBeNull();
    expect(c.core(leader ?? "a").status().term).toBeGreaterThan(term + 3);
    c.assertSafety();
  });
});

describe("thesis 6.2 and 4.2.3: check-quorum and the leader lease", () => {
  it("6.2 a leader that hears from no quorum for an election timeout steps down", () => {
    const c = new TestCluster({ voters: ABC, seed: 2 });
    c.elect("a");
    c.isolate("a");
    for (let i = 0; i < 25; i++) c.tick("a");
    expect(c.core("a").status()).toMatchObject({ role: "follower", leader: null });
  });

  it("6.2 a leader that hears from a quorum keeps leading (one silent follower is not enough to step down)", () => {
    const c = new TestCluster({ voters: ABC, seed: 2 });
    c.elect("a");
    const term = c.core("a").status().term;
    c.crash("c");
    c.tickAll(100);
    // Counting itself and b, a had a quorum all along: same term, never a step down and re-election.
    expect(c.core("a").status()).toMatchObject({ role: "leader", term });
  });

  it("6.2 without check-quorum an isolated leader keeps believing it leads", () => {
    const c = new TestCluster({ voters: ABC, seed: 2, config: { checkQuorum: false } });
    c.elect("a");
    c.isolate("a");
    for (let i = 0; i < 50; i++) c.tick("a");
    expect(c.core("a").status().role).toBe("leader");
  });

  it("4.2.3 a server that heard from its leader within the election timeout ignores vote requests of a higher term", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    take(s);
    for (const type of ["vote", "pre-vote"] as const) {
      stepAll(s, voteReq(type, "c", "b", 3, 100, 2));
      expect([type, take(s)]).toEqual([type, []]);
    }
    expect(s.core.status()).toMatchObject({ term: 2, leader: "a", vote: null });
    // Once the leader has been silent for an election timeout, the lease is over.
    ticks(s, 10);
    stepAll(s, voteReq("vote", "c", "b", 3, 100, 2));
    expect(take(s, "vote-resp").map((m) => [m.term, m.reject])).toEqual([[3, false]]);
  });

  it("forgetLeader: a follower that forgot its leader grants pre-votes and votes at once, and takes the leader back when it hears it", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    take(s);
    expect(s.core.forgetLeader()).toBe(true);
    drain(s);
    expect(s.core.status()).toMatchObject({ role: "follower", term: 2, leader: null });
    stepAll(s, voteReq("pre-vote", "c", "b", 3, 3, 1));
    expect(take(s, "pre-vote-resp").map((m) => [m.term, m.reject])).toEqual([[3, false]]);
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    expect(s.core.status()).toMatchObject({ role: "follower", term: 2, leader: "a" });
  });

  it("forgetLeader does nothing to a leader, to a follower that knows no leader, and with lease reads (its lease would break)", () => {
    const leader = solo("a", ABC);
    makeLeader(leader, "a", ["b", "c"]);
    expect(leader.core.forgetLeader()).toBe(false);
    expect(leader.core.status()).toMatchObject({ role: "leader", leader: "a" });
    expect(solo("b", ABC).core.forgetLeader()).toBe(false);
    const leased = solo("b", ABC, { config: { readOnly: "lease" } });
    stepAll(leased, append("a", "b", 2, 3, 1, [], 3));
    take(leased);
    expect(leased.core.forgetLeader()).toBe(false);
    stepAll(leased, voteReq("pre-vote", "c", "b", 3, 3, 1));
    expect(take(leased)).toEqual([]);
    expect(leased.core.status()).toMatchObject({ leader: "a" });
  });

  it("4.2.3 a leader ignores a higher-term vote request while its lease holds", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    stepAll(s, voteReq("vote", "c", "a", term + 1, 100, term));
    expect(s.core.status()).toMatchObject({ role: "leader", term });
    expect(take(s, "vote-resp")).toEqual([]);
  });

  it("3.10 a vote request sent for a leadership transfer bypasses the lease", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    take(s);
    stepAll(s, voteReq("vote", "c", "b", 3, 3, 1, true));
    expect(take(s, "vote-resp").map((m) => [m.term, m.reject])).toEqual([[3, false]]);
    expect(s.core.status()).toMatchObject({ term: 3, vote: "c" });
  });

  it("6.2 a server answers a stale leader's append with its higher term, which deposes that leader", () => {
    const s = solo("b", ABC, { config: {} });
    stepAll(s, append("c", "b", 5, 3, 1, [], 3));
    take(s);
    stepAll(s, append("a", "b", 2, 3, 1, [], 3));
    const resp = take(s, "append-resp");
    expect(resp.map((m) => [m.to, m.term])).toEqual([["a", 5]]);
    const leader = solo("a", ABC);
    makeLeader(leader, "a", ["b", "c"]);
    stepAll(leader, ...resp);
    expect(leader.core.status()).toMatchObject({ role: "follower", term: 5 });
  });

  it("5.2 a learner never campaigns, however long it hears nothing", () => {
    const s = solo("l", ABC, { learners: ["l"] });
    ticks(s, 200);
    expect(s.core.status()).toMatchObject({ role: "follower", term: 1 });
    s.core.campaign();
    drain(s);
    expect(s.core.status().role).toBe("follower");
    expect(take(s)).toEqual([]);
  });

  it("5.2 one leader per term under repeated random partitions", () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = new TestCluster({ voters: ["a", "b", "c", "d", "e"], seed });
      const rng = c.node("a").rng.fork();
      for (let round = 0; round < 15; round++) {
        const ids = c.ids();
        const cut = rng.int(1, 3);
        const shuffled = [...ids].sort(() => rng.next() - 0.5);
        c.heal();
        c.partition(shuffled.slice(0, cut), shuffled.slice(cut));
        const leader = c.leader();
        if (leader !== null) c.core(leader).propose(new TextEncoder().encode(`${seed}-${round}`));
        c.tickAll(rng.int(5, 30));
      }
      c.heal();
      c.tickUntil(() => c.leader() !== null, 300);
      c.propose(c.leader() ?? "a", "final");
      c.stabilize();
      c.tickAll(5);
      c.assertSafety();
      const data = c.appliedData(c.leader() ?? "a");
      for (const id of c.ids()) expect(c.appliedData(id)).toEqual(data);
      expect(data.at(-1)).toBe("final");
    }
  });

  it("5.1 a message to another server, from oneself or with nonsense content is dropped without effect", () => {
    const s = solo("b", ABC);
    stepAll(
      s,
      append("a", "x", 9, 3, 1, [], 3),
      append("b", "b", 9, 3, 1, [], 3),
      msg("append", "a", "b", 9, { prevIndex: asIndex(-1), prevTerm: asTerm(1), entries: [], commit: asIndex(3) }),
    );
    expect(s.core.status()).toMatchObject({ term: 1, leader: null });
    expect(take(s)).toEqual([]);
  });
});
