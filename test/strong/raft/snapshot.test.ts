/**
 * Log compaction and InstallSnapshot in chunks (paper section 7, figure 13; the chunk protocol is
 * documented in src/strong/raft/snapshot-transfer.ts).
 */
import { describe, expect, it } from "vitest";
import type { Message, MessageOf } from "../../../src/strong/raft/messages.js";
import { asIndex, asNodeId, asTerm, type SnapshotMeta } from "../../../src/strong/raft/types.js";
import { bytes, TestCluster, text } from "./cluster.js";
import { append, drain, msg, solo, stepAll, storageWithLog, storedTerms, take } from "./harness.js";

const ABC = ["a", "b", "c"];

/** A cluster where c missed 20 entries that the leader a then compacted away. */
function laggingFollower(seed = 9, chunkBytes = 16): TestCluster {
  const c = new TestCluster({ voters: ABC, seed, config: { snapshotChunkBytes: chunkBytes } });
  c.elect("a");
  c.crash("c");
  for (let i = 0; i < 20; i++) c.propose("a", `value-${i}`);
  c.stabilize();
  c.snapshotAndCompact("a");
  c.restart("c");
  return c;
}

const chunks = (c: TestCluster): MessageOf<"snapshot">[] => c.sent.filter((m): m is MessageOf<"snapshot"> => m.type === "snapshot");

function snapshotChunk(from: string, to: string, term: number, meta: SnapshotMeta, offset: number, data: string, done: boolean): MessageOf<"snapshot"> {
  return msg("snapshot", from, to, term, { meta, offset, data: bytes(data), done });
}

const META: SnapshotMeta = { index: asIndex(10), term: asTerm(2), conf: { voters: ABC.map(asNodeId), learners: [] } };

describe("paper 7: log compaction and InstallSnapshot", () => {
  it("7 a follower behind the compaction point receives the snapshot in several chunks and catches up", () => {
    const c = laggingFollower();
    c.tickAll(5);
    const sent = chunks(c);
    expect(sent.length).toBeGreaterThan(3);
    expect(sent.every((m) => m.data.byteLength <= 16)).toBe(true);
    expect(sent.filter((m) => m.done).length).toBe(1);
    expect(c.appliedData("c")).toEqual(c.appliedData("a"));
    expect(c.node("c").storage.snapshot().meta.index).toBe(c.node("a").storage.snapshot().meta.index);
    expect(c.core("a").status().progress?.get(asNodeId("c"))?.state).toBe("replicate");
    c.propose("a", "after");
    c.stabilize();
    expect(c.appliedData("c").at(-1)).toBe("after");
    c.assertSafety();
  });

  it("7 a lost chunk is resent after a heartbeat round and the transfer completes", () => {
    const c = laggingFollower();
    let lost = 0;
    c.dropIf((m) => m.type === "snapshot" && m.offset === 32 && lost++ === 0);
    c.tickAll(10);
    expect(lost).toBeGreaterThan(1);
    expect(chunks(c).filter((m) => m.offset === 32).length).toBe(2);
    expect(c.appliedData("c")).toEqual(c.appliedData("a"));
  });

  it("7 a lost answer to a chunk is recovered the same way, and the duplicate chunk it causes is harmless", () => {
    const c = laggingFollower();
    let lost = 0;
    c.dropIf((m) => m.type === "snapshot-resp" && m.offset === 48 && lost++ === 0);
    c.tickAll(10);
    expect(c.appliedData("c")).toEqual(c.appliedData("a"));
  });

  it("7 a follower restarted in the middle of a transfer makes the leader start over, and it completes", () => {
    const c = laggingFollower();
    // Let two chunks through, then cut c off and restart it (its partial snapshot is gone).
    let delivered = 0;
    const heal = c.dropIf((m) => m.type === "snapshot" && ++delivered > 2);
    c.tickAll(2);
    heal();
    c.crash("c");
    c.restart("c");
    c.tickAll(10);
    const restarts = c.sent.filter((m) => m.type === "snapshot-resp" && m.reject && m.offset === 0);
    expect(restarts.length).toBeGreaterThan(0);
    expect(c.appliedData("c")).toEqual(c.appliedData("a"));
  });

  it("7 a follower assembles chunks in order: duplicates are acknowledged and ignored, the snapshot is installed once", () => {
    const s = solo("c", ABC);
    drain(s);
    stepAll(
      s,
      snapshotChunk("a", "c", 2, META, 0, "hello ", false),
      snapshotChunk("a", "c", 2, META, 0, "hello ", false),
      snapshotChunk("a", "c", 2, META, 6, "world", true),
      snapshotChunk("a", "c", 2, META, 6, "world", true),
    );
    expect(s.snapshots.map((snap) => [snap.meta.index, text(snap.data)])).toEqual([[10, "hello world"]]);
    const resps = take(s);
    expect(resps.map((m) => (m.type === "snapshot-resp" ? [m.type, m.offset, m.reject] : m.type === "append-resp" ? [m.type, m.index] : [m.type]))).toEqual([
      ["snapshot-resp", 6, false],
      ["snapshot-resp", 6, false],
      ["append-resp", 10],
      ["append-resp", 10],
    ]);
    expect(s.core.status()).toMatchObject({ commit: 10, applied: 10, lastIndex: 10 });
    // The snapshot was persisted BEFORE its acknowledgement left.
    const rd = s.readies.find((r) => r.snapshot !== null);
    expect(rd?.messages.map((m) => m.type)).toContain("append-resp");
    expect(rd?.mustSync).toBe(true);
  });

  it("7 a chunk after a gap is refused with the offset to resume from", () => {
    const s = solo("c", ABC);
    drain(s);
    stepAll(s, snapshotChunk("a", "c", 2, META, 6, "world", true));
    expect(take(s).map((m) => (m.type === "snapshot-resp" ? [m.offset, m.reject] : m.type))).toEqual([[0, true]]);
    stepAll(s, snapshotChunk("a", "c", 2, META, 0, "hello ", false), snapshotChunk("a", "c", 2, META, 9, "ld", true));
    expect(take(s).map((m) => (m.type === "snapshot-resp" ? [m.offset, m.reject] : m.type))).toEqual([
      [6, false],
      [6, true],
    ]);
    expect(s.snapshots).toEqual([]);
  });

  it("7 chunks of a different snapshot or from a new leader restart the assembly", () => {
    const s = solo("c", ABC);
    drain(s);
    const newer: SnapshotMeta = { ...META, index: asIndex(12) };
    stepAll(
      s,
      snapshotChunk("a", "c", 2, META, 0, "stale-", false),
      snapshotChunk("b", "c", 3, newer, 0, "fresh-", false),
      snapshotChunk("b", "c", 3, newer, 6, "data", true),
    );
    expect(s.snapshots.map((snap) => [snap.meta.index, text(snap.data)])).toEqual([[12, "fresh-data"]]);
  });

  it("7 a stale snapshot (at or below the commit index) is acknowledged with the commit index and ignored", () => {
    const s = solo("c", ABC, { storage: storageWithLog(ABC, [2, 2, 2], 2) });
    stepAll(s, append("a", "c", 2, 6, 2, [], 6));
    take(s);
    const stale: SnapshotMeta = { ...META, index: asIndex(5) };
    stepAll(s, snapshotChunk("a", "c", 2, stale, 0, "old", true));
    expect(s.snapshots).toEqual([]);
    expect(take(s).map((m) => (m.type === "append-resp" ? [m.type, m.index, m.reject] : [m.type]))).toEqual([["append-resp", 6, false]]);
    expect(storedTerms(s.storage)).toEqual([1, 1, 1, 2, 2, 2]);
  });

  it("7 a late copy of the first chunk, a stale chunk of an older snapshot or a stray later chunk of another one leaves the transfer in progress alone", () => {
    const s = solo("c", ABC, { storage: storageWithLog(ABC, [2, 2, 2], 2) });
    stepAll(s, append("a", "c", 2, 6, 2, [], 6));
    take(s);
    const stale: SnapshotMeta = { ...META, index: asIndex(5) };
    const other: SnapshotMeta = { ...META, index: asIndex(12) };
    stepAll(
      s,
      snapshotChunk("a", "c", 2, META, 0, "hello ", false),
      snapshotChunk("a", "c", 2, META, 6, "wor", false),
      snapshotChunk("a", "c", 2, META, 0, "hello ", false),
      snapshotChunk("a", "c", 2, stale, 0, "old", true),
      snapshotChunk("a", "c", 2, other, 4, "stray", false),
      snapshotChunk("a", "c", 2, META, 9, "ld", true),
    );
    expect(s.snapshots.map((snap) => [snap.meta.index, text(snap.data)])).toEqual([[10, "hello world"]]);
    // Only the stray chunk is refused (from offset 0: nothing of that snapshot was received).
    const refused = take(s).flatMap((m) => (m.type === "snapshot-resp" && m.reject ? [[m.index, m.offset]] : []));
    expect(refused).toEqual([[12, 0]]);
  });

  it("7 a snapshot whose last entry the follower already holds only advances the commit index and keeps later entries", () => {
    const s = solo("c", ABC, { storage: storageWithLog(ABC, [2, 2, 2, 2], 2) });
    const held: SnapshotMeta = { ...META, index: asIndex(5), term: asTerm(2) };
    stepAll(s, snapshotChunk("a", "c", 2, held, 0, "x", true));
    expect(s.snapshots).toEqual([]);
    expect(s.core.status()).toMatchObject({ commit: 5, lastIndex: 7 });
    expect(storedTerms(s.storage)).toEqual([1, 1, 1, 2, 2, 2, 2]);
  });

  it("7 installing a snapshot replaces a conflicting log and hands committed entries out only after it", () => {
    const s = solo("c", ABC, { storage: storageWithLog(ABC, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 1) });
    drain(s);
    stepAll(s, snapshotChunk("a", "c", 2, META, 0, "state", true));
    expect(s.snapshots.length).toBe(1);
    expect(s.storage.firstIndex()).toBe(11);
    expect(s.core.status()).toMatchObject({ commit: 10, applied: 10, lastIndex: 10 });
    const afterSnapshot = s.readies.slice(s.readies.findIndex((r) => r.snapshot !== null));
    expect(afterSnapshot[0]?.committed).toEqual([]);
    stepAll(s, append("a", "c", 2, 10, 2, [{ kind: "noop", index: asIndex(11), term: asTerm(2) }], 11));
    expect(s.committed.at(-1)?.index).toBe(11);
  });

  it("7 the leader tracks a follower receiving a snapshot in snapshot state and sends it no appends meanwhile", () => {
    const c = laggingFollower(9, 4);
    const held: Message[] = [];
    c.dropIf((m) => {
      if (m.type === "snapshot-resp") held.push(m);
      return m.type === "snapshot-resp";
    });
    c.tickAll(2);
    expect(c.core("a").status().progress?.get(asNodeId("c"))?.state).toBe("snapshot");
    c.sent = [];
    c.propose("a", "during");
    c.stabilize();
    expect(c.sent.filter((m) => m.type === "append" && m.to === "c")).toEqual([]);
  });
});
