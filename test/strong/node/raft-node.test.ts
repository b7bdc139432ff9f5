/**
 * The Raft driver's order of work (src/strong/raft-node.ts), on in-memory parts and virtual time:
 * a leader's appends leave before its own log write is durable (thesis 10.2.1), yet nothing it
 * proposed is applied before that write is; a Ready that only moves the commit index writes
 * nothing to the log.
 */
import { describe, expect, it } from "vitest";
import { asDocId, asPeerId } from "../../../src/ids.js";
import { MemoryNetwork } from "../../../src/net/memory-network.js";
import type { Transport } from "../../../src/net/transport.js";
import { seededRng } from "../../../src/rng.js";
import { VirtualClock } from "../../../src/sim/virtual-clock.js";
import { memoryStorage } from "../../../src/storage/memory-storage.js";
import type { DocStorage } from "../../../src/storage/storage.js";
import { RaftNode } from "../../../src/strong/raft-node.js";

/** What a node did, in order: sends, flushes of its transport, appends to its log. */
type Act = "send" | "flush" | "append";

/** The transport, noting each send and flush in `acts`. */
function noting(inner: Transport, acts: Act[]): Transport {
  return {
    self: inner.self,
    listen: (events) => inner.listen(events),
    send: (to, bytes) => {
      acts.push("send");
      inner.send(to, bytes);
    },
    flush: () => acts.push("flush"),
    peers: () => inner.peers(),
    close: () => inner.close(),
  };
}

/** A storage whose appends can be held (not durable until released), counting every append (noted in `acts`). */
function holdable(inner: DocStorage, acts: Act[]): DocStorage & { held: boolean; appends: number; release(): void } {
  let gate: (() => void)[] = [];
  const s = {
    held: false,
    appends: 0,
    release(): void {
      s.held = false;
      for (const open of gate.splice(0)) open();
    },
    get maxRecordBytes() {
      return inner.maxRecordBytes;
    },
    load: () => inner.load(),
    append: async (record: Uint8Array): Promise<void> => {
      s.appends++;
      acts.push("append");
      if (s.held) await new Promise<void>((open) => gate.push(open));
      return inner.append(record);
    },
    compact: (snapshot: Uint8Array) => inner.compact(snapshot),
    shouldCompact: () => inner.shouldCompact(),
    stats: () => inner.stats(),
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  gate = [];
  return s;
}

async function cluster(readOnly: "safe" | "lease" = "safe") {
  const clock = new VirtualClock();
  const net = new MemoryNetwork();
  const ids = ["n1", "n2", "n3"];
  const acts = ids.map((): Act[] => []);
  const storages = await Promise.all(ids.map(async (_, i) => holdable(await memoryStorage().open(asDocId("raft")), acts[i]!)));
  const nodes = await Promise.all(
    ids.map((id, i) =>
      RaftNode.open({ id: asPeerId(id), storage: storages[i]!, transport: noting(net.join(asPeerId(id)), acts[i]!), clock, rng: seededRng(i + 1), bootstrap: ids, tickMs: 10, electionTicks: 10, readOnly }),
    ),
  );
  await clock.runUntil(() => nodes.some((n) => n.status().role === "leader") && nodes.every((n) => n.status().leader !== null), { maxMs: 5_000 });
  const i = nodes.findIndex((n) => n.status().role === "leader");
  return { clock, nodes, storages, acts: acts[i]!, leader: nodes[i]!, leaderStorage: storages[i]!, followers: nodes.filter((_, j) => j !== i), followerStorages: storages.filter((_, j) => j !== i) };
}

const write = (key: string) => (tag: Parameters<Parameters<RaftNode["propose"]>[0]>[0]) => ({ kind: "write" as const, tag, doc: "d", conditions: [], ops: [{ kind: "set" as const, key, value: 1 }], session: null });

describe("the Raft driver", () => {
  it("a leader's appends reach its followers while its own write is not yet durable; its proposal applies only once that write is", async () => {
    const { clock, leader, leaderStorage, followers, acts } = await cluster();
    const before = leader.status().lastIndex;
    leaderStorage.held = true;
    acts.length = 0;
    let applied = false;
    const proposal = leader.propose(write("k"), 5_000).then((r) => {
      applied = true;
      return r;
    });
    await clock.runUntil(() => followers.every((f) => f.status().lastIndex > before), { maxMs: 100 });
    expect(followers.map((f) => f.status().lastIndex)).toStrictEqual([before + 1, before + 1]);
    // Sent, and put on the wire (a real transport coalesces a turn's sends), before the log write starts.
    expect(acts.slice(0, 4)).toStrictEqual(["send", "send", "flush", "append"]);
    // Followers hold it durably; the leader has not applied what its own log does not hold yet.
    await clock.advance(50);
    expect(applied).toBe(false);
    expect(leader.stateMachine.index).toBe(before);
    leaderStorage.release();
    await clock.runUntil(() => applied, { maxMs: 100 });
    expect((await proposal).kind).toBe("write");
  });

  it("a Ready that only moves the commit index writes nothing: one log append per write on a follower", async () => {
    const { clock, leader, followers, followerStorages } = await cluster();
    await clock.advance(100);
    const appendsBefore = followerStorages.map((s) => s.appends);
    for (let i = 0; i < 5; i++) await Promise.all([leader.propose(write(`k${i}`), 5_000), clock.advance(20)]);
    await clock.runUntil(() => followers.every((f) => f.stateMachine.index === leader.stateMachine.index), { maxMs: 500 });
    expect(followerStorages.map((s, i) => s.appends - appendsBefore[i]!)).toStrictEqual([5, 5]);
  });

  it("followers that see their leader's connection close elect a new leader within two ticks, not an election timeout (and not with lease reads)", async () => {
    for (const readOnly of ["safe", "lease"] as const) {
      const { clock, leader, followers } = await cluster(readOnly);
      const start = clock.now();
      leader.halt(); // the process is gone: its connections close
      await clock.runUntil(() => followers.some((f) => f.status().role === "leader") && followers.every((f) => f.status().leader !== null), { maxMs: 1_000 });
      const took = clock.now() - start;
      // Election timeout: 10 ticks of 10 ms, and up to twice that at random.
      if (readOnly === "safe") expect(took).toBeLessThan(25);
      else expect(took).toBeGreaterThanOrEqual(100);
    }
  });
});
