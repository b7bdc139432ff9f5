import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { ofType, shippedLsns, World } from "./world.js";

const r1 = asPeerId("r1");

/** A primary and connected replicas, everything delivered. */
function connected(options: ConstructorParameters<typeof World>[0] = {}): World {
  const w = new World({ replicas: ["r1"], ...options });
  w.connectAll();
  w.settle();
  return w;
}

describe("primary: streaming records", () => {
  it("a record is shipped only after the primary persisted it", () => {
    const w = connected({ manualDisk: true });
    w.write("a");
    expect(ofType(w.queue, "records")).toEqual([]);
    w.flushDisk("p");
    expect(shippedLsns(w.queue)).toEqual([1]);
  });

  it("at most maxInflightRecords records are in flight to a replica, more after its ack", () => {
    const w = connected({ primaryConfig: { maxInflightRecords: 3 } });
    for (let i = 0; i < 10; i++) w.write(`w${i}`);
    expect(shippedLsns(w.queue)).toEqual([1, 2, 3]);
    w.settle();
    expect(w.replica("r1").log.lastLsn()).toBe(10);
  });

  it("a records message carries at most maxMessageBytes of payload but at least one record", () => {
    const w = connected({ manualDisk: true, primaryConfig: { maxMessageBytes: 4 } });
    w.write("aa");
    w.write("bb");
    w.write("cccccc"); // larger than the limit alone
    w.write("d");
    w.flushDisk("p");
    const batches = ofType(w.queue, "records").map((e) => e.msg.records.map((r) => r.lsn));
    expect(batches).toEqual([[1, 2], [3], [4]]);
  });

  it("records messages are pipelined: each follows the previous one without waiting for an ack", () => {
    const w = connected({ primaryConfig: { maxMessageBytes: 1 } });
    for (let i = 0; i < 3; i++) w.write(`${i}`);
    expect(ofType(w.queue, "records").map((e) => e.msg.prev)).toEqual([0, 1, 2]);
  });

  it("a gap ack makes the primary resend from the replica's last received record", () => {
    const w = connected({ primaryConfig: { maxMessageBytes: 1 } });
    for (let i = 0; i < 3; i++) w.write(`${i}`);
    w.take((e) => e.msg.type === "records" && e.msg.prev === 0); // record 1 is lost
    w.settle();
    expect(ofType(w.delivered, "ack").some((e) => e.msg.gap && e.msg.received === 0)).toBe(true);
    expect(w.replica("r1").log.state()).toEqual(["0", "1", "2"]);
  });

  it("repeated gap acks for the same gap trigger one resend", () => {
    const w = connected({ primaryConfig: { maxMessageBytes: 1 } });
    for (let i = 0; i < 3; i++) w.write(`${i}`);
    w.queue = [];
    const gapAck = { type: "ack", epoch: asEpoch(1), received: asLsn(0), applied: asLsn(0), gap: true } as const;
    w.primary().core.step(r1, gapAck, w.now);
    w.primary().core.step(r1, gapAck, w.now);
    w.drain(w.primary());
    expect(shippedLsns(w.queue)).toEqual([1, 2, 3]);
  });

  it("records lost in flight are resent on tick once nothing was acked for two heartbeats", () => {
    const w = connected({ primaryConfig: { heartbeatMs: 100 } });
    w.write("a");
    w.take((e) => e.msg.type === "records");
    w.tick(100);
    expect(ofType(w.queue, "records")).toEqual([]);
    w.tick(100);
    expect(shippedLsns(w.queue)).toEqual([1]);
    w.settle();
    expect(w.replica("r1").log.state()).toEqual(["a"]);
  });

  it("lost acks are recovered too: the replica answers a resent duplicate with an ack", () => {
    const w = connected({ replicaConfig: { ackMs: 10_000 }, primaryConfig: { heartbeatMs: 100 } });
    w.write("a", { replicas: 1 });
    w.settle((e) => e.msg.type === "ack"); // every ack is lost
    expect(w.primary().done).toEqual([]);
    w.tick(200);
    w.settle();
    expect(w.primary().done).toEqual([{ lsn: 1, replicas: ["r1"] }]);
  });

  it("duplicated and reordered records leave the replica's log intact", () => {
    const w = connected({ primaryConfig: { maxMessageBytes: 1 } });
    for (let i = 0; i < 4; i++) w.write(`${i}`);
    const records = w.take((e) => e.msg.type === "records");
    w.queue.push(records[1]!, records[0]!, records[0]!, records[3]!, records[2]!, records[1]!);
    w.settle();
    w.run(3);
    expect(w.replica("r1").log.state()).toEqual(["0", "1", "2", "3"]);
  });

  it("the primary sends every replica a heartbeat with its durable LSN every heartbeatMs", () => {
    const w = new World({ replicas: ["r1", "r2"], primaryConfig: { heartbeatMs: 100 } });
    w.connectAll();
    w.settle();
    w.write("a");
    w.queue = [];
    w.tick(100);
    const beats = ofType(w.queue, "heartbeat");
    expect(beats.map((e) => [e.to, e.msg.last])).toEqual([
      ["r1", 1],
      ["r2", 1],
    ]);
    w.queue = [];
    w.tick(50);
    expect(ofType(w.queue, "heartbeat")).toEqual([]);
  });

  it("peerDown stops streaming to a replica until an ack says where it is", () => {
    const w = connected();
    w.primary().core.peerDown(r1, w.now);
    expect(w.primary().core.status(w.now).replicas).toMatchObject([{ id: "r1", state: "probe" }]);
    w.write("a");
    expect(ofType(w.queue, "records")).toEqual([]);
    w.tick(100); // the replica's keepalive ack
    w.settle();
    expect(w.primary().core.status(w.now).replicas).toMatchObject([{ id: "r1", state: "stream", received: 1 }]);
    expect(w.replica("r1").log.state()).toEqual(["a"]);
  });

  it("a replica whose disk is slow keeps accepting records after the ones handed out", () => {
    const w = connected({ manualDisk: true, primaryConfig: { maxMessageBytes: 1 } });
    w.write("a");
    w.write("b");
    w.flushDisk("p");
    w.settle();
    expect(w.replica("r1").unpersisted.map((r) => r.lsn)).toEqual([1, 2]);
    expect(ofType(w.delivered, "ack").filter((e) => e.msg.gap)).toEqual([]);
    w.flushDisk("r1");
    w.settle();
    expect(w.primary().core.status(w.now).replicas).toMatchObject([{ received: 2, applied: 2 }]);
  });

  it("a replica acks only what its driver reported durable", () => {
    const w = connected({ manualDisk: true });
    w.write("a");
    w.flushDisk("p");
    w.settle();
    w.tick(100);
    w.settle();
    expect(ofType(w.delivered, "ack").every((e) => e.msg.received === 0)).toBe(true);
  });

  it("an ack claiming records the primary never made durable is dropped and counted", () => {
    const w = connected();
    w.primary().core.step(r1, { type: "ack", epoch: asEpoch(1), received: asLsn(5), applied: asLsn(5), gap: false }, w.now);
    expect(w.primary().core.status(w.now)).toMatchObject({ dropped: 1, replicas: [{ received: 0 }] });
  });
});
