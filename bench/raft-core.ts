/**
 * `npm run bench -- raft-core`: the pure Raft core's own cost, no fsync, no sockets.
 *
 * 1. Throughput: committed entries per second of a 3-node cluster in one process, messages handed
 *    from core to core (the in-memory transport at its cheapest, plus the binary codec in a second
 *    variant), memory storage; entries of 100 bytes with 1, 16 and 256 proposals in flight. The
 *    baseline, run in the same process, is a 1-node cluster (the log and the Ready cycle with no
 *    replication): the ratio is what replicating to two followers costs.
 * 2. Elections: ticks from isolating the leader until a new leader is elected among the others
 *    (election timeout 10 to 20 ticks, pre-vote and check-quorum on), median and worst of 1,000
 *    trials, with the distribution: the shape of the Raft paper's figure 16.
 */
import { seededRng } from "../src/rng.js";
import { decodeMessage, encodeMessage } from "../src/strong/raft/codec.js";
import type { RaftCore } from "../src/strong/raft/core.js";
import { MemoryRaftStorage } from "../src/strong/raft/memory-storage.js";
import type { Message } from "../src/strong/raft/messages.js";
import { createRaft } from "../src/strong/raft/raft.js";
import { asNodeId, type NodeId } from "../src/strong/raft/types.js";
import { interleave, median, printTable, row, writeResults, type Row, type Sample } from "./harness.js";

const ENTRIES = Number(process.env["BENCH_N"] ?? 50_000);
const REPS = Number(process.env["BENCH_REPS"] ?? 5);
const TRIALS = Number(process.env["BENCH_TRIALS"] ?? 1_000);
const ENTRY_BYTES = 100;
const ELECTION_TICKS = 10;

interface Member {
  readonly id: NodeId;
  readonly storage: MemoryRaftStorage;
  readonly core: RaftCore;
}

/** N cores in one process; `pump` runs Ready cycles and delivers messages until all is quiet. */
class Cluster {
  readonly members = new Map<NodeId, Member>();
  /** Nodes whose traffic is dropped both ways. */
  readonly isolated = new Set<NodeId>();
  committedAtLeader = 0;
  #queue: Message[] = [];

  constructor(size: number, seed: number, readonly wire: boolean) {
    const ids = Array.from({ length: size }, (_, i) => asNodeId(`n${i + 1}`));
    const rng = seededRng(seed);
    for (const id of ids) {
      const storage = MemoryRaftStorage.bootstrap({ voters: ids, learners: [] });
      const core = createRaft({ id, storage, rng: rng.fork(), electionTicks: ELECTION_TICKS, heartbeatTicks: 1, maxInflightMessages: 1024 });
      this.members.set(id, { id, storage, core });
    }
  }

  leader(): Member | undefined {
    for (const m of this.members.values()) if (!this.isolated.has(m.id) && m.core.status().role === "leader") return m;
    return undefined;
  }

  /** Ready cycles and deliveries until no core has anything to do. */
  pump(): void {
    for (;;) {
      let busy = false;
      for (const m of this.members.values()) {
        while (m.core.hasReady()) {
          busy = true;
          const rd = m.core.ready();
          if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
          if (rd.entries.length > 0) m.storage.append(rd.entries);
          if (rd.hardState) m.storage.setHardState(rd.hardState);
          for (const msg of rd.messages) this.#queue.push(msg);
          if (m.core.status().role === "leader") this.committedAtLeader += rd.committed.length;
          m.core.advance(rd);
        }
      }
      if (this.#queue.length === 0 && !busy) return;
      const batch = this.#queue;
      this.#queue = [];
      for (const msg of batch) {
        if (this.isolated.has(msg.from) || this.isolated.has(msg.to)) continue;
        const to = this.members.get(msg.to);
        if (to) to.core.step(this.wire ? decodeMessage(encodeMessage(msg)) : msg);
      }
    }
  }

  tickAll(): void {
    for (const m of this.members.values()) m.core.tick();
  }

  /** Ticks until some node leads; returns it. */
  elect(): Member {
    for (let t = 0; t < 10_000; t++) {
      this.tickAll();
      this.pump();
      const l = this.leader();
      if (l) return l;
    }
    throw new Error("no leader after 10,000 ticks");
  }
}

/** Commits `ENTRIES` entries of 100 bytes keeping `inFlight` proposals outstanding at the leader. */
function throughput(size: number, inFlight: number, wire: boolean): Sample {
  const cluster = new Cluster(size, 42, wire);
  const leader = cluster.elect();
  const payload = new Uint8Array(ENTRY_BYTES).fill(7);
  const base = cluster.committedAtLeader;
  let proposed = 0;
  const t0 = performance.now();
  while (cluster.committedAtLeader - base < ENTRIES) {
    while (proposed < ENTRIES && proposed - (cluster.committedAtLeader - base) < inFlight) {
      const r = leader.core.propose(payload);
      if (!r.ok) throw new Error(`proposal refused: ${r.reason}`);
      proposed++;
    }
    cluster.pump();
  }
  return { ms: performance.now() - t0 };
}

/** Ticks from isolating the leader of a settled 3-node cluster until another node leads. */
function electionTicks(seed: number): number {
  const cluster = new Cluster(3, seed, false);
  const old = cluster.elect();
  // Let it settle: everyone heard the leader.
  for (let i = 0; i < 3; i++) {
    cluster.tickAll();
    cluster.pump();
  }
  cluster.isolated.add(old.id);
  for (let t = 1; t <= 10_000; t++) {
    cluster.tickAll();
    cluster.pump();
    if (cluster.leader() !== undefined) return t;
  }
  throw new Error(`seed ${seed}: no new leader within 10,000 ticks`);
}

export async function run(): Promise<void> {
  console.log(`\nraft-core: ${ENTRIES.toLocaleString("en-US")} entries of ${ENTRY_BYTES} B, memory storage, messages handed core to core; median of ${REPS}`);
  const rows: Row[] = [];
  for (const inFlight of [1, 16, 256]) {
    const [single, three, threeWire] = await interleave(REPS, [
      async () => throughput(1, inFlight, false),
      async () => throughput(3, inFlight, false),
      async () => throughput(3, inFlight, true),
    ]);
    const base = row(`1 node, ${inFlight} in flight`, ENTRIES, single!);
    rows.push(base, row(`3 nodes, ${inFlight} in flight`, ENTRIES, three!, base), row(`3 nodes + codec, ${inFlight} in flight`, ENTRIES, threeWire!, base));
  }
  printTable("committed entries per second (x baseline: time relative to a 1-node cluster, lower is better)", rows);

  const ticks = Array.from({ length: TRIALS }, (_, i) => electionTicks(1000 + i)).sort((a, b) => a - b);
  const pct = (p: number): number => ticks[Math.min(ticks.length - 1, Math.floor((p / 100) * ticks.length))]!;
  console.log(`\nticks to elect a new leader after isolating the leader (${TRIALS} trials, election timeout ${ELECTION_TICKS}-${2 * ELECTION_TICKS - 1} ticks, pre-vote + check-quorum)`);
  console.table([{ median: median(ticks), p90: pct(90), p99: pct(99), worst: ticks[ticks.length - 1], best: ticks[0] }]);
  const buckets = new Map<number, number>();
  for (const t of ticks) buckets.set(t, (buckets.get(t) ?? 0) + 1);
  let cumulative = 0;
  console.log("cumulative share of trials by ticks (figure 16 shape):");
  for (const [t, n] of [...buckets].sort((a, b) => a[0] - b[0])) {
    cumulative += n;
    console.log(`  <= ${String(t).padStart(3)} ticks: ${((100 * cumulative) / ticks.length).toFixed(1).padStart(5)}%  ${"#".repeat(Math.round((40 * n) / ticks.length))}`);
  }
  console.log(`results: ${writeResults("raft-core", { entries: ENTRIES, entryBytes: ENTRY_BYTES, throughput: rows, electionTicks: ticks })}`);
}
