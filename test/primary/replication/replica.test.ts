import { describe, expect, it } from "vitest";
import { ConcordError, InvariantError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import type { ReplicaConfig, ReplicaCore } from "../../../src/primary/replication/core.js";
import type { PrimaryToReplica, ReplicaToPrimary } from "../../../src/primary/replication/messages.js";
import { createReplica } from "../../../src/primary/replication/replica-core.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { hist, rec } from "./world.js";

const p = asPeerId("p");
const E1 = asEpoch(1);
const H1 = hist([1, "p", 1]);

function replica(overrides: Partial<ReplicaConfig> = {}): ReplicaCore {
  return createReplica({ id: asPeerId("r1"), primary: p, history: H1, epoch: E1, lastLsn: asLsn(0), appliedLsn: asLsn(0), ackMs: 100, helloMs: 1_000, ...overrides });
}

/** The messages the replica wants sent now. */
const sent = (r: ReplicaCore): ReplicaToPrimary[] => r.output().send.map((s) => s.msg);

const welcome = (last = 0): PrimaryToReplica => ({ type: "welcome", epoch: E1, history: H1, last: asLsn(last) });

/** A replica aligned with p (welcomed), its output drained. */
function aligned(overrides: Partial<ReplicaConfig> = {}): ReplicaCore {
  const r = replica(overrides);
  r.step(p, welcome(), 0);
  r.output();
  return r;
}

describe("replica: contact with the primary", () => {
  it("says hello on its first tick and again after helloMs without progress", () => {
    const r = replica();
    r.tick(0);
    expect(sent(r)).toEqual([{ type: "hello", epoch: 1, history: H1, last: { epoch: 0, lsn: 0 } }]);
    r.tick(999);
    expect(sent(r)).toEqual([]);
    r.tick(1_000);
    expect(sent(r).map((m) => m.type)).toEqual(["hello"]);
  });

  it("says hello when its primary comes up", () => {
    const r = replica();
    r.peerUp(asPeerId("other"), 0);
    expect(sent(r)).toEqual([]);
    r.peerUp(p, 0);
    expect(sent(r).map((m) => m.type)).toEqual(["hello"]);
  });

  it("a hello names the epoch and LSN of the last durable record", () => {
    const r = replica({ history: hist([1, "p", 1], [2, "q", 4]), epoch: asEpoch(3), lastLsn: asLsn(6), appliedLsn: asLsn(5) });
    r.peerUp(p, 0);
    expect(sent(r)).toMatchObject([{ type: "hello", epoch: 3, last: { epoch: 2, lsn: 6 } }]);
  });

  it("a caught-up replica that hears heartbeats does not say hello again", () => {
    const r = aligned();
    for (let t = 100; t <= 5_000; t += 100) {
      r.step(p, { type: "heartbeat", epoch: E1, last: asLsn(0) }, t);
      r.tick(t);
    }
    expect(sent(r).filter((m) => m.type === "hello")).toEqual([]);
  });

  it("a lagging replica that hears only heartbeats says hello after helloMs", () => {
    const r = aligned();
    for (let t = 100; t <= 1_000; t += 100) {
      r.step(p, { type: "heartbeat", epoch: E1, last: asLsn(3) }, t);
      r.tick(t);
    }
    expect(sent(r).filter((m) => m.type === "hello")).toHaveLength(1);
  });

  it("sends a keepalive ack every ackMs once aligned, and none before", () => {
    const r = replica();
    r.tick(0);
    r.tick(500);
    expect(sent(r).filter((m) => m.type === "ack")).toEqual([]);
    r.step(p, welcome(), 500);
    expect(sent(r)).toEqual([{ type: "ack", epoch: 1, received: 0, applied: 0, gap: false }]);
    r.tick(599);
    expect(sent(r)).toEqual([]);
    r.tick(600);
    expect(sent(r).map((m) => m.type)).toEqual(["ack"]);
  });

  it("a welcome whose history disagrees with the replica's log leaves it unaligned until a snapshot", () => {
    const r = replica({ lastLsn: asLsn(5), appliedLsn: asLsn(5) });
    r.step(p, { type: "welcome", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 4]), last: asLsn(8) }, 0);
    r.tick(100);
    expect(sent(r).filter((m) => m.type === "ack")).toEqual([]);
    expect(r.status(100)).toMatchObject({ epoch: 2, history: H1 });
  });

  it("a welcome that agrees with the log makes the replica adopt the primary's history", () => {
    const r = replica({ lastLsn: asLsn(3), appliedLsn: asLsn(3) });
    const h = hist([1, "p", 1], [2, "p", 4]);
    r.step(p, { type: "welcome", epoch: asEpoch(2), history: h, last: asLsn(8) }, 0);
    const out = r.output();
    expect(out.history).toEqual(h);
    expect(out.send.map((s) => s.msg)).toEqual([{ type: "ack", epoch: 2, received: 3, applied: 3, gap: false }]);
  });
});

describe("replica: records", () => {
  it("appends records that follow what it holds and acks what its driver made durable", () => {
    const r = aligned();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1), rec(1, 2)], last: asLsn(2) }, 0);
    const out = r.output();
    expect(out.persist.map((x) => x.lsn)).toEqual([1, 2]);
    expect(out.send).toEqual([]);
    r.persisted(asLsn(2), 0);
    expect(sent(r)).toEqual([{ type: "ack", epoch: 1, received: 2, applied: 0, gap: false }]);
    r.applied(asLsn(2), 0);
    expect(sent(r)).toEqual([{ type: "ack", epoch: 1, received: 2, applied: 2, gap: false }]);
  });

  it("skips the records it already holds in an overlapping message", () => {
    const r = aligned();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1), rec(1, 2)], last: asLsn(2) }, 0);
    r.output();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(1), records: [rec(1, 2), rec(1, 3)], last: asLsn(3) }, 0);
    expect(r.output().persist.map((x) => x.lsn)).toEqual([3]);
  });

  it("answers records past a gap with a gap ack, once per ackMs for the same gap", () => {
    const r = aligned();
    const past = { type: "records", epoch: E1, prev: asLsn(3), records: [rec(1, 4)], last: asLsn(4) } as const;
    r.step(p, past, 0);
    expect(sent(r)).toEqual([{ type: "ack", epoch: 1, received: 0, applied: 0, gap: true }]);
    r.step(p, past, 50);
    expect(sent(r)).toEqual([]);
    r.step(p, past, 100);
    expect(sent(r).map((m) => m.type === "ack" && m.gap)).toEqual([true]);
    expect(r.status(100).receivedLsn).toBe(0);
  });

  it("ignores records from an older epoch", () => {
    const r = aligned({ epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 1]) });
    r.step(p, { type: "welcome", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 1]), last: asLsn(0) }, 0);
    r.output();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1)], last: asLsn(1) }, 0);
    expect(r.output().persist).toEqual([]);
  });

  it("does not accept records before a welcome told it the primary's history", () => {
    const r = replica();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1)], last: asLsn(1) }, 0);
    const out = r.output();
    expect(out.persist).toEqual([]);
    expect(out.send.map((s) => s.msg.type)).toEqual(["hello"]);
  });

  it("a record whose epoch contradicts the primary's history sends the replica back to hello", () => {
    const r = aligned();
    r.step(p, { type: "records", epoch: asEpoch(1), prev: asLsn(0), records: [rec(1, 1)], last: asLsn(1) }, 0);
    r.output();
    r.step(p, { type: "welcome", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 3]), last: asLsn(1) }, 0);
    r.output();
    // Record 2 claims epoch 2 although the history says epoch 2 starts at 3.
    r.step(p, { type: "records", epoch: asEpoch(2), prev: asLsn(1), records: [rec(2, 2)], last: asLsn(2) }, 200);
    const out = r.output();
    expect(out.persist).toEqual([]);
    expect(out.send.map((s) => s.msg.type)).toEqual(["hello"]);
  });

  it("persisted beyond what was handed out, or applied beyond persisted, is an invariant error", () => {
    const r = aligned();
    expect(() => r.persisted(asLsn(1), 0)).toThrow(InvariantError);
    expect(() => r.applied(asLsn(1), 0)).toThrow(InvariantError);
  });
});

describe("replica: lag", () => {
  it("heartbeats tell the primary's durable LSN: the lag is what is not applied yet", () => {
    const r = aligned();
    expect(r.status(0)).toMatchObject({ primaryLsn: 0, lagLsn: 0 });
    r.step(p, { type: "heartbeat", epoch: E1, last: asLsn(5) }, 10);
    expect(r.status(10)).toMatchObject({ primaryLsn: 5, lagLsn: 5 });
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1), rec(1, 2)], last: asLsn(5) }, 20);
    r.persisted(asLsn(2), 20);
    r.applied(asLsn(2), 20);
    expect(r.status(20)).toMatchObject({ primaryLsn: 5, lagLsn: 3 });
    r.step(p, { type: "heartbeat", epoch: E1, last: asLsn(4) }, 30); // a late heartbeat
    expect(r.status(30).primaryLsn).toBe(5);
  });

  it("silentMs counts from the primary's last message, Infinity before any", () => {
    const r = replica();
    expect(r.status(1_000).silentMs).toBe(Number.POSITIVE_INFINITY);
    r.step(p, { type: "heartbeat", epoch: E1, last: asLsn(0) }, 1_000);
    expect(r.status(1_250).silentMs).toBe(250);
  });
});

describe("replica: dropped messages", () => {
  it("messages from a peer it does not follow are dropped and counted, epoch notices excepted", () => {
    const r = aligned();
    const stranger = asPeerId("x");
    r.step(stranger, { type: "heartbeat", epoch: E1, last: asLsn(9) }, 0);
    r.step(stranger, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1)], last: asLsn(1) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 2, primaryLsn: 0 });
    expect(r.output().persist).toEqual([]);
    r.step(stranger, { type: "epoch", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "x", 1]) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 2, primary: "x" });
  });

  it.each<[string, PrimaryToReplica]>([
    ["records not contiguous after prev", { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 2)], last: asLsn(2) }],
    ["a record epoch above the message's", { type: "records", epoch: E1, prev: asLsn(0), records: [rec(2, 1)], last: asLsn(1) }],
    ["a negative LSN", { type: "heartbeat", epoch: E1, last: asLsn(-1) }],
    ["an invalid history", { type: "welcome", epoch: E1, history: hist([1, "p", 2]), last: asLsn(0) }],
  ])("an implausible message (%s) is dropped and counted", (_name, msg) => {
    const r = aligned();
    r.step(p, msg, 0);
    expect(r.status(0).dropped).toBe(1);
    expect(r.output()).toMatchObject({ persist: [], send: [] });
  });

  it("records or a heartbeat of a higher epoch are dropped until a welcome names the primary of that epoch", () => {
    const r = aligned();
    const E2 = asEpoch(2);
    r.step(p, { type: "records", epoch: E2, prev: asLsn(0), records: [rec(2, 1)], last: asLsn(1) }, 0);
    r.step(p, { type: "heartbeat", epoch: E2, last: asLsn(1) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 2, epoch: 1 });
    expect(r.output()).toMatchObject({ persist: [], send: [{ msg: { type: "hello", epoch: 1 } }] });
    r.step(p, { type: "welcome", epoch: E2, history: hist([1, "q", 1]), last: asLsn(0) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 3, epoch: 1 });
    r.step(p, { type: "welcome", epoch: E2, history: hist([1, "p", 1], [2, "p", 1]), last: asLsn(0) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 3, epoch: 2 });
    r.step(p, { type: "records", epoch: E2, prev: asLsn(0), records: [rec(2, 1)], last: asLsn(1) }, 0);
    expect(r.output().persist).toEqual([rec(2, 1)]);
  });

  it("records or a snapshot whose bytes fail checkData are dropped whole and counted", () => {
    const bad = (data: Uint8Array): boolean => data[0] !== 0xee;
    const r = aligned({ checkData: { record: bad, snapshot: bad } });
    const garbage = { ...rec(1, 2), data: Uint8Array.of(0xee) };
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1), garbage], last: asLsn(2) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 1, receivedLsn: 0 });
    expect(r.output().persist).toEqual([]);
    const chunk = { type: "snapshot", epoch: E1, history: H1, lsn: asLsn(5), common: asLsn(0), offset: 0, done: true, total: 2 } as const;
    r.step(p, { ...chunk, data: Uint8Array.of(0xee, 1) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 2, installing: null });
    expect(r.output().install).toBeNull();
    r.step(p, { ...chunk, data: Uint8Array.of(1, 1) }, 0);
    expect(r.output().install).toMatchObject({ lsn: 5, data: Uint8Array.of(1, 1) });
  });

  it("a notice naming the replica itself as primary is dropped: its driver must promote it", () => {
    const r = aligned();
    r.step(p, { type: "epoch", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "r1", 1]) }, 0);
    expect(r.status(0)).toMatchObject({ dropped: 1, primary: "p", epoch: 1 });
  });
});

describe("replica: promotion", () => {
  it("takes one epoch above the highest seen and the history of the records it holds", () => {
    const r = replica({ history: hist([1, "p", 1], [2, "q", 4]), epoch: asEpoch(2), lastLsn: asLsn(6), appliedLsn: asLsn(6) });
    r.step(p, { type: "epoch", epoch: asEpoch(5), history: hist([1, "p", 1], [5, "s", 9]) }, 0);
    expect(r.promotion()).toEqual({ epoch: 6, history: hist([1, "p", 1], [2, "q", 4], [6, "r1", 7]), lastLsn: 6 });
  });

  it("is refused while records are handed out but not yet persisted", () => {
    const r = aligned();
    r.step(p, { type: "records", epoch: E1, prev: asLsn(0), records: [rec(1, 1)], last: asLsn(1) }, 0);
    expect(() => r.promotion()).toThrow(ConcordError);
    r.persisted(asLsn(1), 0);
    expect(r.promotion()).toMatchObject({ epoch: 2, lastLsn: 1 });
  });
});
