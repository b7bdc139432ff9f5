/**
 * A leader's flow control, case by case as etcd-raft's inflights_test.go and progress_test.go do:
 * the window of appends in flight (src/strong/raft/inflights.ts) and each follower's
 * probe/replicate/snapshot state machine (src/strong/raft/progress.ts). None of this decides what
 * commits, but a wrong `next` sends the wrong entries and a window that never frees stalls a
 * follower for good; the simulations rarely reach the edges below.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { Inflights } from "../../../src/strong/raft/inflights.js";
import { Progress } from "../../../src/strong/raft/progress.js";
import { OutgoingSnapshot } from "../../../src/strong/raft/snapshot-transfer.js";
import { asIndex, asNodeId, asTerm } from "../../../src/strong/raft/types.js";

const ix = asIndex;

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConcordError(e) || e instanceof Error) return e.message;
  }
  return "no error";
}

describe("the in-flight window", () => {
  it("fills by message count, frees everything an ack covers, and wraps around its ring", () => {
    const w = new Inflights(3, 0);
    w.add(ix(1), 10);
    w.add(ix(2), 10);
    expect(w.full()).toBe(false);
    w.add(ix(3), 10);
    expect([w.full(), w.count, w.bytes]).toEqual([true, 3, 30]);
    w.freeLE(ix(2));
    expect([w.full(), w.count, w.bytes]).toEqual([false, 1, 10]);
    // Two more go into the slots freed at the start of the ring.
    w.add(ix(4), 5);
    w.add(ix(5), 6);
    expect([w.full(), w.count, w.bytes]).toEqual([true, 3, 21]);
    w.freeLE(ix(4));
    expect([w.count, w.bytes]).toEqual([1, 6]);
    // The last one is remembered across the wrap: an index at or below it is refused.
    expect(refusal(() => w.add(ix(5), 1))).toContain("inflight indexes must increase: 5 after 5");
    w.add(ix(6), 1);
    w.freeLE(ix(9));
    expect([w.count, w.bytes, w.full()]).toEqual([0, 0, false]);
  });

  it("an ack below the oldest in flight frees nothing", () => {
    const w = new Inflights(4, 0);
    w.add(ix(5), 1);
    w.add(ix(7), 1);
    w.freeLE(ix(4));
    expect(w.count).toBe(2);
    w.freeLE(ix(6));
    expect([w.count, w.bytes]).toEqual([1, 1]);
  });

  it("fills by bytes once the budget is reached, not before", () => {
    const w = new Inflights(10, 100);
    w.add(ix(1), 60);
    expect(w.full()).toBe(false);
    w.add(ix(2), 39);
    expect(w.full()).toBe(false);
    w.add(ix(3), 1);
    expect([w.full(), w.bytes]).toEqual([true, 100]);
    expect(refusal(() => w.add(ix(4), 1))).toContain("cannot add to a full inflights window");
    w.reset();
    expect([w.full(), w.count, w.bytes]).toEqual([false, 0, 0]);
  });

  it("a window of size 1 alternates full and empty", () => {
    const w = new Inflights(1, 0);
    for (let i = 1; i <= 3; i++) {
      w.add(ix(i), 1);
      expect(w.full()).toBe(true);
      w.freeLE(ix(i));
      expect(w.full()).toBe(false);
    }
  });

  it("refuses a window that is not a whole number of messages >= 1", () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(refusal(() => new Inflights(bad, 0))).toContain(`inflights window must be >= 1, got ${bad}`);
    }
  });
});

const progress = (match: number, next: number, window = 4): Progress =>
  new Progress({ match: ix(match), next: ix(next), recentActive: true, maxInflightMessages: window, maxInflightBytes: 0 });

const transfer = (): OutgoingSnapshot =>
  new OutgoingSnapshot({ meta: { index: ix(20), term: asTerm(3), conf: { voters: [asNodeId("a")], learners: [] } }, data: new Uint8Array(8) }, 4);

describe("a follower's progress", () => {
  it("in replicate, a rejection above match goes back to match + 1; one at or below match is stale", () => {
    const p = progress(5, 9);
    p.becomeReplicate();
    p.next = ix(9);
    expect(p.maybeDecrTo(ix(5), ix(0))).toBe(false);
    expect(p.maybeDecrTo(ix(4), ix(0))).toBe(false);
    expect(p.next).toBe(9);
    expect(p.maybeDecrTo(ix(7), ix(0))).toBe(true);
    expect(p.next).toBe(6);
  });

  it("in probe, only a rejection of the latest probe counts: next goes to the hint + 1, never below match + 1 nor above the rejected index", () => {
    const p = progress(2, 10);
    p.paused = true;
    expect(p.maybeDecrTo(ix(8), ix(3))).toBe(false);
    expect([p.next, p.paused]).toEqual([10, true]);
    expect(p.maybeDecrTo(ix(9), ix(5))).toBe(true);
    expect([p.next, p.paused]).toEqual([6, false]);
    expect(p.maybeDecrTo(ix(5), ix(0))).toBe(true);
    expect(p.next).toBe(3);
    expect(p.maybeDecrTo(ix(2), ix(1))).toBe(true);
    expect(p.next).toBe(3);
    const high = progress(2, 10);
    expect(high.maybeDecrTo(ix(9), ix(50))).toBe(true);
    expect(high.next).toBe(9);
  });

  it("leaving snapshot state probes from past the snapshot sent, or from match + 1 if the follower is already beyond it", () => {
    const p = progress(3, 4);
    p.becomeSnapshot(ix(20), transfer());
    expect([p.state, p.isPaused(), p.pendingSnapshot]).toEqual(["snapshot", true, 20]);
    p.becomeProbe();
    expect([p.state, p.next, p.pendingSnapshot, p.outgoing]).toEqual(["probe", 21, 0, null]);
    const ahead = progress(3, 4);
    ahead.becomeSnapshot(ix(20), transfer());
    ahead.match = ix(25);
    ahead.becomeProbe();
    expect(ahead.next).toBe(26);
    const plain = progress(3, 9);
    plain.becomeReplicate();
    plain.becomeProbe();
    expect([plain.state, plain.next]).toEqual(["probe", 4]);
  });

  it("an ack moves match and next forward only, and unpauses", () => {
    const p = progress(3, 8);
    p.paused = true;
    expect(p.maybeUpdate(ix(3))).toBe(false);
    expect(p.paused).toBe(true);
    expect(p.maybeUpdate(ix(5))).toBe(true);
    expect([p.match, p.next, p.paused]).toEqual([5, 8, false]);
    expect(p.maybeUpdate(ix(12))).toBe(true);
    expect([p.match, p.next]).toEqual([12, 13]);
  });

  it("sending: replicate advances next and pauses on a full window; probe pauses after one; snapshot stays as it is", () => {
    const p = progress(0, 1, 2);
    p.becomeReplicate();
    p.sentEntries(3, 30);
    expect([p.next, p.paused, p.inflights.count]).toEqual([4, false, 1]);
    p.sentEntries(0, 0);
    expect([p.next, p.inflights.count]).toEqual([4, 1]);
    p.sentEntries(2, 20);
    expect([p.next, p.paused, p.inflights.count]).toEqual([6, true, 2]);
    const probe = progress(0, 1);
    probe.sentEntries(3, 30);
    expect([probe.next, probe.paused, probe.isPaused()]).toEqual([1, true, true]);
    const snap = progress(0, 1);
    snap.becomeSnapshot(ix(20), transfer());
    snap.sentEntries(3, 30);
    expect([snap.next, snap.paused, snap.isPaused()]).toEqual([1, false, true]);
  });
});
