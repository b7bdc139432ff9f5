/**
 * Restarting from storage, config validation, the Ready/advance contract, and determinism.
 */
import { describe, expect, it } from "vitest";
import { InvariantError, isConcordError } from "../../../src/errors.js";
import { seededRng } from "../../../src/rng.js";
import type { RaftConfig } from "../../../src/strong/raft/config.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import { asIndex, asNodeId, entryPayloadSize } from "../../../src/strong/raft/types.js";
import { bytes, TestCluster } from "./cluster.js";
import { appendResp, drain, makeLeader, solo, stepAll, storageWithLog, take, voteReq } from "./harness.js";

const ABC = ["a", "b", "c"];

describe("restart from storage", () => {
  it("term, vote, log and commit index come back from storage", () => {
    const c = new TestCluster({ voters: ABC, seed: 30 });
    c.elect("a");
    c.propose("a", "x");
    c.stabilize();
    const before = c.core("a").status();
    c.crash("a");
    c.restart("a");
    const after = c.core("a").status();
    expect([after.role, after.term, after.vote, after.lastIndex, after.commit]).toEqual(["follower", before.term, before.vote, before.lastIndex, before.commit]);
    c.tickUntil(() => c.leader() !== null, 300);
    c.propose(c.leader() ?? "a", "y");
    c.stabilize();
    expect(c.appliedData("a")).toEqual(["x", "y"]);
  });

  it("committed entries after `applied` are handed out again, and only those", () => {
    const storage = storageWithLog(ABC, [2, 2, 2], 2);
    storage.setHardState({ ...storage.hardState(), commit: asIndex(5) });
    const s = solo("a", ABC, { storage, config: { applied: asIndex(4) } });
    drain(s);
    expect(s.committed.map((e) => e.index)).toEqual([5]);
    const fromZero = solo("a", ABC, { storage });
    drain(fromZero);
    expect(fromZero.committed.map((e) => e.index)).toEqual([1, 2, 3, 4, 5]);
  });

  it("maxCommittedBytesPerReady hands a long committed log out in bounded steps, in order, at least one entry each", () => {
    const storage = storageWithLog(ABC, [2, 2, 2, 2, 2, 2], 2);
    storage.setHardState({ ...storage.hardState(), commit: storage.lastIndex() });
    const s = solo("a", ABC, { storage, config: { maxCommittedBytesPerReady: 4 } });
    drain(s);
    const batches = s.readies.map((rd) => rd.committed).filter((c) => c.length > 0);
    expect(batches.length).toBeGreaterThan(2);
    for (const batch of batches) {
      expect(batch.length === 1 || batch.reduce((n, e) => n + entryPayloadSize(e), 0) <= 4).toBe(true);
    }
    expect(batches.flat().map((e) => e.index)).toEqual(Array.from({ length: storage.lastIndex() }, (_, i) => i + 1));
  });

  it("a vote cast before a crash is remembered: no second vote in that term", () => {
    const storage = storageWithLog(ABC, [], 1);
    const s = solo("a", ABC, { storage });
    stepAll(s, voteReq("vote", "b", "a", 2, 3, 1));
    expect(take(s, "vote-resp").map((m) => m.reject)).toEqual([false]);
    const again = solo("a", ABC, { storage });
    stepAll(again, voteReq("vote", "c", "a", 2, 3, 1));
    expect(take(again, "vote-resp").map((m) => m.reject)).toEqual([true]);
    expect(again.core.status()).toMatchObject({ term: 2, vote: "b" });
  });

  it("an applied index above the stored commit raises the commit index; one beyond the log is refused", () => {
    const storage = storageWithLog(ABC, [2, 2], 2);
    const s = solo("a", ABC, { storage, config: { applied: asIndex(5) } });
    expect(s.core.status()).toMatchObject({ commit: 5, applied: 5 });
    drain(s);
    expect(s.committed).toEqual([]);
    expect(storage.hardState().commit).toBe(5);
    let err: unknown;
    try {
      solo("a", ABC, { storage, config: { applied: asIndex(9) } });
    } catch (e) {
      err = e;
    }
    expect(isConcordError(err, "InvalidArgument")).toBe(true);
  });
});

describe("configuration validation", () => {
  const base = (): RaftConfig => ({
    id: asNodeId("a"),
    storage: MemoryRaftStorage.bootstrap({ voters: [asNodeId("a")], learners: [] }),
    rng: seededRng(1),
    electionTicks: 10,
    heartbeatTicks: 1,
  });
  const cases: [string, Partial<Record<keyof RaftConfig, unknown>>, RegExp][] = [
    ["empty id", { id: "" }, /id/],
    ["election not above heartbeat", { electionTicks: 3, heartbeatTicks: 3 }, /electionTicks .* greater than heartbeatTicks/],
    ["fractional ticks", { electionTicks: 2.5 }, /electionTicks must be an integer/],
    ["no rng", { rng: undefined }, /rng/],
    ["no storage", { storage: {} }, /storage/],
    ["zero in-flight window", { maxInflightMessages: 0 }, /maxInflightMessages/],
    ["zero chunk size", { snapshotChunkBytes: 0 }, /snapshotChunkBytes/],
    ["negative uncommitted cap", { maxUncommittedBytes: -1 }, /maxUncommittedBytes/],
    ["negative committed-per-Ready cap", { maxCommittedBytesPerReady: -1 }, /maxCommittedBytesPerReady/],
    ["unknown read mode", { readOnly: "fast" }, /readOnly/],
    ["lease without check-quorum", { readOnly: "lease", checkQuorum: false }, /requires checkQuorum/],
    ["non-boolean preVote", { preVote: "yes" }, /preVote/],
  ];
  for (const [name, patch, why] of cases) {
    it(`refuses ${name} with InvalidArgument and an actionable message`, () => {
      let err: unknown;
      try {
        createRaft({ ...base(), ...patch } as RaftConfig);
      } catch (e) {
        err = e;
      }
      expect(isConcordError(err, "InvalidArgument")).toBe(true);
      expect((err as Error).message).toMatch(why);
    });
  }
});

describe("the Ready/advance contract", () => {
  it("one Ready at a time: asking again before advance is a bug (InvariantError), and hasReady says no meanwhile", () => {
    const s = solo("a", ABC);
    s.core.campaign();
    const rd = s.core.ready();
    expect(s.core.hasReady()).toBe(false);
    expect(() => s.core.ready()).toThrow(InvariantError);
    expect(() => s.core.advance({ ...rd })).toThrow(InvariantError);
    s.core.advance(rd);
  });

  it("inputs between ready() and advance() land in the next Ready, and a leader's entries count only after advance", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    drain(s);
    stepAll(s, appendResp("b", "a", term, 4));
    take(s);
    s.core.propose(bytes("x"));
    const rd = s.core.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([5]);
    // While rd is being persisted: b acks 5 and another proposal comes in.
    s.core.step(appendResp("b", "a", term, 5));
    s.core.propose(bytes("y"));
    expect(s.core.status().commit).toBe(4);
    s.storage.append(rd.entries);
    s.core.advance(rd);
    expect(s.core.status().commit).toBe(5);
    const next = s.core.ready();
    expect(next.entries.map((e) => e.index)).toEqual([6]);
    expect(next.committed.map((e) => e.index)).toEqual([5]);
    expect(next.messages.some((m) => m.type === "append" && m.entries.some((e) => e.index === 6))).toBe(true);
    s.storage.append(next.entries);
    s.core.advance(next);
  });

  it("the hard state is handed out only when it changed, and mustSync only for term, vote, entries or snapshot", () => {
    const s = solo("b", ABC);
    drain(s);
    stepAll(s, { type: "heartbeat", from: asNodeId("a"), to: asNodeId("b"), term: 1 as never, commit: asIndex(3), context: null });
    const last = s.readies.at(-1) as Ready;
    expect(last.hardState).toBeNull();
    expect(last.mustSync).toBe(false);
    stepAll(s, voteReq("vote", "c", "b", 5, 3, 1, true));
    const voted = s.readies.at(-1) as Ready;
    expect(voted.hardState).toMatchObject({ term: 5, vote: "c" });
    expect(voted.mustSync).toBe(true);
  });
});

describe("determinism", () => {
  /** Everything the cores handed out, serialized. */
  function run(seed: number): string {
    const c = new TestCluster({ voters: ["a", "b", "c", "d", "e"], seed, recordReadies: true });
    const rng = seededRng(seed + 1000);
    c.tickUntil(() => c.leader() !== null, 300);
    for (let i = 0; i < 40; i++) {
      const id = rng.pick(c.ids());
      c.core(id).propose(bytes(`v${i}`));
      if (rng.chance(0.2)) {
        c.heal();
        c.isolate(rng.pick(c.ids()));
      }
      c.tickAll(rng.int(1, 8));
    }
    c.heal();
    c.tickAll(20);
    return JSON.stringify(
      c.ids().map((id) => c.node(id).readies),
      (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v),
    );
  }

  it("the same seed and inputs give an identical Ready stream", () => {
    expect(run(5)).toBe(run(5));
  });

  it("a different seed gives different election timing (so the seed is what decides)", () => {
    expect(run(5)).not.toBe(run(6));
  });
});
