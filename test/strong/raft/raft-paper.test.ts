/**
 * Conformance to the Raft paper (Ongaro & Ousterhout 2014), sections 5 and 8: one test per rule,
 * the section in its name. Modeled on etcd-raft's raft_paper_test.go. Founding members start from
 * the bootstrap log (one committed conf-change entry per voter at term 1: indexes 1..n).
 */
import { describe, expect, it } from "vitest";
import { seededRng } from "../../../src/rng.js";
import { asIndex } from "../../../src/strong/raft/types.js";
import { bytes, describeEntry, TestCluster, text } from "./cluster.js";
import {
  ackAll,
  append,
  appendResp,
  drain,
  entry,
  makeLeader,
  msg,
  solo,
  stepAll,
  storageWithLog,
  storedTerms,
  take,
  tickUntil,
  ticks,
  voteReq,
  voteResp,
} from "./harness.js";

const ABC = ["a", "b", "c"];

describe("paper 5.1: terms", () => {
  it("5.1 a follower, candidate or leader that sees a higher term adopts it and becomes a follower", () => {
    for (const role of ["follower", "candidate", "leader"] as const) {
      const s = solo("a", ABC, { config: { preVote: false } });
      if (role === "candidate") {
        s.core.campaign();
        drain(s);
      }
      if (role === "leader") makeLeader(s, "a", ["b", "c"]);
      expect(s.core.status().role).toBe(role);
      stepAll(s, append("b", "a", 10, 0, 0, [], 0));
      const st = s.core.status();
      expect([role, st.role, st.term, st.leader]).toEqual([role, "follower", 10, "b"]);
    }
  });

  it("5.1 a server rejects a request with a stale term and answers with its current term", () => {
    const s = solo("a", ABC, { storage: storageWithLog(ABC, [], 3) });
    stepAll(s, append("b", "a", 2, 3, 1, [entry(4, 2)], 4));
    expect(s.core.status().lastIndex).toBe(3);
    expect(s.core.status().term).toBe(3);
    const resps = take(s, "append-resp");
    expect(resps.map((m) => m.term)).toEqual([3]);
    stepAll(s, voteReq("vote", "b", "a", 2, 100, 2));
    expect(s.core.status().vote).toBe(null);
    expect(take(s, "vote-resp")).toEqual([]);
  });
});

describe("paper 5.2: leader election", () => {
  it("5.2 servers start as followers without a known leader", () => {
    const s = solo("a", ABC);
    expect(s.core.status()).toMatchObject({ role: "follower", leader: null, term: 1 });
  });

  it("5.2 a leader sends heartbeats to every follower each heartbeat interval", () => {
    const s = solo("a", ABC, { config: { heartbeatTicks: 2 } });
    makeLeader(s, "a", ["b", "c"]);
    ticks(s, 1);
    expect(take(s, "heartbeat")).toEqual([]);
    ticks(s, 1);
    const beats = take(s, "heartbeat");
    expect(beats.map((m) => [m.to, m.term])).toEqual([
      ["b", 2],
      ["c", 2],
    ]);
    // A follower's commit index is only ever raised to what it is known to hold.
    expect(beats.every((m) => m.commit === 0)).toBe(true);
  });

  it("5.2 a follower that hears no leader for an election timeout starts an election: new term, own vote, a request to every voter", () => {
    const s = solo("a", ABC, { config: { preVote: false } });
    const t = tickUntil(s, () => s.core.status().role !== "follower");
    expect(t).toBeGreaterThanOrEqual(10);
    const st = s.core.status();
    expect([st.role, st.term, st.vote]).toEqual(["candidate", 2, "a"]);
    const withVotes = s.readies.find((rd) => rd.messages.some((m) => m.type === "vote"));
    // The vote for itself is durable before any request leaves (persist BEFORE send).
    expect(withVotes?.hardState).toMatchObject({ term: 2, vote: "a" });
    expect(withVotes?.mustSync).toBe(true);
    const reqs = take(s, "vote");
    expect(reqs.map((m) => [m.to, m.term, m.lastIndex, m.lastTerm])).toEqual([
      ["b", 2, 3, 1],
      ["c", 2, 3, 1],
    ]);
  });

  it("5.2 a candidate whose election times out starts a new election in a higher term", () => {
    const s = solo("a", ABC, { config: { preVote: false } });
    tickUntil(s, () => s.core.status().role === "candidate");
    expect(s.core.status().term).toBe(2);
    take(s);
    const t = tickUntil(s, () => s.core.status().term === 3);
    expect(t).toBeGreaterThanOrEqual(10);
    expect(s.core.status()).toMatchObject({ role: "candidate", term: 3, vote: "a" });
    expect(take(s, "vote").map((m) => m.term)).toEqual([3, 3]);
  });

  it("5.2 a candidate wins with a majority of votes, loses to a majority of rejections, and waits otherwise", () => {
    const cases: { size: number; votes: Record<string, boolean>; role: string }[] = [
      { size: 1, votes: {}, role: "leader" },
      { size: 3, votes: { b: true, c: true }, role: "leader" },
      { size: 3, votes: { b: true }, role: "leader" },
      { size: 5, votes: { b: true, c: true, d: true, e: true }, role: "leader" },
      { size: 5, votes: { b: true, c: true, d: true }, role: "leader" },
      { size: 5, votes: { b: true, c: true }, role: "leader" },
      { size: 3, votes: { b: false, c: false }, role: "follower" },
      { size: 5, votes: { b: false, c: false, d: false }, role: "follower" },
      { size: 5, votes: { b: true, c: false, d: false, e: false }, role: "follower" },
      { size: 3, votes: {}, role: "candidate" },
      { size: 5, votes: { b: true }, role: "candidate" },
      { size: 5, votes: { b: false, c: false }, role: "candidate" },
    ];
    for (const tc of cases) {
      const ids = ["a", "b", "c", "d", "e"].slice(0, tc.size);
      const s = solo("a", ids, { config: { preVote: false } });
      s.core.campaign();
      drain(s);
      for (const [from, granted] of Object.entries(tc.votes)) s.core.step(voteResp("vote-resp", from, "a", 2, !granted));
      drain(s);
      expect([tc.size, tc.votes, s.core.status().role]).toEqual([tc.size, tc.votes, tc.role]);
      expect(s.core.status().term).toBe(2);
    }
  });

  it("5.2 a voter grants at most one vote per term, first come first served", () => {
    const cases: { vote: string | null; from: string; reject: boolean }[] = [
      { vote: null, from: "b", reject: false },
      { vote: null, from: "c", reject: false },
      { vote: "b", from: "b", reject: false },
      { vote: "c", from: "c", reject: false },
      { vote: "b", from: "c", reject: true },
      { vote: "c", from: "b", reject: true },
    ];
    for (const tc of cases) {
      const s = solo("a", ABC, { storage: storageWithLog(ABC, [], 2, tc.vote) });
      stepAll(s, voteReq("vote", tc.from, "a", 2, 3, 1));
      const resp = take(s, "vote-resp");
      expect([tc, resp.map((m) => [m.to, m.reject])]).toEqual([tc, [[tc.from, tc.reject]]]);
      expect(s.core.status().vote).toBe(tc.reject ? tc.vote : tc.from);
    }
  });

  it("5.2 a candidate that hears from a leader of its own or a later term becomes its follower", () => {
    for (const term of [2, 3]) {
      const s = solo("a", ABC, { config: { preVote: false } });
      s.core.campaign();
      drain(s);
      expect(s.core.status().role).toBe("candidate");
      stepAll(s, append("b", "a", term, 3, 1, [], 3));
      expect(s.core.status()).toMatchObject({ role: "follower", term, leader: "b" });
    }
  });

  it("5.2 election timeouts are randomized over [electionTicks, 2 * electionTicks)", () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 200; seed++) {
      const s = solo("a", ABC, { seed, config: { preVote: false } });
      let t = 0;
      while (s.core.status().role === "follower") {
        s.core.tick();
        t++;
      }
      expect(t).toBeGreaterThanOrEqual(10);
      expect(t).toBeLessThan(20);
      seen.add(t);
    }
    expect(seen.size).toBe(10);
  });

  it("5.2 randomized timeouts make two followers rarely time out in the same tick", () => {
    const rng = seededRng(42);
    let conflicts = 0;
    const trials = 500;
    for (let i = 0; i < trials; i++) {
      const timeouts = ["a", "b"].map((id) => {
        const s = solo(id, ABC, { seed: rng.uint32(), config: { preVote: false } });
        let t = 0;
        while (s.core.status().role === "follower") {
          s.core.tick();
          t++;
        }
        return t;
      });
      if (timeouts[0] === timeouts[1]) conflicts++;
    }
    expect(conflicts / trials).toBeLessThan(0.2);
  });

  it("5.2 split votes are resolved by new elections, with at most one leader per term", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = new TestCluster({ voters: ["a", "b", "c", "d", "e"], seed, config: { preVote: false } });
      // Everyone campaigns at once: votes split, terms collide; timeouts must sort it out.
      for (const id of c.ids()) c.core(id).campaign();
      c.stabilize();
      c.tickUntil(() => c.leader() !== null, 500);
      c.assertSafety();
      const leader = c.leader();
      c.propose(leader ?? "a", `v${seed}`);
      c.stabilize();
      for (const id of c.ids()) expect(c.appliedData(id)).toEqual([`v${seed}`]);
    }
  });
});

describe("paper 5.3: log replication", () => {
  it("5.3 a leader appends a proposal to its log and sends it to every follower", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.propose(bytes("x"))).toEqual({ ok: true });
    const apps = take(s, "append");
    expect(apps.map((m) => [m.to, m.prevIndex, m.prevTerm, m.entries.map(describeEntry)])).toEqual([
      ["b", 4, term, [`5@${term} normal x`]],
      ["c", 4, term, [`5@${term} normal x`]],
    ]);
    expect(storedTerms(s.storage)).toEqual([1, 1, 1, term, term]);
  });

  it("5.3 a leader commits an entry once a majority durably holds it, then tells the followers", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.propose(bytes("x"));
    take(s);
    expect(s.core.status().commit).toBe(4);
    stepAll(s, appendResp("b", "a", term, 5));
    expect(s.core.status().commit).toBe(5);
    expect(s.committed.map(describeEntry).at(-1)).toBe(`5@${term} normal x`);
    const apps = take(s, "append");
    expect(apps.map((m) => [m.to, m.commit])).toEqual([
      ["b", 5],
      ["c", 5],
    ]);
  });

  it("5.3 acknowledgements from a majority (the leader's own durable copy included) commit, fewer do not", () => {
    const cases: { size: number; acks: string[]; commit: boolean }[] = [
      { size: 1, acks: [], commit: true },
      { size: 3, acks: [], commit: false },
      { size: 3, acks: ["b"], commit: true },
      { size: 3, acks: ["b", "c"], commit: true },
      { size: 5, acks: [], commit: false },
      { size: 5, acks: ["b"], commit: false },
      { size: 5, acks: ["b", "c"], commit: true },
      { size: 5, acks: ["b", "c", "d", "e"], commit: true },
    ];
    for (const tc of cases) {
      const ids = ["a", "b", "c", "d", "e"].slice(0, tc.size);
      const peers = ids.slice(1);
      const s = solo("a", ids);
      const term = makeLeader(s, "a", peers);
      ackAll(s, "a", peers);
      s.core.propose(bytes("x"));
      drain(s);
      const last = s.core.status().lastIndex;
      for (const p of tc.acks) s.core.step(appendResp(p, "a", term, last));
      drain(s);
      expect([tc, s.core.status().commit === last]).toEqual([tc, tc.commit]);
    }
  });

  it("5.3 committing an entry commits every entry before it, including entries of earlier terms", () => {
    const s = solo("a", ABC, { storage: storageWithLog(ABC, [2, 2], 2) });
    const term = makeLeader(s, "a", ["b", "c"]);
    s.core.propose(bytes("x"));
    drain(s);
    const last = s.core.status().lastIndex;
    stepAll(s, appendResp("b", "a", term, last));
    expect(s.core.status().commit).toBe(last);
    expect(s.committed.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 2],
      [5, 2],
      [6, term],
      [7, term],
    ]);
  });

  it("5.3 a follower applies entries once it learns they are committed, never beyond what the leader showed it", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [entry(4, 2), entry(5, 2)], 4));
    expect(s.committed.map((e) => e.index)).toEqual([1, 2, 3, 4]);
    // A commit index beyond the entries this append vouches for is capped at the last of them.
    stepAll(s, append("a", "b", 2, 3, 1, [entry(4, 2)], 5));
    expect(s.core.status().commit).toBe(4);
    stepAll(s, append("a", "b", 2, 5, 2, [], 5));
    expect(s.committed.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
  });

  it("5.3 a follower rejects an append whose previous entry it does not hold, with a hint", () => {
    // Follower log: 1..3 @1, 4..5 @2.
    const cases: { prevIndex: number; prevTerm: number; reject: boolean; index: number; hintIndex?: number; hintTerm?: number }[] = [
      { prevIndex: 0, prevTerm: 0, reject: false, index: 3 }, // below our commit: answered with it
      { prevIndex: 5, prevTerm: 2, reject: false, index: 5 },
      { prevIndex: 4, prevTerm: 2, reject: false, index: 4 },
      { prevIndex: 5, prevTerm: 3, reject: true, index: 5, hintIndex: 5, hintTerm: 2 },
      { prevIndex: 7, prevTerm: 3, reject: true, index: 7, hintIndex: 5, hintTerm: 2 },
      { prevIndex: 5, prevTerm: 1, reject: true, index: 5, hintIndex: 3, hintTerm: 1 },
    ];
    for (const tc of cases) {
      const s = solo("b", ABC, { storage: storageWithLog(ABC, [2, 2], 2) });
      stepAll(s, append("a", "b", 3, tc.prevIndex, tc.prevTerm, [], 3));
      const [resp] = take(s, "append-resp");
      expect([tc, resp?.reject, resp?.index]).toEqual([tc, tc.reject, tc.index]);
      if (tc.reject) expect([resp?.hintIndex, resp?.hintTerm]).toEqual([tc.hintIndex, tc.hintTerm]);
    }
  });

  it("5.3 a follower deletes a conflicting entry and everything after it, then appends the new entries", () => {
    // Follower log: 1..3 @1, 4 @1 ("old4"), 5 @2 ("old5").
    const cases: { prevIndex: number; prevTerm: number; entries: [number, number][]; want: number[] }[] = [
      { prevIndex: 5, prevTerm: 2, entries: [[6, 3]], want: [1, 1, 1, 1, 2, 3] },
      { prevIndex: 4, prevTerm: 1, entries: [[5, 3], [6, 4]], want: [1, 1, 1, 1, 3, 4] },
      { prevIndex: 3, prevTerm: 1, entries: [[4, 1]], want: [1, 1, 1, 1, 2] },
      { prevIndex: 3, prevTerm: 1, entries: [[4, 3]], want: [1, 1, 1, 3] },
    ];
    for (const tc of cases) {
      const storage = storageWithLog(ABC, [1, 2], 2);
      const s = solo("b", ABC, { storage });
      stepAll(s, append("a", "b", 4, tc.prevIndex, tc.prevTerm, tc.entries.map(([i, t]) => entry(i, t)), 3));
      expect([tc, storedTerms(storage)]).toEqual([tc, tc.want]);
      expect(s.core.status().lastIndex).toBe(tc.want.length);
    }
  });

  it("5.3 a leader brings every kind of divergent follower log (figure 7) into agreement with its own", () => {
    const leaderLog = [4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, number[]> = {
      a: [4, 4, 5, 5, 6, 6],
      b: [4],
      c: [4, 4, 5, 5, 6, 6, 6, 6],
      d: [4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [4, 4, 4, 4],
      f: [2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, log] of Object.entries(followers)) {
      const c = new TestCluster({ voters: ["l", "x", "f"], seed: 3 });
      // Rebuild each server with the figure's log: l leads with leaderLog, x agrees with l, f diverges.
      for (const [id, terms] of [
        ["l", leaderLog],
        ["x", leaderLog],
        ["f", log],
      ] as const) {
        const n = c.node(id);
        const fresh = storageWithLog(["f", "l", "x"], terms, 7);
        n.storage.append(
          (() => {
            const got = fresh.entries(asIndex(1), asIndex(fresh.lastIndex() + 1), Number.POSITIVE_INFINITY);
            if (typeof got === "string") throw new Error(got);
            return [...got];
          })(),
        );
        n.storage.setHardState(fresh.hardState());
        c.restart(id);
      }
      c.elect("l");
      c.propose("l", "after");
      c.stabilize();
      const want = storedTerms(c.node("l").storage);
      expect([name, storedTerms(c.node("f").storage)]).toEqual([name, want]);
      expect(c.core("f").status().commit).toBe(want.length);
      c.assertSafety();
    }
  });
});

describe("paper 5.4: safety", () => {
  it("5.4.1 a candidate's vote request carries the index and term of its last log entry", () => {
    const s = solo("a", ABC, { storage: storageWithLog(ABC, [2, 3], 3), config: { preVote: false } });
    s.core.campaign();
    const reqs = take(s, "vote");
    expect(reqs.map((m) => [m.to, m.term, m.lastIndex, m.lastTerm])).toEqual([
      ["b", 4, 5, 3],
      ["c", 4, 5, 3],
    ]);
  });

  it("5.4.1 a voter denies its vote to a candidate whose log is less up-to-date", () => {
    // Voter log: 1..3 @1, 4 @2.
    const cases: { lastIndex: number; lastTerm: number; granted: boolean }[] = [
      { lastIndex: 4, lastTerm: 2, granted: true },
      { lastIndex: 5, lastTerm: 2, granted: true },
      { lastIndex: 3, lastTerm: 2, granted: false },
      { lastIndex: 10, lastTerm: 1, granted: false },
      { lastIndex: 1, lastTerm: 3, granted: true },
    ];
    for (const tc of cases) {
      for (const type of ["vote", "pre-vote"] as const) {
        const s = solo("a", ABC, { storage: storageWithLog(ABC, [2], 2) });
        stepAll(s, voteReq(type, "b", "a", 3, tc.lastIndex, tc.lastTerm));
        const resp = take(s, type === "vote" ? "vote-resp" : "pre-vote-resp");
        expect([tc, type, resp.map((m) => !m.reject)]).toEqual([tc, type, [tc.granted]]);
      }
    }
  });

  it("5.4.2 a leader never commits an entry of an earlier term by counting replicas, only through an entry of its own term", () => {
    const s = solo("a", ABC, { storage: storageWithLog(ABC, [2, 2], 2) });
    const term = makeLeader(s, "a", ["b", "c"]);
    expect(term).toBe(3);
    // b holds the term-2 entries (4, 5) but not yet our no-op (6): a majority holds 5, still not committed.
    stepAll(s, appendResp("b", "a", term, 5));
    expect(s.core.status().commit).toBe(3);
    expect(s.committed.map((e) => e.index)).toEqual([1, 2, 3]);
    stepAll(s, appendResp("b", "a", term, 6));
    expect(s.core.status().commit).toBe(6);
    expect(s.committed.map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("5.4.2 a leader counts its own copy only once it is durable", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.propose(bytes("x"));
    // Not yet handed out: b's ack alone is not a majority while our own copy is not persisted.
    s.core.step(appendResp("b", "a", term, 5));
    expect(s.core.status().commit).toBe(4);
    const rd = s.core.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([5]);
    expect(rd.committed.map((e) => e.index)).toEqual([]);
    s.storage.append(rd.entries);
    s.core.advance(rd);
    expect(s.core.status().commit).toBe(5);
  });

  it("5.4.3 state machine safety: servers apply the same entry at each index across crashes and partitions", () => {
    const c = new TestCluster({ voters: ["a", "b", "c", "d", "e"], seed: 11 });
    c.elect("a");
    c.propose("a", "1");
    c.stabilize();
    const heal = c.partition(["a", "b"], ["c", "d", "e"]);
    c.propose("a", "lost-on-minority");
    c.tickUntil(() => c.leader() !== null && c.leader() !== "a", 200);
    const newLeader = c.leader() ?? "c";
    c.propose(newLeader, "2");
    c.stabilize();
    heal();
    c.tickAll(30);
    c.propose(c.leader() ?? newLeader, "3");
    c.stabilize();
    for (const id of c.ids()) expect(c.appliedData(id)).toEqual(["1", "2", "3"]);
    c.assertSafety();
  });
});

describe("paper 5.5 and 8", () => {
  it("5.5 appends are idempotent: a duplicate changes nothing and is acknowledged again", () => {
    const s = solo("b", ABC);
    const m = append("a", "b", 2, 3, 1, [entry(4, 2), entry(5, 2)], 5);
    stepAll(s, m);
    const before = storedTerms(s.storage);
    const committed = s.committed.length;
    take(s);
    stepAll(s, m);
    expect(storedTerms(s.storage)).toEqual(before);
    expect(s.committed.length).toBe(committed);
    expect(take(s, "append-resp").map((r) => [r.reject, r.index])).toEqual([[false, 5]]);
  });

  it("8 a new leader appends a no-op entry of its term first, and replicates it", () => {
    const s = solo("a", ABC);
    s.core.campaign();
    drain(s);
    s.core.step(voteResp("pre-vote-resp", "b", "a", 2));
    drain(s);
    s.core.step(voteResp("vote-resp", "b", "a", 2));
    drain(s);
    expect(s.core.status().role).toBe("leader");
    const last = s.readies.flatMap((rd) => rd.entries).at(-1);
    expect(last).toEqual({ kind: "noop", term: 2, index: 4 });
    const apps = take(s, "append");
    expect(apps.every((m) => m.entries.some((e) => e.kind === "noop" && e.term === 2))).toBe(true);
  });

  it("8 a forwarded client command carries no term and is appended by the leader of the moment", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    stepAll(s, msg("propose", "b", "a", 0, { proposals: [{ kind: "normal", data: bytes("fwd") }] }));
    const last = s.readies.flatMap((rd) => rd.entries).at(-1);
    expect(last?.kind === "normal" ? [last.term, text(last.data)] : null).toEqual([term, "fwd"]);
    expect(take(s, "append").map((m) => m.entries.map(describeEntry))).toEqual([[`5@${term} normal fwd`], [`5@${term} normal fwd`]]);
  });
});
