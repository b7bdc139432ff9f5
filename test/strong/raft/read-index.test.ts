/**
 * Linearizable reads by ReadIndex (thesis 6.4) and lease reads (thesis 6.4.1).
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { seededRng } from "../../../src/rng.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import { asNodeId } from "../../../src/strong/raft/types.js";
import { bytes, TestCluster, text } from "./cluster.js";
import { ackAll, append, appendResp, drain, makeLeader, msg, solo, stepAll, take, ticks } from "./harness.js";

const ABC = ["a", "b", "c"];

describe("thesis 6.4: ReadIndex", () => {
  it("6.4 a leader serves a read at its commit index once a heartbeat round confirms it still leads", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.readIndex(bytes("r1"))).toEqual({ ok: true });
    const beats = take(s, "heartbeat");
    expect(beats.map((m) => m.to)).toEqual(["b", "c"]);
    const ctx = beats[0]?.context ?? null;
    expect(ctx).not.toBeNull();
    expect(s.readStates).toEqual([]);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: ctx }));
    expect(s.readStates.map((r) => [r.index, text(r.context)])).toEqual([[4, "r1"]]);
  });

  it("6.4 a leader that has not yet committed an entry of its term defers reads until it has", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("early"));
    drain(s);
    expect(take(s, "heartbeat").filter((m) => m.context !== null)).toEqual([]);
    // Acks of the no-op commit it: the deferred read starts its round, at the new commit index.
    stepAll(s, appendResp("b", "a", term, 4));
    const beats = take(s, "heartbeat").filter((m) => m.context !== null);
    expect(beats.length).toBe(2);
    expect(s.readStates).toEqual([]);
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: beats[0]?.context ?? null }));
    expect(s.readStates.map((r) => [r.index, text(r.context)])).toEqual([[4, "early"]]);
  });

  it("6.4 acknowledgements from less than a quorum of voters (or from a learner) do not release a read", () => {
    const s = solo("a", ["a", "b", "c", "d", "e"], { learners: ["l"] });
    const term = makeLeader(s, "a", ["b", "c", "d", "e"]);
    ackAll(s, "a", ["b", "c", "d", "e", "l"]);
    s.core.readIndex(bytes("r"));
    const ctx = take(s, "heartbeat")[0]?.context ?? null;
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: ctx }), msg("heartbeat-resp", "l", "a", term, { context: ctx }));
    expect(s.readStates).toEqual([]);
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: ctx }));
    expect(s.readStates.length).toBe(1);
  });

  it("6.4 an answer to a round that started before a read never confirms that read (it may predate a newer leader)", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("first"));
    const first = take(s, "heartbeat")[0]?.context ?? null;
    s.core.readIndex(bytes("second"));
    const second = take(s, "heartbeat")[0]?.context ?? null;
    expect(first).not.toEqual(second);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: first }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["first"]);
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: first }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["first"]);
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: second }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["first", "second"]);
  });

  it("6.4 an answer whose context is not one of this leader's read contexts (cut short, or with bytes after one) confirms nothing", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("r"));
    const ctx = take(s, "heartbeat")[0]?.context ?? new Uint8Array();
    expect(ctx.byteLength).toBe(8);
    const longer = new Uint8Array(12);
    longer.set(ctx);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: ctx.slice(0, 4) }), msg("heartbeat-resp", "b", "a", term, { context: longer }));
    expect(s.readStates).toEqual([]);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: ctx }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["r"]);
  });

  it("6.4 confirming a later read releases every earlier one, in order; equal contexts are distinct requests", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("same"));
    s.core.readIndex(bytes("same"));
    s.core.readIndex(bytes("third"));
    const ctxs = take(s, "heartbeat").map((m) => m.context);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: ctxs.at(-1) ?? null }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["same", "same", "third"]);
  });

  it("6.4 a periodic heartbeat carries the latest pending read, so a lost confirmation round is retried", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("r"));
    take(s);
    s.core.tick();
    const beats = take(s, "heartbeat");
    expect(beats.every((m) => m.context !== null)).toBe(true);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: beats[0]?.context ?? null }));
    expect(s.readStates.map((r) => text(r.context))).toEqual(["r"]);
  });

  it("6.4 a single-voter leader confirms reads by itself", () => {
    const s = solo("a", ["a"]);
    s.core.campaign();
    drain(s);
    expect(s.core.status().role).toBe("leader");
    s.core.readIndex(bytes("solo"));
    drain(s);
    expect(s.readStates.map((r) => [r.index, text(r.context)])).toEqual([[2, "solo"]]);
  });

  it("6.4 a follower forwards a read to the leader and gets a read point covering every write completed before", () => {
    const c = new TestCluster({ voters: ABC, seed: 6 });
    c.elect("a");
    c.propose("a", "w1");
    c.stabilize();
    const written = c.node("a").sm.appliedIndex;
    expect(c.core("c").readIndex(bytes("via-c"))).toEqual({ ok: true });
    c.stabilize();
    const [rs] = c.node("c").readStates;
    expect(rs && text(rs.context)).toBe("via-c");
    expect(rs?.index).toBeGreaterThanOrEqual(written);
    expect(c.node("c").sm.appliedIndex).toBeGreaterThanOrEqual(rs?.index ?? Infinity);
    expect(c.sent.filter((m) => m.type === "read-index").map((m) => [m.from, m.to, m.term])).toEqual([["c", "a", 0]]);
    expect(c.sent.filter((m) => m.type === "read-index-resp").map((m) => [m.from, m.to])).toEqual([["a", "c"]]);
  });

  it("6.4 a leader that is deposed before confirmation never answers its pending reads", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("r"));
    const ctx = take(s, "heartbeat")[0]?.context ?? null;
    stepAll(s, append("b", "a", term + 1, 4, term, [], 4));
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: ctx }));
    expect(s.core.status().role).toBe("follower");
    expect(s.readStates).toEqual([]);
  });

  it("6.4 a minority partition never serves a read: the isolated leader's round never completes", () => {
    const c = new TestCluster({ voters: ABC, seed: 6 });
    c.elect("a");
    c.isolate("a");
    c.core("a").readIndex(bytes("stale?"));
    c.tickAll(30);
    expect(c.node("a").readStates).toEqual([]);
  });
});

describe("thesis 6.4.1: lease reads", () => {
  it("6.4.1 readOnly 'lease' without check-quorum is refused with InvalidArgument", () => {
    const make = (): unknown =>
      createRaft({
        id: asNodeId("a"),
        storage: MemoryRaftStorage.bootstrap({ voters: [asNodeId("a")], learners: [] }),
        rng: seededRng(1),
        electionTicks: 10,
        heartbeatTicks: 1,
        readOnly: "lease",
        checkQuorum: false,
      });
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(isConcordError(err, "InvalidArgument")).toBe(true);
    expect(String((err as Error).message)).toMatch(/lease.*checkQuorum/);
  });

  it("6.4.1 with a lease the leader answers at once only while a quorum answered a heartbeat round sent within the lease", () => {
    const s = solo("a", ABC, { config: { readOnly: "lease" } });
    const term = makeLeader(s, "a", ["b", "c"]);
    s.core.readIndex(bytes("early"));
    drain(s);
    expect(s.readStates).toEqual([]); // no entry of its term committed yet
    ackAll(s, "a", ["b", "c"]);
    expect(s.readStates).toEqual([]); // committed, but no round answered yet: no lease
    ticks(s, 1);
    const round = take(s, "heartbeat")[0]?.context ?? null;
    expect(round).not.toBeNull();
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: round }));
    expect(s.readStates.map((r) => [r.index, text(r.context)])).toEqual([[4, "early"]]);
    s.core.readIndex(bytes("now"));
    drain(s);
    expect(s.readStates.map((r) => text(r.context))).toEqual(["early", "now"]); // inside the lease: at once
    // Nobody answers for an election timeout (minus the margin tick): the lease has run out, even
    // though check-quorum has not looked yet. A read now needs a round of its own.
    ticks(s, 9);
    take(s);
    s.core.readIndex(bytes("late"));
    drain(s);
    expect(s.readStates.map((r) => text(r.context))).toEqual(["early", "now"]);
    expect(take(s, "heartbeat").filter((m) => m.context !== null).length).toBeGreaterThan(0);
  });

  it("6.4.1 a round nobody answered gives no lease, not even the first round of a leadership", () => {
    const s = solo("a", ABC, { config: { readOnly: "lease" } });
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    ticks(s, 1);
    expect(take(s, "heartbeat").some((m) => m.context !== null)).toBe(true);
    s.core.readIndex(bytes("unconfirmed"));
    drain(s);
    expect(s.readStates).toEqual([]);
  });

  it("6.4.1 during a leadership transfer a lease read falls back to a heartbeat round", () => {
    const s = solo("a", ABC, { config: { readOnly: "lease" } });
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    // A valid lease first: a quorum answered a round, so a read now would be answered at once.
    ticks(s, 1);
    const round = take(s, "heartbeat")[0]?.context ?? null;
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: round }));
    s.core.readIndex(bytes("leased"));
    drain(s);
    expect(s.readStates.map((r) => text(r.context))).toEqual(["leased"]);
    s.readStates = [];
    s.core.transferLeadership(asNodeId("b"));
    take(s);
    s.core.readIndex(bytes("r"));
    drain(s);
    expect(s.readStates).toEqual([]);
    const ctx = take(s, "heartbeat")[0]?.context ?? null;
    stepAll(s, msg("heartbeat-resp", "c", "a", term, { context: ctx }));
    expect(s.readStates.length).toBe(1);
  });
});
