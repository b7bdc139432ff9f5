/**
 * Both ends of a chunked snapshot transfer (src/strong/raft/snapshot-transfer.ts), case by case:
 * the leader's pacing and its refusal of answers no follower of this snapshot can give (offsets
 * that are not byte counts within it: forged or corrupt), and the follower's in-order assembly,
 * which must not alias the bytes of a message the transport may reuse.
 */
import { describe, expect, it } from "vitest";
import { IncomingSnapshot, OutgoingSnapshot } from "../../../src/strong/raft/snapshot-transfer.js";
import { asIndex, asNodeId, asTerm, type Snapshot } from "../../../src/strong/raft/types.js";

const meta = { index: asIndex(9), term: asTerm(2), conf: { voters: [asNodeId("a")], learners: [] } };
const snapshot = (bytes: number): Snapshot => ({ meta, data: Uint8Array.from({ length: bytes }, (_, i) => i) });

describe("the leader's side", () => {
  it("sends chunks of the configured size from the acknowledged offset, the last one marked done", () => {
    const out = new OutgoingSnapshot(snapshot(10), 4);
    expect(out.chunk()).toMatchObject({ offset: 0, done: false });
    expect([...out.chunk().data]).toEqual([0, 1, 2, 3]);
    expect(out.onResponse(4, false)).toBe(true);
    expect(out.onResponse(8, false)).toBe(true);
    expect(out.chunk()).toMatchObject({ offset: 8, done: true });
    expect([...out.chunk().data]).toEqual([8, 9]);
  });

  it("an answer at the offset already acknowledged sends nothing; a rejection resumes where the follower says", () => {
    const out = new OutgoingSnapshot(snapshot(10), 4);
    expect(out.onResponse(4, false)).toBe(true);
    expect(out.onResponse(4, false)).toBe(false);
    expect(out.onResponse(0, false)).toBe(false);
    expect(out.chunk().offset).toBe(4);
    expect(out.onResponse(0, true)).toBe(true);
    expect(out.chunk().offset).toBe(0);
  });

  it("ignores an offset that is not a byte count within the snapshot, rejected or not", () => {
    for (const bad of [-1, 11, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      const out = new OutgoingSnapshot(snapshot(10), 4);
      expect(out.onResponse(4, false)).toBe(true);
      expect([bad, out.onResponse(bad, false), out.onResponse(bad, true)]).toEqual([bad, false, false]);
      expect(out.chunk().offset).toBe(4);
    }
    // The whole snapshot (offset = its size) is a valid answer.
    const out = new OutgoingSnapshot(snapshot(10), 4);
    expect(out.onResponse(10, false)).toBe(true);
    expect(out.chunk()).toMatchObject({ offset: 10, done: true });
  });

  it("resends on a heartbeat answer only when no chunk was acknowledged since the previous one", () => {
    const out = new OutgoingSnapshot(snapshot(10), 4);
    // The first chunk was just sent: not stalled yet.
    expect(out.onHeartbeatResponse()).toBe(false);
    expect(out.onHeartbeatResponse()).toBe(true);
    expect(out.onResponse(4, false)).toBe(true);
    expect(out.onHeartbeatResponse()).toBe(false);
    expect(out.onResponse(4, false)).toBe(false);
    expect(out.onHeartbeatResponse()).toBe(true);
  });
});

describe("the follower's side", () => {
  it("assembles chunks in order; an earlier offset is a duplicate, a later one a gap", () => {
    const inc = new IncomingSnapshot(asNodeId("a"), asTerm(2), meta);
    expect(inc.accept(0, Uint8Array.of(1, 2))).toBe("appended");
    expect(inc.accept(0, Uint8Array.of(1, 2))).toBe("duplicate");
    expect(inc.accept(1, Uint8Array.of(2))).toBe("duplicate");
    expect(inc.accept(3, Uint8Array.of(4))).toBe("gap");
    expect(inc.accept(2, Uint8Array.of(3))).toBe("appended");
    expect([...inc.assemble()]).toEqual([1, 2, 3]);
  });

  it("copies each chunk: a message buffer reused after the chunk was taken does not change the snapshot", () => {
    const inc = new IncomingSnapshot(asNodeId("a"), asTerm(2), meta);
    const buffer = Uint8Array.of(7, 7);
    inc.accept(0, buffer);
    buffer.fill(0);
    expect([...inc.assemble()]).toEqual([7, 7]);
  });

  it("continues only the transfer of the same sender, term and snapshot", () => {
    const inc = new IncomingSnapshot(asNodeId("a"), asTerm(2), meta);
    expect(inc.matches(asNodeId("a"), asTerm(2), { ...meta })).toBe(true);
    expect(inc.matches(asNodeId("b"), asTerm(2), meta)).toBe(false);
    expect(inc.matches(asNodeId("a"), asTerm(3), meta)).toBe(false);
    expect(inc.matches(asNodeId("a"), asTerm(2), { ...meta, index: asIndex(10) })).toBe(false);
    expect(inc.matches(asNodeId("a"), asTerm(2), { ...meta, term: asTerm(1) })).toBe(false);
  });
});
