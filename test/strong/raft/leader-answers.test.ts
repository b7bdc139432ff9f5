/**
 * What a leader does with its followers' answers (src/strong/raft/step-leader.ts) when they are
 * not the ordinary ack: answers that claim more than the leader's log holds, answers that claim to
 * come from the leader itself, rejections without a term hint, and acks outside a leadership
 * transfer. The mutation run found these edges unguarded by the simulations.
 */
import { describe, expect, it } from "vitest";
import { asNodeId } from "../../../src/strong/raft/types.js";
import { bytes } from "./cluster.js";
import { ackAll, appendResp, drain, makeLeader, solo, stepAll, take } from "./harness.js";

const ABC = ["a", "b", "c"];

describe("a leader's answers from followers", () => {
  it("an ack beyond the leader's log is ignored: it moves no progress and commits nothing", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    drain(s);
    const last = s.core.status().lastIndex;
    const before = s.core.status();
    stepAll(s, appendResp("b", "a", term, last + 5));
    const after = s.core.status();
    expect(after.commit).toBe(before.commit);
    expect(after.progress?.get(asNodeId("b"))).toEqual(before.progress?.get(asNodeId("b")));
    // The same follower's true ack does count.
    stepAll(s, appendResp("b", "a", term, last));
    expect(s.core.status().commit).toBe(last);
  });

  it("an answer claiming to come from the leader itself is ignored: it counts its own entries only once persisted", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.propose(bytes("x"))).toEqual({ ok: true });
    const x = s.core.status().lastIndex;
    // Not drained: x is not persisted, so the leader does not count itself for it yet.
    s.core.step(appendResp("a", "a", term, x));
    s.core.step(appendResp("b", "a", term, x));
    expect(s.core.status().progress?.get(asNodeId("a"))?.match).toBeLessThan(x);
    expect(s.core.status().commit).toBeLessThan(x);
    drain(s);
    expect(s.core.status().commit).toBe(x);
  });

  it("a rejection without a term hint probes from the follower's hinted index, not from the start of the log", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    drain(s);
    // b is probed at next - 1 (the leader's last index when elected); it answers that its log ends at 2.
    const probed = (s.core.status().progress?.get(asNodeId("b"))?.next ?? 0) - 1;
    expect(probed).toBeGreaterThan(2);
    stepAll(s, appendResp("b", "a", term, probed, true, 2, 0));
    expect(s.core.status().progress?.get(asNodeId("b"))?.next).toBe(3);
  });

  it("an ack that brings a follower level with the leader sends no timeout-now unless a transfer to it is under way", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    drain(s);
    const last = s.core.status().lastIndex;
    stepAll(s, appendResp("b", "a", term, last), appendResp("c", "a", term, last));
    expect(take(s, "timeout-now")).toEqual([]);
    expect(s.core.transferLeadership(asNodeId("b"))).toEqual({ ok: true });
    const sent = take(s, "timeout-now");
    expect(sent.map((m) => m.to)).toEqual(["b"]);
  });
});
