import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import type { PrimaryToReplica, ToPrimary } from "../../../src/primary/replication/messages.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { hist, MemoryLog, ofType, World } from "./world.js";

const [r1, r2, q] = ["r1", "r2", "q"].map(asPeerId) as [ReturnType<typeof asPeerId>, ReturnType<typeof asPeerId>, ReturnType<typeof asPeerId>];
const newer = hist([1, "p", 1], [2, "q", 3]);

/** A primary with connected replicas and writes waiting: 1 local (not persisted), 2 at { replicas: 1 }. */
function withWaitingWrites(): World {
  const w = new World({ replicas: ["r1", "r2"], manualDisk: true });
  w.connectAll();
  w.settle();
  w.write("a", "local");
  w.write("b", { replicas: 1 });
  return w;
}

describe("fencing the primary", () => {
  it("a hello with a higher epoch fences the primary and abandons every waiting write", () => {
    const w = withWaitingWrites();
    const p = w.primary();
    p.core.step(r1, { type: "hello", epoch: asEpoch(2), history: newer, last: { epoch: asEpoch(2), lsn: asLsn(3) } }, w.now);
    w.drain(p);
    expect(p.core.status(w.now).fencedBy).toBe(2);
    expect(p.abandoned.map((a) => [a.lsn, a.reason])).toEqual([
      [1, "fenced"],
      [2, "fenced"],
    ]);
    expect(w.write("c")).toMatchObject({ ok: false, reason: "fenced" });
    w.flushDisk("p");
    expect(p.done).toEqual([]);
  });

  it.each<[string, ToPrimary]>([
    ["an ack (it carries no history)", { type: "ack", epoch: asEpoch(3), received: asLsn(0), applied: asLsn(0), gap: false }],
    ["a snapshot ack", { type: "snapshot-ack", epoch: asEpoch(3), lsn: asLsn(0), offset: 0 }],
    ["a hello whose history ends below its epoch", { type: "hello", epoch: asEpoch(3), history: newer, last: { epoch: asEpoch(2), lsn: asLsn(3) } }],
    ["a notice naming the primary itself as the newer one", { type: "epoch", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 3]) }],
  ])("a higher epoch that names no newer primary (%s) is dropped and counted: the primary takes writes", (_name, msg) => {
    const w = withWaitingWrites();
    w.primary().core.step(r1, msg, w.now);
    w.drain(w.primary());
    expect(w.primary().core.status(w.now)).toMatchObject({ fencedBy: null, dropped: 1 });
    expect(w.primary().abandoned).toEqual([]);
    expect(w.write("c")).toMatchObject({ ok: true });
  });

  it("an epoch notice from a newer primary fences the primary", () => {
    const w = withWaitingWrites();
    w.primary().core.step(q, { type: "epoch", epoch: asEpoch(2), history: newer }, w.now);
    expect(w.primary().core.status(w.now).fencedBy).toBe(2);
  });

  it("a notice of the primary's own epoch changes nothing", () => {
    const w = withWaitingWrites();
    w.primary().core.step(q, { type: "epoch", epoch: asEpoch(1), history: hist([1, "p", 1]) }, w.now);
    expect(w.primary().core.status(w.now).fencedBy).toBeNull();
    expect(w.write("c")).toMatchObject({ ok: true });
  });

  it("a fenced primary tells its replicas about the newer primary and points older-epoch hellos at it", () => {
    const w = withWaitingWrites();
    const p = w.primary();
    w.queue = [];
    p.core.step(q, { type: "epoch", epoch: asEpoch(2), history: newer }, w.now);
    w.drain(p);
    const notice: PrimaryToReplica = { type: "epoch", epoch: asEpoch(2), history: newer };
    expect(w.queue.map((e) => [e.to, e.msg])).toEqual([
      ["r1", notice],
      ["r2", notice],
    ]);
    w.queue = [];
    p.core.step(r2, { type: "hello", epoch: asEpoch(1), history: hist([1, "p", 1]), last: { epoch: asEpoch(0), lsn: asLsn(0) } }, w.now);
    w.drain(p);
    expect(w.queue.map((e) => [e.to, e.msg])).toEqual([["r2", notice]]);
  });

  it("a fenced primary ships nothing more and sends no heartbeats", () => {
    const w = withWaitingWrites();
    const p = w.primary();
    p.core.step(q, { type: "epoch", epoch: asEpoch(2), history: newer }, w.now);
    w.drain(p);
    w.queue = [];
    w.flushDisk("p");
    w.tick(1_000);
    expect(w.queue.filter((e) => e.from === "p")).toEqual([]);
  });

  it("acks from an older epoch are not counted and are answered with an epoch notice", () => {
    const w = new World({ primaryConfig: { epoch: asEpoch(2), history: hist([1, "old", 1], [2, "p", 1]) } });
    const p = w.primary();
    w.write("a", "local");
    p.core.step(r1, { type: "ack", epoch: asEpoch(1), received: asLsn(1), applied: asLsn(1), gap: false }, w.now);
    w.drain(p);
    expect(p.core.status(w.now).replicas).toEqual([]);
    expect(w.queue.map((e) => [e.to, e.msg.type, e.msg.epoch])).toEqual([["r1", "epoch", 2]]);
  });
});

describe("epoch notices", () => {
  it("a new primary tells its followers its epoch until they answer, at most once per heartbeatMs", () => {
    const w = new World({ primaryConfig: { followers: [r1, r2], heartbeatMs: 100 } });
    const notices = (): string[] => ofType(w.take((e) => e.msg.type === "epoch"), "epoch").map((e) => e.to);
    expect(notices()).toEqual(["r1", "r2"]); // at creation
    w.tick(0);
    w.tick(99);
    expect(notices()).toEqual([]);
    w.tick(1);
    expect(notices()).toEqual(["r1", "r2"]);
    w.primary().core.step(r1, { type: "hello", epoch: asEpoch(1), history: hist([1, "p", 1]), last: { epoch: asEpoch(0), lsn: asLsn(0) } }, w.now);
    w.tick(100);
    expect(notices()).toEqual(["r2"]);
  });

  it("peerUp of a follower sends it an epoch notice", () => {
    const w = new World({ primaryConfig: { followers: [r1] } });
    w.queue = [];
    w.primary().core.peerUp(r2, 0);
    w.primary().core.peerUp(r1, 0);
    w.drain(w.primary());
    expect(w.queue.map((e) => [e.to, e.msg.type])).toEqual([["r1", "epoch"]]);
  });

  it("a replica follows the primary named by a notice of a higher epoch and says hello to it", () => {
    const w = new World({ replicas: ["r1"] });
    const r = w.replica("r1");
    r.core.step(asPeerId("anyone"), { type: "epoch", epoch: asEpoch(2), history: newer }, 0);
    w.drain(r);
    expect(r.core.status(0)).toMatchObject({ primary: "q", epoch: 2 });
    expect(w.queue.map((e) => [e.to, e.msg.type, e.msg.epoch])).toEqual([["q", "hello", 2]]);
    // Its history still covers only its own records until q welcomes it.
    expect(r.core.status(0).history).toEqual(hist([1, "p", 1]));
  });

  it("a replica ignores a notice of its own or an older epoch", () => {
    const w = new World({ replicas: ["r1"] });
    const r = w.replica("r1");
    r.core.step(q, { type: "epoch", epoch: asEpoch(1), history: hist([1, "q", 1]) }, 0);
    w.drain(r);
    expect(r.core.status(0)).toMatchObject({ primary: "p", epoch: 1, dropped: 0 });
    expect(w.queue).toEqual([]);
  });

  it("after a failover the old primary is fenced, the replicas follow the new one, and the old primary's unreplicated writes are discarded", () => {
    const w = new World({ replicas: ["r1", "r2"] });
    w.connectAll();
    w.settle();
    w.write("a", { replicas: 2 });
    w.settle();
    w.write("lost-1");
    w.write("lost-2");
    w.take((e) => e.msg.type === "records"); // never reach a replica
    const fresh = w.promote("r1", ["r2", "p"]);
    w.settle();
    expect(w.primary("p").core.status(w.now).fencedBy).toBe(2);
    expect(w.replica("r2").core.status(w.now)).toMatchObject({ primary: "r1", epoch: 2 });
    w.write("b", { replicas: 1 }, "r1");
    const old = w.demote("p", "r1");
    w.connectAll();
    w.settle();
    w.run(2);
    expect(old.installs).toMatchObject([{ discarded: 2 }]);
    for (const r of w.replicas()) expect(r.log.state()).toEqual(["a", "b"]);
    expect(fresh.log.state()).toEqual(["a", "b"]);
  });
});
