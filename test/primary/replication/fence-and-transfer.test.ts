/**
 * Two small pieces of the primary's core, case by case (the mutation run found them pinned only
 * loosely by the simulations): the fence (src/primary/replication/fence.ts: what shows a newer
 * primary, the newest one remembered, notices throttled per replica) and both ends of a snapshot
 * transfer (snapshot-transfer.ts: the primary's resend point and the ordering check of the chunks
 * a replica assembles).
 */
import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import type { ToPrimary } from "../../../src/primary/replication/messages.js";
import { Fence, promotionShown } from "../../../src/primary/replication/fence.js";
import { IncomingSnapshot, OutgoingSnapshot } from "../../../src/primary/replication/snapshot-transfer.js";
import { asEpoch, asLsn, type EpochHistory } from "../../../src/primary/replication/types.js";

const n = asPeerId;
const e = asEpoch;
const history = (...entries: [number, string, number][]): EpochHistory => entries.map(([epoch, primary, startLsn]) => ({ epoch: e(epoch), primary: n(primary), startLsn: asLsn(startLsn) }));
const h2 = history([1, "n1", 1], [2, "n2", 5]);
const h3 = history([1, "n1", 1], [2, "n2", 5], [3, "n3", 9]);

describe("what shows a newer primary", () => {
  const notice = (epoch: number, h: EpochHistory): ToPrimary => ({ type: "epoch", epoch: e(epoch), history: h }) as ToPrimary;

  it("an epoch notice or a hello of a higher epoch, with a valid history ending in that epoch and naming another primary", () => {
    expect(promotionShown(notice(2, h2), e(1), n("n1"))).toEqual(h2);
    const hello = { type: "hello", epoch: e(2), history: h2, last: { epoch: e(2), lsn: asLsn(5) } } as unknown as ToPrimary;
    expect(promotionShown(hello, e(1), n("n1"))).toEqual(h2);
  });

  it("nothing else fences: the same or a lower epoch, a history that ends elsewhere or is invalid, one naming this primary, other messages", () => {
    expect(promotionShown(notice(1, history([1, "n2", 1])), e(1), n("n1"))).toBeNull();
    expect(promotionShown(notice(2, h2), e(2), n("n1"))).toBeNull();
    expect(promotionShown(notice(3, h2), e(1), n("n1"))).toBeNull();
    expect(promotionShown(notice(2, history([1, "n1", 5], [2, "n2", 1])), e(1), n("n1"))).toBeNull();
    expect(promotionShown(notice(2, h2), e(1), n("n2"))).toBeNull();
    const ack = { type: "ack", epoch: e(2), lsn: asLsn(3) } as unknown as ToPrimary;
    expect(promotionShown(ack, e(1), n("n1"))).toBeNull();
  });
});

describe("the fence", () => {
  it("is raised by the first newer history and remembers the newest epoch and history it saw", () => {
    const f = new Fence(e(1));
    expect(f.fencedBy).toBeNull();
    expect(f.notice()).toBeNull();
    expect(f.observe(h2)).toEqual({ first: true, learned: true });
    expect([f.fencedBy, f.notice()]).toEqual([2, { type: "epoch", epoch: 2, history: h2 }]);
    expect(f.observe(h2)).toEqual({ first: false, learned: false });
    expect(f.observe(h3)).toEqual({ first: false, learned: true });
    expect([f.fencedBy, f.notice()?.epoch]).toEqual([3, 3]);
    // An older newer-epoch history changes nothing.
    expect(f.observe(h2)).toEqual({ first: false, learned: false });
    expect([f.fencedBy, f.notice()?.history]).toEqual([3, h3]);
  });

  it("notices a replica at most once per throttle period, unless urgent (the answer to a hello)", () => {
    const f = new Fence(e(1));
    expect(f.mayNotify(n("r1"), 0, 100, false)).toBe(true);
    expect(f.mayNotify(n("r1"), 99, 100, false)).toBe(false);
    expect(f.mayNotify(n("r2"), 99, 100, false)).toBe(true);
    expect(f.mayNotify(n("r1"), 50, 100, true)).toBe(true);
    // The urgent notice counts as the last one sent.
    expect(f.mayNotify(n("r1"), 149, 100, false)).toBe(false);
    expect(f.mayNotify(n("r1"), 150, 100, false)).toBe(true);
  });
});

describe("a snapshot transfer, the primary's side", () => {
  const data = Uint8Array.from({ length: 10 }, (_, i) => i);

  it("sends from the acknowledged offset, and the last chunk again once the replica holds everything", () => {
    const out = new OutgoingSnapshot(asLsn(7), data, asLsn(0), 4, 100);
    expect([out.chunk().offset, [...out.chunk().data], out.chunk().done]).toEqual([0, [0, 1, 2, 3], false]);
    expect(out.onAck(4, 110)).toBe(true);
    expect(out.onAck(8, 120)).toBe(true);
    expect([out.chunk().offset, [...out.chunk().data], out.chunk().done]).toEqual([8, [8, 9], true]);
    expect([out.onAck(10, 130), out.delivered, out.stalledSince]).toEqual([false, true, 130]);
    expect([out.chunk().offset, out.chunk().done]).toEqual([8, true]);
    const exact = new OutgoingSnapshot(asLsn(7), data.subarray(0, 8), asLsn(0), 4, 0);
    exact.onAck(8, 1);
    expect(exact.chunk().offset).toBe(4);
    const empty = new OutgoingSnapshot(asLsn(7), new Uint8Array(0), asLsn(0), 4, 0);
    expect([empty.chunk().offset, empty.chunk().done, empty.delivered]).toEqual([0, true, true]);
  });

  it("ignores an ack beyond the snapshot or at the offset already acknowledged; resumes lower when the replica holds less", () => {
    const out = new OutgoingSnapshot(asLsn(7), data, asLsn(0), 4, 100);
    expect(out.onAck(11, 110)).toBe(false);
    expect(out.onAck(0, 110)).toBe(false);
    expect(out.stalledSince).toBe(100);
    expect(out.onAck(8, 120)).toBe(true);
    expect(out.onAck(4, 130)).toBe(true);
    expect([out.chunk().offset, out.stalledSince, out.delivered]).toEqual([4, 130, false]);
  });
});

describe("a snapshot transfer, the replica's side", () => {
  it("assembles chunks only in order: earlier ones and any after completion are duplicates, later ones gaps", () => {
    const inc = new IncomingSnapshot(n("n1"), e(2), asLsn(7), 5, h2);
    expect(inc.accept(2, Uint8Array.of(9), false)).toBe("gap");
    expect(inc.accept(0, Uint8Array.of(1, 2), false)).toBe("appended");
    expect(inc.accept(0, Uint8Array.of(1, 2), false)).toBe("duplicate");
    expect(inc.accept(4, Uint8Array.of(9), false)).toBe("gap");
    expect([inc.accept(2, Uint8Array.of(3, 4, 5), true), inc.complete, inc.held]).toEqual(["appended", true, 5]);
    expect(inc.accept(5, Uint8Array.of(6), true)).toBe("duplicate");
    expect([...inc.assemble()]).toEqual([1, 2, 3, 4, 5]);
  });

  it("copies each chunk out of the message (a reused buffer does not change the snapshot)", () => {
    const inc = new IncomingSnapshot(n("n1"), e(2), asLsn(7), 2, h2);
    const buffer = Uint8Array.of(7, 7);
    inc.accept(0, buffer, true);
    buffer.fill(0);
    expect([...inc.assemble()]).toEqual([7, 7]);
  });

  it("belongs to one transfer: the same primary, epoch, LSN and size", () => {
    const inc = new IncomingSnapshot(n("n1"), e(2), asLsn(7), 5, h2);
    expect(inc.matches(n("n1"), e(2), asLsn(7), 5)).toBe(true);
    expect(inc.matches(n("n3"), e(2), asLsn(7), 5)).toBe(false);
    expect(inc.matches(n("n1"), e(3), asLsn(7), 5)).toBe(false);
    expect(inc.matches(n("n1"), e(2), asLsn(8), 5)).toBe(false);
    expect(inc.matches(n("n1"), e(2), asLsn(7), 6)).toBe(false);
  });
});
