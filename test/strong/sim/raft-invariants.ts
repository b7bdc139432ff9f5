/**
 * The safety checker of the Raft simulation: a global observer the world calls after EVERY event
 * (a tick, a message delivered, a disk write finished, a client request, a crash, a restart) and
 * at every Ready. It keeps what it needs across all nodes and all incarnations and throws a
 * {@link SafetyViolation} at the first broken property (paper figure 3, thesis 6.4):
 *
 * | invariant | checked |
 * |---|---|
 * | election safety: at most one leader per term | after every input, on `status()` |
 * | leader append-only: a leader never rewrites or drops an entry in its term | after every input (its last index never shrinks) and at every Ready of its term after the first (pure append after the durable log, no snapshot) |
 * | log matching: same (index, term) means same entry and same predecessor | at every Ready, on every entry handed out to persist (so on every durable log, which holds prefixes of those); pairwise over durable logs at {@link checkDurableLogs} |
 * | leader completeness: an entry committed in term t is in every leader's log of a term > t | at the first Ready of each leadership (its whole log then), and again whenever an entry becomes known committed (against every leadership recorded) |
 * | state machine safety: one entry per index, everywhere, forever | committed entries at every Ready, applies (hash chain per index), snapshots created and installed |
 * | term and commit never decrease; one vote per term | per incarnation after every input; durable hard states at every write; status after every restart |
 * | ReadIndex: a read point covers every index committed before the read was asked | at every ReadState |
 *
 * "Known committed" is what some node handed out as committed entries; the term it committed in
 * is bounded by the lowest term any node was in when it handed it out (a node only learns of a
 * commit from a leader of its term or an earlier one, or from its own durable state).
 */
import type { RaftCore } from "../../../src/strong/raft/core.js";
import type { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import { asIndex, type Entry, type HardState, type NodeId, type ReadState, type Snapshot } from "../../../src/strong/raft/types.js";
import { decodeStateMachine, describeEntry, HASH_SEED, type StateMachine } from "./raft-state-machine.js";

/** The properties checked. */
export type Invariant =
  | "election-safety"
  | "leader-append-only"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "monotonic-term-commit"
  | "vote-once"
  | "read-index"
  | "driver-contract";

/** A broken safety property, with the recent simulation events that led to it. */
export class SafetyViolation extends Error {
  override readonly name = "SafetyViolation";
  constructor(
    readonly invariant: Invariant,
    readonly detail: string,
    trace: string,
  ) {
    super(`${invariant}: ${detail}\n--- last events ---\n${trace}`);
  }
}

/** One node as the checker sees it: its id and its durable storage (shared by its incarnations). */
export interface NodeView {
  readonly id: NodeId;
  readonly storage: MemoryRaftStorage;
}

/** One incarnation (process lifetime) of a node: its core and its volatile state machine. */
export interface IncarnationView {
  readonly core: RaftCore;
  readonly sm: StateMachine;
}

/** What the checker remembers of one incarnation. */
interface IncarnationObs {
  term: number;
  commit: number;
  /** Hard state of the last Ready handed out (or loaded). */
  hard: HardState;
  /** Index of the next committed entry this incarnation must hand out. */
  nextCommitted: number;
  /** Its leadership in `term`, once seen; `firstReady` once its first Ready as leader was handed out. */
  lead: { term: number; lastIndex: number; firstReady: boolean } | null;
}

/** A leader's whole log at the start of its leadership: entries after `base` (covered by a snapshot). */
interface LeaderLog {
  readonly term: number;
  readonly id: NodeId;
  readonly base: number;
  readonly descs: readonly string[];
}

/** How much each property was exercised in a run (to show the checks are not vacuous). */
export interface CheckerStats {
  events: number;
  readies: number;
  entriesHanded: number;
  applies: number;
  leaderships: number;
  completenessChecks: number;
  readsChecked: number;
  durableWrites: number;
  snapshotsInstalled: number;
  snapshotsCreated: number;
  restarts: number;
}

export class SafetyChecker {
  readonly stats: CheckerStats = {
    events: 0,
    readies: 0,
    entriesHanded: 0,
    applies: 0,
    leaderships: 0,
    completenessChecks: 0,
    readsChecked: 0,
    durableWrites: 0,
    snapshotsInstalled: 0,
    snapshotsCreated: 0,
    restarts: 0,
  };
  /** Leader of each term. */
  readonly leaders = new Map<number, NodeId>();
  /** Highest commit index any node reported. */
  maxCommit = 0;
  /** `${index}:${term}` -> the entry's description and its predecessor's term. */
  private readonly entries = new Map<string, { desc: string; prevTerm: number }>();
  /** index -> the entry known committed there, and an upper bound of the term it committed in. */
  private readonly committed = new Map<number, { desc: string; term: number }>();
  /** index -> the state machine hash after applying entries 1..index. */
  private readonly hashAt = new Map<number, number>([[0, HASH_SEED]]);
  private readonly leaderLogs: LeaderLog[] = [];
  /** Read context -> the highest commit index anywhere when it was asked. */
  private readonly readFloors = new Map<string, number>();
  private readonly obs = new WeakMap<IncarnationView, IncarnationObs>();

  /** @param trace describes the recent events, for violation messages. */
  constructor(private readonly trace: () => string) {}

  private fail(invariant: Invariant, detail: string): never {
    throw new SafetyViolation(invariant, detail, this.trace());
  }

  /** A new incarnation started (at the start, or a restart) from `node.storage`. */
  onStart(node: NodeView, inc: IncarnationView, restart: boolean): void {
    const st = inc.core.status();
    const durable = node.storage.hardState();
    if (restart) this.stats.restarts++;
    if (st.term !== durable.term || st.vote !== durable.vote || st.commit < durable.commit) {
      this.fail(
        "monotonic-term-commit",
        `${node.id} restarted with term ${st.term} vote ${st.vote} commit ${st.commit}, but its durable hard state is term ${durable.term} vote ${durable.vote} commit ${durable.commit}`,
      );
    }
    this.checkSnapshotHash(node.id, node.storage.snapshot(), "restart");
    this.obs.set(inc, { term: st.term, commit: st.commit, hard: durable, nextCommitted: inc.sm.index + 1, lead: null });
    this.afterInput(node, inc);
  }

  /** Called after every input to `inc.core` (tick, step, request, advance). */
  afterInput(node: NodeView, inc: IncarnationView): void {
    this.stats.events++;
    const o = this.obsOf(inc);
    const st = inc.core.status();
    if (st.term < o.term) this.fail("monotonic-term-commit", `${node.id}'s term went back from ${o.term} to ${st.term}`);
    if (st.commit < o.commit) this.fail("monotonic-term-commit", `${node.id}'s commit index went back from ${o.commit} to ${st.commit}`);
    if (st.commit > st.lastIndex) this.fail("log-matching", `${node.id} commits ${st.commit} beyond its last index ${st.lastIndex}`);
    o.term = st.term;
    o.commit = st.commit;
    if (st.commit > this.maxCommit) this.maxCommit = st.commit;
    if (st.role === "leader") {
      const other = this.leaders.get(st.term);
      if (other !== undefined && other !== node.id) this.fail("election-safety", `${node.id} and ${other} both lead term ${st.term}`);
      if (other === undefined) {
        this.leaders.set(st.term, node.id);
        this.stats.leaderships++;
      }
      if (o.lead === null || o.lead.term !== st.term) o.lead = { term: st.term, lastIndex: st.lastIndex, firstReady: false };
    }
    if (o.lead !== null && o.lead.term === st.term) {
      if (st.lastIndex < o.lead.lastIndex) {
        this.fail("leader-append-only", `${node.id}, leader of term ${st.term}, shrank its log from ${o.lead.lastIndex} to ${st.lastIndex}`);
      }
      o.lead.lastIndex = st.lastIndex;
    }
  }

  /**
   * `rd` was just handed out by `inc` (of `node`), whose storage holds everything handed out
   * before (one Ready at a time): nothing of `rd` is persisted yet.
   */
  onReady(node: NodeView, inc: IncarnationView, rd: Ready): void {
    this.stats.readies++;
    const o = this.obsOf(inc);
    const hs = inc.core.hardState();
    const storage = node.storage;
    if (o.lead !== null && o.lead.term === hs.term) {
      if (!o.lead.firstReady) {
        o.lead.firstReady = true;
        this.recordLeaderLog(node, rd, hs.term);
      } else if (rd.snapshot !== null) {
        this.fail("leader-append-only", `${node.id}, leader of term ${hs.term}, installs a snapshot at ${rd.snapshot.meta.index}`);
      } else if (rd.entries.length > 0 && rd.entries[0]!.index !== storage.lastIndex() + 1) {
        this.fail(
          "leader-append-only",
          `${node.id}, leader of term ${hs.term}, rewrites its log from ${rd.entries[0]!.index} (its log ends at ${storage.lastIndex()})`,
        );
      }
    }
    this.checkHandedEntries(node, rd, hs);
    this.checkHandedHardState(node, o, rd.hardState);
    if (rd.snapshot !== null) {
      this.checkSnapshotHash(node.id, rd.snapshot, "install");
      o.nextCommitted = rd.snapshot.meta.index + 1;
    }
    for (const e of rd.committed) {
      if (e.index !== o.nextCommitted) {
        this.fail("state-machine-safety", `${node.id} hands out committed entry ${e.index}, expected ${o.nextCommitted} next`);
      }
      o.nextCommitted++;
      this.recordCommitted(node.id, e.index, describeEntry(e), hs.term);
    }
    for (const rs of rd.readStates) this.checkReadState(node.id, rs);
  }

  private checkHandedEntries(node: NodeView, rd: Ready, hs: HardState): void {
    const first = rd.entries[0];
    if (first === undefined) return;
    const storage = node.storage;
    let prevTerm: number;
    if (rd.snapshot !== null && first.index - 1 === rd.snapshot.meta.index) {
      prevTerm = rd.snapshot.meta.term;
    } else {
      const t = storage.term(asIndex(first.index - 1));
      if (typeof t !== "number" || first.index - 1 > storage.lastIndex() || rd.snapshot !== null) {
        this.fail("log-matching", `${node.id} hands out entries from ${first.index} that don't follow its log (${t}, snapshot ${rd.snapshot?.meta.index})`);
      }
      prevTerm = t;
    }
    let prevIndex = first.index - 1;
    for (const e of rd.entries) {
      this.stats.entriesHanded++;
      if (e.index !== prevIndex + 1 || e.term < prevTerm || e.term > hs.term) {
        this.fail("log-matching", `${node.id} hands out ${describeEntry(e)} after (${prevIndex}, term ${prevTerm}) in term ${hs.term}`);
      }
      const key = `${e.index}:${e.term}`;
      const desc = describeEntry(e);
      const seen = this.entries.get(key);
      if (seen === undefined) this.entries.set(key, { desc, prevTerm });
      else if (seen.desc !== desc || seen.prevTerm !== prevTerm) {
        this.fail(
          "log-matching",
          `${node.id} holds "${desc}" after term ${prevTerm}; another log holds "${seen.desc}" after term ${seen.prevTerm}`,
        );
      }
      prevIndex = e.index;
      prevTerm = e.term;
    }
  }

  private checkHandedHardState(node: NodeView, o: IncarnationObs, next: HardState | null): void {
    if (next === null) return;
    this.checkHardStateStep(node.id, o.hard, next, "handed out");
    o.hard = next;
  }

  private checkHardStateStep(id: NodeId, prev: HardState, next: HardState, what: string): void {
    if (next.term < prev.term || next.commit < prev.commit) {
      this.fail(
        "monotonic-term-commit",
        `${id}'s ${what} hard state goes from term ${prev.term} commit ${prev.commit} to term ${next.term} commit ${next.commit}`,
      );
    }
    if (next.term === prev.term && prev.vote !== null && next.vote !== prev.vote) {
      this.fail("vote-once", `${id}'s ${what} vote in term ${next.term} changes from ${prev.vote} to ${next.vote}`);
    }
  }

  /** `next` is about to replace the durable hard state `prev` of `id` (the write reached the disk). */
  onDurableHardState(id: NodeId, prev: HardState, next: HardState): void {
    this.stats.durableWrites++;
    this.checkHardStateStep(id, prev, next, "durable");
  }

  /** `inc` applied `e` (already folded into `inc.sm`). */
  onApply(node: NodeView, inc: IncarnationView, e: Entry): void {
    this.stats.applies++;
    const known = this.committed.get(e.index);
    if (known === undefined || known.desc !== describeEntry(e)) {
      this.fail("state-machine-safety", `${node.id} applies "${describeEntry(e)}" where "${known?.desc}" is committed`);
    }
    this.checkHash(node.id, inc.sm.index, inc.sm.hash, "apply");
  }

  /** `id` created a snapshot of its state machine `sm`. */
  onSnapshotCreated(id: NodeId, sm: StateMachine): void {
    this.stats.snapshotsCreated++;
    this.checkHash(id, sm.index, sm.hash, "snapshot");
  }

  /** A read with `context` is asked now: its read point must cover everything committed so far. */
  onReadAsked(context: string): void {
    this.readFloors.set(context, this.maxCommit);
  }

  private checkReadState(id: NodeId, rs: ReadState): void {
    this.stats.readsChecked++;
    const context = new TextDecoder().decode(rs.context);
    const floor = this.readFloors.get(context);
    if (floor === undefined) this.fail("read-index", `${id} got a read state for ${context}, which nobody asked`);
    if (rs.index < floor) this.fail("read-index", `read ${context} on ${id} is served at ${rs.index}, but ${floor} was committed before it was asked`);
    if (rs.index > this.maxCommit) this.fail("read-index", `read ${context} on ${id} is served at ${rs.index}, beyond anything committed (${this.maxCommit})`);
  }

  private checkSnapshotHash(id: NodeId, snap: Snapshot, what: string): void {
    if (snap.meta.index === 0) return;
    if (what === "install") this.stats.snapshotsInstalled++;
    const sm = decodeStateMachine(snap.data);
    if (sm.index !== snap.meta.index) {
      this.fail("state-machine-safety", `${id}'s snapshot at ${snap.meta.index} (${what}) holds a state machine at ${sm.index}`);
    }
    this.checkHash(id, sm.index, sm.hash, `${what} of a snapshot`);
  }

  private checkHash(id: NodeId, index: number, hash: number, what: string): void {
    const known = this.hashAt.get(index);
    if (known === undefined) this.hashAt.set(index, hash);
    else if (known !== hash) this.fail("state-machine-safety", `${id}'s state machine at ${index} (${what}) differs from another node's`);
  }

  private recordCommitted(id: NodeId, index: number, desc: string, term: number): void {
    const known = this.committed.get(index);
    if (known !== undefined && known.desc !== desc) {
      this.fail("state-machine-safety", `${id} commits "${desc}" at ${index}, where "${known.desc}" was committed`);
    }
    if (known !== undefined && known.term <= term) return;
    this.committed.set(index, { desc, term });
    for (const log of this.leaderLogs) if (log.term > term) this.checkLeaderHas(log, index, desc, term);
  }

  /** The first Ready of a leadership: the leader's whole log is its storage plus `rd`. */
  private recordLeaderLog(node: NodeView, rd: Ready, term: number): void {
    const storage = node.storage;
    let base: number;
    let descs: string[];
    if (rd.snapshot !== null) {
      base = rd.snapshot.meta.index;
      descs = [];
    } else {
      base = storage.firstIndex() - 1;
      const stored = storage.entries(storage.firstIndex(), asIndex(storage.lastIndex() + 1), Number.POSITIVE_INFINITY);
      if (typeof stored === "string") this.fail("driver-contract", `${node.id}'s storage can't read its own log: ${stored}`);
      descs = stored.map(describeEntry);
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      descs.length = Math.max(0, Math.min(descs.length, first.index - base - 1));
      for (const e of rd.entries) descs.push(describeEntry(e));
    }
    const log: LeaderLog = { term, id: node.id, base, descs };
    this.leaderLogs.push(log);
    for (const [index, c] of this.committed) if (c.term < term) this.checkLeaderHas(log, index, c.desc, c.term);
  }

  private checkLeaderHas(log: LeaderLog, index: number, desc: string, committedTerm: number): void {
    this.stats.completenessChecks++;
    if (index <= log.base) return; // under the leader's snapshot, whose hash chain was checked
    const held = log.descs[index - log.base - 1];
    if (held !== desc) {
      this.fail(
        "leader-completeness",
        `${log.id} became leader of term ${log.term} holding ${held === undefined ? "nothing" : `"${held}"`} at ${index}, where "${desc}" was committed in term <= ${committedTerm}`,
      );
    }
  }

  private obsOf(inc: IncarnationView): IncarnationObs {
    const o = this.obs.get(inc);
    if (o === undefined) this.fail("driver-contract", "an incarnation the checker was not told about");
    return o;
  }

  /**
   * Log matching over durable logs, pairwise: wherever two logs hold an entry with the same index
   * and term, they hold the same entries at every index both still hold up to there.
   */
  checkDurableLogs(nodes: readonly NodeView[]): void {
    const logs = nodes.map((n) => {
      const s = n.storage;
      const got = s.entries(s.firstIndex(), asIndex(s.lastIndex() + 1), Number.POSITIVE_INFINITY);
      return { id: n.id, first: s.firstIndex() as number, entries: typeof got === "string" ? [] : got };
    });
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        const x = logs[a]!;
        const y = logs[b]!;
        const lo = Math.max(x.first, y.first);
        const hi = Math.min(x.first + x.entries.length, y.first + y.entries.length) - 1;
        let agreeUpTo = -1;
        for (let i = hi; i >= lo; i--) {
          if (x.entries[i - x.first]!.term === y.entries[i - y.first]!.term) {
            agreeUpTo = i;
            break;
          }
        }
        for (let i = lo; i <= agreeUpTo; i++) {
          const dx = describeEntry(x.entries[i - x.first]!);
          const dy = describeEntry(y.entries[i - y.first]!);
          if (dx !== dy) this.fail("log-matching", `durable logs of ${x.id} and ${y.id} agree at ${agreeUpTo} but differ at ${i}: "${dx}" vs "${dy}"`);
        }
      }
    }
  }
}
