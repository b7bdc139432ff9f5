/**
 * The term rules at the door of the core (src/strong/raft/step.ts, paper 5.1 and thesis 9.6) at
 * their edges: messages of term 0, stale messages of each kind and with each option, a stale
 * pre-vote, and a candidate hearing a snapshot from the leader of its own term.
 */
import { describe, expect, it } from "vitest";
import { asIndex, asNodeId, asTerm } from "../../../src/strong/raft/types.js";
import { appendResp, drain, makeLeader, msg, solo, stepAll, storageWithLog, take, voteReq, voteResp } from "./harness.js";

const ABC = ["a", "b", "c"];
/** A follower `a` at term 5 that knows no leader. */
const atTerm5 = (config: { checkQuorum?: boolean; preVote?: boolean } = {}) => solo("a", ABC, { storage: storageWithLog(ABC, [], 5), config });

describe("the term rules of step", () => {
  it("a message of term 0 that is not a forwarded request is dropped without an answer", () => {
    const s = atTerm5();
    stepAll(s, msg("heartbeat", "b", "a", 0, { commit: asIndex(0), context: null }));
    stepAll(s, msg("append", "b", "a", 0, { prevIndex: asIndex(0), prevTerm: asTerm(0), entries: [], commit: asIndex(0) }));
    expect(take(s)).toEqual([]);
    expect(s.core.status()).toMatchObject({ term: 5, leader: null });
  });

  it("a stale leader's append or heartbeat is answered with our term when check-quorum or pre-vote is on, so it steps down", () => {
    for (const config of [{}, { checkQuorum: false }, { preVote: false }]) {
      const s = atTerm5(config);
      stepAll(s, msg("heartbeat", "b", "a", 3, { commit: asIndex(0), context: null }));
      expect([config, take(s).map((m) => [m.type, m.term, m.to])]).toEqual([config, [["append-resp", 5, "b"]]]);
    }
  });

  it("with neither check-quorum nor pre-vote, a stale leader is ignored (paper 5.1: the reply would carry nothing it needs)", () => {
    const s = atTerm5({ checkQuorum: false, preVote: false });
    stepAll(s, msg("heartbeat", "b", "a", 3, { commit: asIndex(0), context: null }));
    expect(take(s)).toEqual([]);
  });

  it("stale answers and stale votes get no answer at all", () => {
    const s = atTerm5();
    stepAll(s, appendResp("b", "a", 3, 2), voteResp("vote-resp", "b", "a", 3), msg("heartbeat-resp", "b", "a", 3, { context: null }), voteReq("vote", "b", "a", 3, 9, 3));
    expect(take(s)).toEqual([]);
    expect(s.core.status()).toMatchObject({ term: 5, vote: null });
  });

  it("a stale pre-vote is refused at our term, so the pre-candidate learns it cannot win", () => {
    const s = atTerm5();
    stepAll(s, voteReq("pre-vote", "b", "a", 4, 9, 3));
    expect(take(s).map((m) => [m.type, m.term, m.type === "pre-vote-resp" ? m.reject : null])).toEqual([["pre-vote-resp", 5, true]]);
  });

  it("a candidate that hears a snapshot chunk from the leader of its term follows it and takes the chunk", () => {
    const s = solo("a", ABC, { config: { preVote: false } });
    s.core.campaign();
    drain(s);
    const term = s.core.status().term;
    expect(s.core.status().role).toBe("candidate");
    take(s);
    const meta = { index: asIndex(20), term: asTerm(term), conf: { voters: ABC.map(asNodeId), learners: [] } };
    stepAll(s, msg("snapshot", "b", "a", term, { meta, offset: 0, data: Uint8Array.of(1, 2), done: false }));
    expect(s.core.status()).toMatchObject({ role: "follower", term, leader: "b" });
    expect(take(s, "snapshot-resp").map((m) => [m.index, m.offset, m.reject])).toEqual([[20, 2, false]]);
  });

  it("a leader ignores what only followers and candidates act on at its term", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    drain(s);
    take(s);
    stepAll(s, voteResp("vote-resp", "b", "a", term), msg("timeout-now", "b", "a", term, {}));
    expect(take(s)).toEqual([]);
    expect(s.core.status()).toMatchObject({ role: "leader", term });
  });
});
