/**
 * A simulated world of Raft servers (DESIGN.md sections 4 and 5): N cores, each behind a driver
 * with a durable {@link MemoryRaftStorage} and a disk with latency; one {@link SimNetwork} (loss,
 * duplication, long-tailed delays hence reordering, partitions and one-way cuts) carrying
 * messages as bytes through the Raft codec; one {@link VirtualClock}; one seed. A
 * {@link SafetyChecker} is told about every event and throws at the first broken property.
 *
 * Driver (ready.ts): one Ready at a time. Persisting a Ready that has a snapshot, entries or a
 * hard state takes virtual time (the disk latency); only once it is durable are its messages
 * sent, its committed entries applied, its read states served and the core advanced; then the
 * next Ready is taken. Meanwhile the core keeps taking ticks, messages and requests.
 *
 * Durability: the storage holds what reached the disk. A crash while a write is in flight keeps
 * a random PREFIX of its items in file order [snapshot?, entries..., hardState?] (a torn tail;
 * possibly nothing), written through the storage so its suffix-overwrite rule applies.
 *
 * State machine (raft-state-machine.ts): volatile with replay (a restart rebuilds it from the
 * storage's snapshot and the core hands out the committed entries after it again), or, per run,
 * durable on apply (a restart passes its applied index to the core).
 *
 * Pause: a frozen process (GC pause, stopped VM): no ticks; messages and disk completions wait
 * and are handled in order when it wakes, still thinking it is whatever it was.
 */
import { asPeerId, type PeerId } from "../../../src/ids.js";
import type { Transport } from "../../../src/net/transport.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import { SimNetwork, type DelayDistribution } from "../../../src/sim/sim-network.js";
import { VirtualClock } from "../../../src/sim/virtual-clock.js";
import { decodeMessage, encodeMessage, MESSAGE_TYPE_TAGS } from "../../../src/strong/raft/codec.js";
import type { RaftCore, RequestResult } from "../../../src/strong/raft/core.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import type { Message } from "../../../src/strong/raft/messages.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import { asIndex, asNodeId, type ConfChange, type NodeId } from "../../../src/strong/raft/types.js";
import { SafetyChecker, SafetyViolation } from "./raft-invariants.js";
import {
  applyEntry,
  decodeStateMachine,
  describeEntry,
  emptyStateMachine,
  encodeStateMachine,
  utf8,
  type StateMachine,
} from "./raft-state-machine.js";

/** Virtual milliseconds per Raft tick. */
export const TICK_MS = 10;
/** Election timeout in ticks (followers campaign after [10, 20) ticks of silence). */
export const ELECTION_TICKS = 10;

/** Core options a run varies. */
export interface RaftTuning {
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly heartbeatTicks: number;
  readonly maxMessageBytes: number;
  readonly maxInflightMessages: number;
  readonly snapshotChunkBytes: number;
  /** Committed payload bytes per Ready (0 = no limit); default the core's. */
  readonly maxCommittedBytesPerReady?: number;
  /**
   * "safe" (default) or "lease" (thesis 6.4.1; requires checkQuorum). A lease is correct only
   * while every server's clock ticks at the same rate within a tick: the world's clocks do, but a
   * pause stops one process's clock, so {@link RaftWorld.pause} refuses in lease runs.
   */
  readonly readOnly?: "safe" | "lease";
}

/** Disk write latency in virtual ms: uniform in [minMs, maxMs], or `slowMs` with `slowChance`. */
export interface DiskProfile {
  readonly minMs: number;
  readonly maxMs: number;
  readonly slowChance: number;
  readonly slowMs: number;
}

/** Everything that defines a world; the same options give the same run. */
export interface WorldOptions {
  readonly seed: number;
  /** Founding voters. */
  readonly size: number;
  /** Servers that start empty, outside the cluster, and may be added later. */
  readonly spares: number;
  readonly tuning: RaftTuning;
  readonly disk: DiskProfile;
  readonly delay: DelayDistribution;
  readonly loss: number;
  readonly duplicate: number;
  /**
   * false (default): the state machine is volatile and rebuilt from the snapshot on restart.
   * true: it is durable on apply (it survives a crash as of its last applied entry), so a restart
   * passes `applied` beyond the snapshot index and nothing is applied twice.
   */
  readonly durableStateMachine?: boolean;
  /** Partitions close connections (transports see `down`, the driver reports unreachable peers). */
  readonly disconnectOnPartition?: boolean;
}

/** A disk write in flight: the Ready being persisted; `durable` once it reached the disk. */
interface PendingWrite {
  readonly rd: Ready;
  durable: boolean;
}

type Held = { readonly kind: "message"; readonly bytes: Uint8Array } | { readonly kind: "down"; readonly peer: PeerId };

/** One process lifetime of a server. */
export interface Incarnation {
  readonly number: number;
  readonly core: RaftCore;
  readonly transport: Transport;
  sm: StateMachine;
  write: PendingWrite | null;
  /** Virtual ms until which the process is frozen (see the file comment). */
  pausedUntil: number;
  readonly held: Held[];
  alive: boolean;
}

/** One server: its id and durable storage survive crashes; `inc` is its running process, if any. */
export class SimNode {
  inc: Incarnation | null = null;
  incarnations = 0;
  /** With a durable state machine: the one the last incarnation left. */
  durableSm: StateMachine | null = null;
  constructor(
    readonly index: number,
    readonly id: NodeId,
    readonly storage: MemoryRaftStorage,
    readonly rng: Rng,
  ) {}
}

/** Events kept for violation reports (`SIM_TRACE` raises it when debugging a replay). */
const TRACE_LENGTH = Number(process.env["SIM_TRACE"] ?? 60);

/** The simulated cluster. Drive it with {@link advance} and the request methods. */
export class RaftWorld {
  readonly clock = new VirtualClock({ settle: () => Promise.resolve() });
  readonly net: SimNetwork;
  readonly nodes: SimNode[];
  readonly check: SafetyChecker;
  /**
   * Called (synchronously, after the checks) when a server is first seen leading a term
   * (`"elected"`) and when a leader's commit index advances (`"committed"`); a schedule's
   * adversary may react. It MUST NOT call back into the world synchronously: it schedules what it
   * does on the clock.
   */
  onLeaderEvent: ((node: SimNode, event: "elected" | "committed") => void) | null = null;
  /** A hash of every event, in order: equal for two runs of the same options and schedule. */
  eventHash = 0x2545f491;
  private readonly diskRng: Rng;
  private readonly tornRng: Rng;
  private readonly trace: (readonly [number, string, string, unknown])[] = [];
  private traceAt = 0;

  constructor(readonly options: WorldOptions) {
    const rng = seededRng(options.seed);
    this.net = new SimNetwork({
      clock: this.clock,
      rng: rng.fork(),
      faults: {
        loss: options.loss,
        duplicate: options.duplicate,
        delay: options.delay,
        disconnectOnPartition: options.disconnectOnPartition ?? false,
      },
    });
    this.diskRng = rng.fork();
    this.tornRng = rng.fork();
    const voters = Array.from({ length: options.size }, (_, i) => asNodeId(`n${i + 1}`));
    this.nodes = Array.from({ length: options.size + options.spares }, (_, i) => {
      const id = asNodeId(`n${i + 1}`);
      const storage = i < options.size ? MemoryRaftStorage.bootstrap({ voters, learners: [] }) : new MemoryRaftStorage();
      return new SimNode(i, id, storage, rng.fork());
    });
    this.check = new SafetyChecker(() => this.describeTrace());
  }

  /** Starts every server (spares too: running, empty, outside the cluster). */
  start(): void {
    for (const node of this.nodes) this.boot(node);
  }

  /** Runs `ticks` ticks of virtual time (every timer due meanwhile fires, checks included). */
  async advance(ticks: number): Promise<void> {
    await this.clock.advance(ticks * TICK_MS);
  }

  /** The node named `id`. */
  node(id: NodeId): SimNode | undefined {
    return this.nodes.find((n) => n.id === id);
  }

  /** True when `node` runs and is not frozen. */
  responsive(node: SimNode): boolean {
    return node.inc !== null && !this.paused(node.inc);
  }

  /** The running leader of the highest term, if any. */
  leader(): SimNode | null {
    let best: { node: SimNode; term: number } | null = null;
    for (const node of this.nodes) {
      if (node.inc === null) continue;
      const st = node.inc.core.status();
      if (st.role === "leader" && (best === null || st.term > best.term)) best = { node, term: st.term };
    }
    return best?.node ?? null;
  }

  // --- client requests (refused, as `undefined`, when the process is down or frozen) ---

  /** Proposes `values` (one batch) at `node`. */
  propose(node: SimNode, values: readonly string[]): RequestResult | undefined {
    return this.request(node, "propose", (c) => c.proposeBatch(values.map((v) => ({ kind: "normal", data: utf8(v) }))));
  }

  /** Asks `node` for a ReadIndex read named `context`; the checker records its floor first. */
  read(node: SimNode, context: string): RequestResult | undefined {
    if (!this.responsive(node)) return undefined;
    this.check.onReadAsked(context);
    return this.request(node, "read", (c) => c.readIndex(utf8(context)));
  }

  /** Proposes a membership change at `node`. */
  changeMembership(node: SimNode, change: ConfChange): RequestResult | undefined {
    return this.request(node, `conf ${change.type} ${change.node}`, (c) => c.proposeMembershipChange(change));
  }

  /** Asks `node` to hand leadership to `to`. */
  transfer(node: SimNode, to: NodeId): RequestResult | undefined {
    return this.request(node, `transfer ${to}`, (c) => c.transferLeadership(to));
  }

  /** Makes `node` campaign now. */
  campaign(node: SimNode): void {
    this.request(node, "campaign", (c) => c.campaign());
  }

  private request<T>(node: SimNode, what: string, fn: (core: RaftCore) => T): T | undefined {
    const inc = node.inc;
    if (inc === null || this.paused(inc)) return undefined;
    this.note(node, what, null, 1);
    return this.input(node, inc, fn);
  }

  /**
   * Snapshots `node`'s state machine at its applied index and compacts its storage, keeping the
   * last `keep` entries before that index.
   */
  snapshot(node: SimNode, keep: number): void {
    const inc = node.inc;
    if (inc === null || this.paused(inc)) return;
    const index = asIndex(inc.sm.index);
    const storage = node.storage;
    if (index <= storage.snapshot().meta.index) return;
    this.note(node, `snapshot at ${index}, compact to ${Math.max(0, index - keep)}`, null, 2);
    storage.createSnapshot(index, storage.confStateAt(index), encodeStateMachine(inc.sm));
    storage.compact(asIndex(Math.max(0, index - keep)));
    this.check.onSnapshotCreated(node.id, inc.sm);
  }

  // --- process faults ---

  /**
   * Kills `node`'s process: a write in flight keeps a random prefix of its items; the state
   * machine is lost. Returns how much of the write in flight was kept, or null when none was.
   */
  crash(node: SimNode): { kept: number; items: number } | null {
    const inc = node.inc;
    if (inc === null) return null;
    inc.alive = false;
    node.inc = null;
    if (this.options.durableStateMachine === true) node.durableSm = inc.sm;
    const write = inc.write;
    if (write !== null && !write.durable) {
      const items = (write.rd.snapshot !== null ? 1 : 0) + write.rd.entries.length + (write.rd.hardState !== null ? 1 : 0);
      const kept = this.tornRng.int(0, items);
      this.note(node, `crash, ${kept} of ${items} items of the write in flight kept`, null, 3);
      this.persist(node, write.rd, kept);
      inc.transport.close();
      return { kept, items };
    }
    this.note(node, "crash", null, 3);
    inc.transport.close();
    return null;
  }

  /** Starts `node` again from its durable storage (no-op when it runs). */
  restart(node: SimNode): void {
    if (node.inc === null) this.boot(node);
  }

  /**
   * Freezes `node`'s process for `ticks` ticks. Returns false (and does nothing) when it is down,
   * or in a lease run: a frozen clock is the unbounded drift a lease does not survive.
   */
  pause(node: SimNode, ticks: number): boolean {
    const inc = node.inc;
    if (inc === null || this.options.tuning.readOnly === "lease") return false;
    const until = Math.max(inc.pausedUntil, this.clock.now() + ticks * TICK_MS);
    inc.pausedUntil = until;
    this.note(node, `pause for ${ticks} ticks`, null, 4);
    this.clock.setTimer(until - this.clock.now(), () => this.resume(node, inc, until));
    return true;
  }

  /** Wakes every frozen process now. */
  resumeAll(): void {
    for (const node of this.nodes) {
      const inc = node.inc;
      if (inc !== null && this.paused(inc)) {
        inc.pausedUntil = this.clock.now();
        this.resume(node, inc, inc.pausedUntil);
      }
    }
  }

  private resume(node: SimNode, inc: Incarnation, until: number): void {
    if (!inc.alive || inc.pausedUntil !== until) return;
    this.note(node, "resume", null, 5);
    if (inc.write?.durable === true) this.finishWrite(node, inc);
    while (inc.held.length > 0 && inc.alive && !this.paused(inc)) {
      const h = inc.held.shift()!;
      if (h.kind === "message") this.onMessage(node, inc, h.bytes);
      else this.onDown(node, inc, h.peer);
    }
    if (inc.alive) this.pump(node, inc);
  }

  private paused(inc: Incarnation): boolean {
    return inc.pausedUntil > this.clock.now();
  }

  // --- the driver ---

  private boot(node: SimNode): void {
    const storage = node.storage;
    const snap = storage.snapshot();
    const kept = node.durableSm;
    // A durable state machine older than the snapshot (the snapshot was installed, the crash came
    // before the state machine was replaced) restarts from the snapshot.
    const sm =
      kept !== null && kept.index >= snap.meta.index
        ? kept
        : snap.meta.index > 0
          ? decodeStateMachine(snap.data)
          : emptyStateMachine();
    const t = this.options.tuning;
    const core = createRaft({
      id: node.id,
      storage,
      rng: node.rng.fork(),
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: t.heartbeatTicks,
      applied: asIndex(sm.index),
      preVote: t.preVote,
      checkQuorum: t.checkQuorum,
      maxMessageBytes: t.maxMessageBytes,
      maxInflightMessages: t.maxInflightMessages,
      snapshotChunkBytes: t.snapshotChunkBytes,
      ...(t.maxCommittedBytesPerReady === undefined ? {} : { maxCommittedBytesPerReady: t.maxCommittedBytesPerReady }),
      readOnly: t.readOnly ?? "safe",
    });
    const transport = this.net.join(asPeerId(node.id));
    const inc: Incarnation = { number: ++node.incarnations, core, transport, sm, write: null, pausedUntil: 0, held: [], alive: true };
    node.inc = inc;
    this.note(node, `start (incarnation ${inc.number}, applied ${sm.index})`, null, 6);
    transport.listen({
      message: (_from, bytes) => this.onMessage(node, inc, bytes),
      up: () => undefined,
      down: (peer) => this.onDown(node, inc, peer),
    });
    this.check.onStart(node, inc, inc.number > 1);
    this.pump(node, inc);
    // Nodes tick out of phase with each other, like independent timers.
    this.scheduleTick(node, inc, node.rng.int(1, TICK_MS));
  }

  private scheduleTick(node: SimNode, inc: Incarnation, ms: number): void {
    this.clock.setTimer(ms, () => {
      if (!inc.alive) return;
      if (!this.paused(inc)) {
        this.mix(7, node.index, 0, 0);
        this.input(node, inc, (c) => c.tick());
      }
      this.scheduleTick(node, inc, TICK_MS);
    });
  }

  private onMessage(node: SimNode, inc: Incarnation, bytes: Uint8Array): void {
    if (!inc.alive) return;
    if (this.paused(inc)) {
      inc.held.push({ kind: "message", bytes });
      return;
    }
    let m: Message;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      throw new SafetyViolation("driver-contract", `${node.id} can't decode a message: ${String(e)}`, this.describeTrace());
    }
    this.note(node, "recv", m, MESSAGE_TYPE_TAGS[m.type] * 31 + m.term);
    this.input(node, inc, (c) => c.step(m));
  }

  private onDown(node: SimNode, inc: Incarnation, peer: PeerId): void {
    if (!inc.alive) return;
    if (this.paused(inc)) inc.held.push({ kind: "down", peer });
    else this.input(node, inc, (c) => c.reportUnreachable(asNodeId(peer)));
  }

  /** One input to the core, then the checks, then the Readies it made possible. */
  private input<T>(node: SimNode, inc: Incarnation, fn: (core: RaftCore) => T): T {
    const commit = this.onLeaderEvent === null ? 0 : inc.core.hardState().commit;
    const out = fn(inc.core);
    this.observe(node, inc, commit);
    this.pump(node, inc);
    return out;
  }

  /** The checks after an input, then the adversary's hook; `commitBefore` is the commit index before it. */
  private observe(node: SimNode, inc: Incarnation, commitBefore: number): void {
    const leaderships = this.check.stats.leaderships;
    this.check.afterInput(node, inc);
    if (this.onLeaderEvent === null) return;
    if (this.check.stats.leaderships !== leaderships) this.onLeaderEvent(node, "elected");
    else if (inc.core.hardState().commit > commitBefore && inc.core.status().role === "leader") this.onLeaderEvent(node, "committed");
  }

  /** Takes Readies while no write is in flight: persists (in virtual time) or finishes each. */
  private pump(node: SimNode, inc: Incarnation): void {
    while (inc.alive && inc.write === null && !this.paused(inc) && inc.core.hasReady()) {
      const rd = inc.core.ready();
      this.note(node, "ready", rd, rd.entries.length * 7 + rd.messages.length * 3 + rd.committed.length);
      this.check.onReady(node, inc, rd);
      if (rd.snapshot === null && rd.entries.length === 0 && rd.hardState === null) {
        this.finish(node, inc, rd);
        continue;
      }
      const write: PendingWrite = { rd, durable: false };
      inc.write = write;
      this.clock.setTimer(this.diskLatency(), () => {
        if (!inc.alive || inc.write !== write) return;
        const items = (rd.snapshot !== null ? 1 : 0) + rd.entries.length + (rd.hardState !== null ? 1 : 0);
        this.persist(node, rd, items);
        write.durable = true;
        if (!this.paused(inc)) this.finishWrite(node, inc);
      });
    }
  }

  private finishWrite(node: SimNode, inc: Incarnation): void {
    const write = inc.write;
    if (write === null) return;
    inc.write = null;
    this.finish(node, inc, write.rd);
    this.pump(node, inc);
  }

  private diskLatency(): number {
    const d = this.options.disk;
    return this.diskRng.chance(d.slowChance) ? d.slowMs : d.minMs + this.diskRng.next() * (d.maxMs - d.minMs);
  }

  /** Writes the first `items` items of `rd` to `node`'s storage, in file order. */
  private persist(node: SimNode, rd: Ready, items: number): void {
    const storage = node.storage;
    let left = items;
    if (rd.snapshot !== null) {
      if (left-- <= 0) return;
      if (storage.applySnapshot(rd.snapshot) !== "applied") {
        const held = storage.snapshot().meta.index;
        throw new SafetyViolation(
          "driver-contract",
          `${node.id} was handed a snapshot at ${rd.snapshot.meta.index} not newer than the one it holds (${held})`,
          this.describeTrace(),
        );
      }
    }
    const n = Math.min(left, rd.entries.length);
    if (n > 0) storage.append(rd.entries.slice(0, n));
    left -= rd.entries.length;
    if (left <= 0 || rd.hardState === null) return;
    this.check.onDurableHardState(node.id, storage.hardState(), rd.hardState);
    storage.setHardState(rd.hardState);
  }

  /** The part of a Ready after persistence: send, apply, serve reads, advance (the caller pumps). */
  private finish(node: SimNode, inc: Incarnation, rd: Ready): void {
    for (const m of rd.messages) inc.transport.send(asPeerId(m.to), encodeMessage(m));
    if (rd.snapshot !== null) inc.sm = decodeStateMachine(rd.snapshot.data);
    for (const e of rd.committed) {
      if (e.index !== inc.sm.index + 1) {
        throw new SafetyViolation("state-machine-safety", `${node.id} applies ${describeEntry(e)} after ${inc.sm.index}`, this.describeTrace());
      }
      applyEntry(inc.sm, e);
      this.check.onApply(node, inc, e);
    }
    // Read states are served once applied >= index; the checker already judged their index.
    const commit = inc.core.hardState().commit;
    inc.core.advance(rd);
    this.observe(node, inc, commit);
  }

  // --- event log ---

  private mix(a: number, b: number, c: number, d: number): void {
    let h = this.eventHash;
    for (const x of [a, b, c, d, Math.round(this.clock.now() * 1000)]) h = Math.imul(h ^ (x | 0), 0x9e3779b1) ^ (h >>> 15);
    this.eventHash = h >>> 0;
  }

  private note(node: SimNode, what: string, detail: unknown, code: number): void {
    this.mix(code, node.index, what.length, 0);
    const entry = [this.clock.now(), node.id, what, detail] as const;
    if (this.trace.length < TRACE_LENGTH) this.trace.push(entry);
    else this.trace[this.traceAt] = entry;
    this.traceAt = (this.traceAt + 1) % TRACE_LENGTH;
  }

  /** The most recent events, oldest first, one per line. */
  describeTrace(): string {
    const ordered = this.trace.length < TRACE_LENGTH ? this.trace : [...this.trace.slice(this.traceAt), ...this.trace.slice(0, this.traceAt)];
    return ordered.map(([at, id, what, detail]) => `${at.toFixed(2).padStart(9)} ${id} ${what} ${describeDetail(detail)}`).join("\n");
  }
}

function describeDetail(detail: unknown): string {
  if (detail === null || typeof detail !== "object") return "";
  if ("type" in detail) return describeMessage(detail as Message);
  const rd = detail as Ready;
  const parts: string[] = [];
  if (rd.hardState !== null) parts.push(`hs(t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit})`);
  if (rd.softState !== null) parts.push(`${rd.softState.role}(leader ${rd.softState.leader})`);
  if (rd.snapshot !== null) parts.push(`snap ${rd.snapshot.meta.index}@${rd.snapshot.meta.term}`);
  if (rd.entries.length > 0) parts.push(`ents [${rd.entries.map(describeEntry).join(", ")}]`);
  if (rd.committed.length > 0) parts.push(`commit ${rd.committed[0]!.index}..${rd.committed[rd.committed.length - 1]!.index}`);
  if (rd.messages.length > 0) parts.push(`msgs [${rd.messages.map(describeMessage).join("; ")}]`);
  if (rd.readStates.length > 0) parts.push(`reads ${rd.readStates.map((r) => r.index).join(",")}`);
  return parts.join(" ");
}

/** One line for a message: type, route, term and the fields that matter. */
export function describeMessage(m: Message): string {
  const head = `${m.type} ${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case "vote":
    case "pre-vote":
      return `${head} last ${m.lastIndex}@${m.lastTerm}${m.transfer ? " transfer" : ""}`;
    case "vote-resp":
    case "pre-vote-resp":
      return `${head} ${m.reject ? "reject" : "grant"}`;
    case "append":
      return `${head} prev ${m.prevIndex}@${m.prevTerm} ents ${m.entries.length > 0 ? `[${m.entries.map(describeEntry).join(", ")}]` : "[]"} commit ${m.commit}`;
    case "append-resp":
      return `${head} ${m.reject ? `reject ${m.index} hint ${m.hintIndex}@${m.hintTerm}` : `ok ${m.index}`}`;
    case "heartbeat":
      return `${head} commit ${m.commit}`;
    case "snapshot":
      return `${head} ${m.meta.index}@${m.meta.term} off ${m.offset}+${m.data.length}${m.done ? " done" : ""}`;
    case "snapshot-resp":
      return `${head} ${m.index} off ${m.offset}${m.reject ? " reject" : ""}`;
    case "read-index-resp":
      return `${head} index ${m.index}`;
    default:
      return head;
  }
}
