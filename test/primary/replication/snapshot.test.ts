import { describe, expect, it } from "vitest";
import { ConcordError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { createReplica } from "../../../src/primary/replication/replica-core.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { encodeState, hist, MemoryLog, ofType, rec, World } from "./world.js";

const p = asPeerId("p");

/** A log of `n` records of epoch 1 (payloads `e1:<lsn>`). */
function epochOneLog(n: number): MemoryLog {
  const log = new MemoryLog();
  log.append(Array.from({ length: n }, (_, i) => rec(1, i + 1)));
  return log;
}

describe("snapshots", () => {
  it("a replica behind the backlog gets a snapshot, then the records after it", () => {
    const w = new World({ primaryLog: epochOneLog(10) });
    w.primary().log.compact(8);
    const r = w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    expect(r.installs).toMatchObject([{ lsn: 10, discarded: 0, epoch: 1 }]);
    w.write("after");
    w.settle();
    expect(r.log.state()).toEqual(w.primary().log.state());
    expect(w.primary().core.status(w.now).replicas).toMatchObject([{ state: "stream", received: 11 }]);
  });

  it("a replica whose log stops inside the backlog gets the records, not a snapshot", () => {
    const w = new World({ primaryLog: epochOneLog(10) });
    w.primary().log.compact(4);
    const r = w.addReplica("r1", "p", epochOneLog(4), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    expect(r.installs).toEqual([]);
    expect(r.log.state()).toEqual(w.primary().log.state());
  });

  it("a replica whose log diverged gets a snapshot and reports how many records it discarded", () => {
    // r1 holds 1..6 of epoch 1; q was promoted at 4 and wrote 5..7 in epoch 2.
    const qLog = epochOneLog(4);
    qLog.append([rec(2, 5), rec(2, 6), rec(2, 7)]);
    const w = new World({ primary: "q", primaryLog: qLog, primaryConfig: { epoch: asEpoch(2), history: hist([1, "p", 1], [2, "q", 5]) } });
    const r = w.addReplica("r1", "q", epochOneLog(6), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    expect(ofType(w.delivered, "snapshot")[0]!.msg.common).toBe(4);
    expect(r.installs).toMatchObject([{ lsn: 7, discarded: 2, epoch: 2 }]);
    expect(r.log.state()).toEqual(qLog.state());
    expect(r.history).toEqual(hist([1, "p", 1], [2, "q", 5]));
  });

  it("a replica whose log is a prefix of the new primary's keeps it and streams", () => {
    const qLog = epochOneLog(4);
    qLog.append([rec(2, 5)]);
    const w = new World({ primary: "q", primaryLog: qLog, primaryConfig: { epoch: asEpoch(2), history: hist([1, "p", 1], [2, "q", 5]) } });
    const r = w.addReplica("r1", "q", epochOneLog(3), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    expect(r.installs).toEqual([]);
    expect(r.log.state()).toEqual(qLog.state());
  });

  it("a snapshot goes in chunks of snapshotChunkBytes, the next one only after the replica acked the previous", () => {
    const w = new World({ primaryLog: epochOneLog(5), primaryConfig: { snapshotChunkBytes: 8 } });
    w.primary().log.compact(5);
    const r = w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    const total = encodeState(w.primary().log.state()).length;
    w.connectAll();
    const offsets: number[] = [];
    while (w.queue.length > 0) {
      expect(ofType(w.queue, "snapshot").length).toBeLessThanOrEqual(1);
      const env = w.deliverAt(0);
      if (env.msg.type === "snapshot") {
        expect(env.msg.data.length).toBeLessThanOrEqual(8);
        offsets.push(env.msg.offset);
      }
    }
    expect(offsets).toEqual(Array.from({ length: Math.ceil(total / 8) }, (_, i) => i * 8));
    expect(r.log.state()).toEqual(w.primary().log.state());
  });

  it("a lost chunk is resent once the transfer stalled for two heartbeats", () => {
    const w = new World({ primaryLog: epochOneLog(5), primaryConfig: { snapshotChunkBytes: 8, heartbeatMs: 100 } });
    w.primary().log.compact(5);
    const r = w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    w.connectAll();
    let lost = 0;
    w.settle((e) => e.msg.type === "snapshot" && e.msg.offset === 16 && lost++ === 0);
    expect(r.installs).toEqual([]);
    w.tick(100);
    expect(ofType(w.queue, "snapshot")).toEqual([]);
    w.tick(100);
    expect(ofType(w.queue, "snapshot").map((e) => e.msg.offset)).toEqual([16]);
    w.settle();
    expect(r.log.state()).toEqual(w.primary().log.state());
  });

  it("a replica that lost a partial snapshot gets it again from the offset it reports", () => {
    const w = new World({ primaryLog: epochOneLog(5), primaryConfig: { snapshotChunkBytes: 8 } });
    w.primary().log.compact(5);
    w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    w.connectAll();
    const isChunk16 = (i: number): boolean => {
      const m = w.queue[i]?.msg;
      return m?.type === "snapshot" && m.offset === 16;
    };
    while (!isChunk16(0)) w.deliverAt(0); // chunks 0 and 8 arrive
    const restarted = w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1])); // a crash: the partial snapshot is gone
    w.deliverAt(0); // the chunk at 16
    expect(ofType(w.queue, "snapshot-ack").map((e) => e.msg.offset)).toEqual([0]);
    w.settle();
    expect(restarted.log.state()).toEqual(w.primary().log.state());
  });

  it("a replica keeps snapshot chunks only in order: one past what it holds is not kept, a repeat is ignored, and it acks what it holds each time", () => {
    // Record the chunks of a complete transfer, then replay them out of order to a fresh replica.
    const w = new World({ primaryLog: epochOneLog(5), primaryConfig: { snapshotChunkBytes: 8 } });
    w.primary().log.compact(5);
    w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    const chunks = ofType(w.delivered, "snapshot");
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    const fresh = w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    const ackAfter = (chunk: (typeof chunks)[number]): number => {
      w.queue = [];
      w.deliverEnvelope(chunk);
      const acks = ofType(w.queue, "snapshot-ack");
      expect(acks).toHaveLength(1);
      return acks[0]!.msg.offset;
    };
    expect(ackAfter(chunks[1]!)).toBe(0); // a transfer starts at offset 0
    expect(ackAfter(chunks[0]!)).toBe(8);
    expect(chunks.map((c) => c.msg.offset).slice(0, 3)).toEqual([0, 8, 16]);
    expect(ackAfter(chunks[2]!)).toBe(8); // skips a chunk: a gap, not kept
    expect(ackAfter(chunks[0]!)).toBe(8); // a repeat
    for (const c of chunks.slice(1, -1)) expect(ackAfter(c)).toBe(c.msg.offset + c.msg.data.length);
    expect(fresh.installs).toEqual([]);
    ackAfter(chunks[chunks.length - 1]!);
    w.settle();
    expect(fresh.installs).toMatchObject([{ lsn: 5 }]);
    expect(fresh.log.state()).toEqual(w.primary().log.state());
  });

  it("a late snapshot chunk never makes a replica discard records it holds", () => {
    const w = new World({ primaryLog: epochOneLog(2), primaryConfig: { snapshotChunkBytes: 1_000 } });
    w.primary().log.compact(2);
    w.addReplica("r1", "p", new MemoryLog(), hist([1, "p", 1]));
    w.connectAll();
    w.settle();
    const oldChunk = ofType(w.delivered, "snapshot")[0]!;
    w.write("3", { replicas: 1 });
    w.settle();
    expect(w.primary().done).toEqual([{ lsn: 3, replicas: ["r1"] }]);
    const restarted = w.addReplica("r1", "p", w.replica("r1").log, w.replica("r1").history);
    w.deliverEnvelope(oldChunk);
    w.settle();
    expect(restarted.installs).toEqual([]);
    expect(restarted.log.lastLsn()).toBe(3);
  });

  it("an install supersedes records handed out but not yet persisted", () => {
    const r = createReplica({ id: asPeerId("r1"), primary: p, history: hist([1, "p", 1]), epoch: asEpoch(1), lastLsn: asLsn(0), appliedLsn: asLsn(0) });
    r.step(p, { type: "welcome", epoch: asEpoch(1), history: hist([1, "p", 1]), last: asLsn(2) }, 0);
    r.step(p, { type: "records", epoch: asEpoch(1), prev: asLsn(0), records: [rec(1, 1), rec(1, 2)], last: asLsn(2) }, 0);
    const data = encodeState(["a", "b", "c", "d", "e"]);
    r.step(p, { type: "snapshot", epoch: asEpoch(1), history: hist([1, "p", 1]), lsn: asLsn(5), common: asLsn(0), offset: 0, data, done: true, total: data.length }, 0);
    const out = r.output();
    // Records 1 and 2 are in the primary's history: superseded by the snapshot, not discarded.
    expect(out.install).toMatchObject({ lsn: 5, discarded: 0 });
    expect(out.persist).toEqual([]);
    r.persisted(asLsn(2), 0); // from an earlier output: ignored
    r.installed(asLsn(5), 0);
    expect(r.status(0)).toMatchObject({ receivedLsn: 5, appliedLsn: 5 });
    expect(r.output().send.map((s) => s.msg)).toEqual([{ type: "ack", epoch: 1, received: 5, applied: 5, gap: false }]);
  });

  it("promotion is refused while a snapshot install is outstanding", () => {
    const r = createReplica({ id: asPeerId("r1"), primary: p, history: hist([1, "p", 1]), epoch: asEpoch(1), lastLsn: asLsn(0), appliedLsn: asLsn(0) });
    const data = encodeState(["a"]);
    r.step(p, { type: "snapshot", epoch: asEpoch(1), history: hist([1, "p", 1]), lsn: asLsn(1), common: asLsn(0), offset: 0, data, done: true, total: data.length }, 0);
    expect(r.output().install).not.toBeNull();
    expect(() => r.promotion()).toThrow(ConcordError);
    expect(() => r.promotion()).toThrow(/installed\(\) first/);
    r.installed(asLsn(1), 0);
    expect(r.promotion()).toMatchObject({ epoch: 2, lastLsn: 1 });
  });

  it("discarded counts only records the primary's history does not hold, whatever `common` a stale hello gave", () => {
    const agreeing = createReplica({ id: asPeerId("r1"), primary: p, history: hist([1, "p", 1]), epoch: asEpoch(1), lastLsn: asLsn(3), appliedLsn: asLsn(3) });
    const data = encodeState(["a"]);
    // The primary answered a hello from before these records arrived (common 0); they agree with its history.
    agreeing.step(p, { type: "snapshot", epoch: asEpoch(2), history: hist([1, "p", 1], [2, "p", 3]), lsn: asLsn(6), common: asLsn(0), offset: 0, data, done: true, total: data.length }, 0);
    // Epoch 2 starts at LSN 3: record 3 of epoch 1 diverged, records 1 and 2 did not.
    expect(agreeing.output().install).toMatchObject({ lsn: 6, discarded: 1 });
  });
});
