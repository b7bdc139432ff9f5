/**
 * Cluster membership, changed one server at a time (thesis 4.1, 4.2).
 *
 * THE RULE (thesis 4.1, not etcd-raft's): a server uses the LATEST configuration in its log,
 * whether or not that entry is committed, from the moment the `conf-change` entry is appended
 * (a leader appending its own proposal, a follower accepting it). When a conflicting suffix is
 * truncated, the configuration reverts with it. Safety then rests on two leader rules, both
 * enforced when a change is proposed:
 *   1. at most one change is uncommitted at a time (the latest conf-change index <= commit);
 *   2. the leader has committed an entry of its current term (Ongaro's 2015 fix for the
 *      single-server change bug: its term's no-op must be committed first).
 * A leader that removed itself keeps leading, without counting itself, until the removal commits,
 * then steps down (thesis 4.2.2). Likewise a server whose log removes it in an entry not yet
 * known committed still campaigns (it may be needed to commit that removal: thesis 4.2.2), but
 * counts only the votes of its latest configuration's voters, never its own. A learner catches up before it may be promoted
 * (thesis 4.2.1): `promote` is refused until its match reaches the leader's commit index.
 *
 * Persistence: nothing extra. The configuration in force is recomputed from durable state: the
 * snapshot's `conf` (storage `initialState().confState`, the membership at `firstIndex() - 1`)
 * plus every `conf-change` entry of the log after it, replayed in order.
 *
 * Bootstrap: the first members start from the same log, {@link bootstrapEntries} (one committed
 * `add-voter` / `add-learner` entry per member at term 1), so a server added later learns the
 * full membership through ordinary replication or a snapshot. A server joining later starts
 * from an empty storage (no membership: it neither votes nor campaigns until the log says so).
 */
import { asIndex, asTerm, type ConfChange, type ConfState, type Entry, type HardState, type LogIndex, type NodeId } from "./types.js";

/** No members at all: the membership of a server that has not joined yet. */
export const EMPTY_CONF: ConfState = { voters: [], learners: [] };

/** True when `id` votes in `conf`. */
export function isVoter(conf: ConfState, id: NodeId): boolean {
  return conf.voters.includes(id);
}

/** True when `id` is a learner in `conf`. */
export function isLearner(conf: ConfState, id: NodeId): boolean {
  return conf.learners.includes(id);
}

/** Voters and learners of `conf`, sorted by id (the deterministic iteration order). */
export function members(conf: ConfState): NodeId[] {
  return sortIds([...conf.voters, ...conf.learners]);
}

/** Sorts node ids by code unit order (deterministic, locale-independent). */
export function sortIds(ids: readonly NodeId[]): NodeId[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** True when both have the same voters and the same learners. */
export function sameConf(a: ConfState, b: ConfState): boolean {
  const eq = (x: readonly NodeId[], y: readonly NodeId[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(sortIds(a.voters), sortIds(b.voters)) && eq(sortIds(a.learners), sortIds(b.learners));
}

/**
 * The membership after `change`, or why the change makes no sense for `conf`. Pure and
 * deterministic: every server computes the same result from the same log.
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState | { readonly error: string } {
  const { node } = change;
  const voter = isVoter(conf, node);
  const learner = isLearner(conf, node);
  switch (change.type) {
    case "add-learner":
      if (voter) return { error: `${node} is already a voter` };
      if (learner) return { error: `${node} is already a learner` };
      return { voters: conf.voters, learners: sortIds([...conf.learners, node]) };
    case "add-voter":
      if (voter) return { error: `${node} is already a voter` };
      if (learner) return { error: `${node} is a learner: promote it instead` };
      return { voters: sortIds([...conf.voters, node]), learners: conf.learners };
    case "promote":
      if (voter) return { error: `${node} is already a voter` };
      if (!learner) return { error: `${node} is not a learner: add it as a learner first` };
      return { voters: sortIds([...conf.voters, node]), learners: conf.learners.filter((n) => n !== node) };
    case "remove":
      if (!voter && !learner) return { error: `${node} is not a member` };
      if (voter && conf.voters.length === 1) return { error: `${node} is the last voter: the cluster would have none` };
      return { voters: conf.voters.filter((n) => n !== node), learners: conf.learners.filter((n) => n !== node) };
    default:
      return { error: `unknown change ${JSON.stringify(change)}` };
  }
}

/** `conf` after every `conf-change` entry of `entries`, in order (invalid changes change nothing). */
export function replayConf(conf: ConfState, entries: readonly Entry[]): ConfState {
  let out = conf;
  for (const e of entries) {
    if (e.kind !== "conf-change") continue;
    const next = applyConfChange(out, e.change);
    if (!("error" in next)) out = next;
  }
  return out;
}

/**
 * The log every founding member of a new cluster starts from: one `add-voter` per voter, then one
 * `add-learner` per learner, at term 1 and indexes 1..n, all committed. Every founding member
 * MUST start from the same `conf`; servers added later start empty instead.
 */
export function bootstrapEntries(conf: ConfState): { entries: Entry[]; hardState: HardState } {
  const changes: ConfChange[] = [
    ...sortIds(conf.voters).map((node): ConfChange => ({ type: "add-voter", node })),
    ...sortIds(conf.learners).map((node): ConfChange => ({ type: "add-learner", node })),
  ];
  const entries = changes.map((change, i): Entry => ({ kind: "conf-change", term: asTerm(1), index: asIndex(i + 1), change }));
  return { entries, hardState: { term: asTerm(entries.length > 0 ? 1 : 0), vote: null, commit: asIndex(entries.length) } };
}

/**
 * The membership in force on one server: a base (as of `baseIndex`, the snapshot) plus the
 * configurations of the `conf-change` entries in its log after it, newest last. Follows the log:
 * the caller reports appends, truncations and snapshot installs.
 */
export class ConfTracker {
  private base: ConfState;
  private baseIndex: LogIndex;
  private history: { index: LogIndex; conf: ConfState }[] = [];

  constructor(base: ConfState, baseIndex: LogIndex) {
    this.base = base;
    this.baseIndex = baseIndex;
  }

  /** The configuration in force: the latest in the log. */
  current(): ConfState {
    return this.history[this.history.length - 1]?.conf ?? this.base;
  }

  /** The configuration as of `index` (the latest one at or below it). Requires `index` >= the base index. */
  confAt(index: LogIndex): ConfState {
    let conf = this.base;
    for (const h of this.history) {
      if (h.index > index) break;
      conf = h.conf;
    }
    return conf;
  }

  /** Index of the latest `conf-change` entry in the log (or of the base). */
  latestIndex(): LogIndex {
    return this.history[this.history.length - 1]?.index ?? this.baseIndex;
  }

  /** Entries were appended to the log (after any truncation was reported). */
  onAppend(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.kind !== "conf-change") continue;
      const next = applyConfChange(this.current(), e.change);
      this.history.push({ index: e.index, conf: "error" in next ? this.current() : next });
    }
  }

  /** The log was truncated from `index` on: configurations of those entries are undone. */
  truncateFrom(index: LogIndex): void {
    while (this.history.length > 0 && (this.history[this.history.length - 1]?.index ?? 0) >= index) this.history.pop();
  }

  /** A snapshot replaced the log: `conf` is in force as of `index`. */
  restore(conf: ConfState, index: LogIndex): void {
    this.base = conf;
    this.baseIndex = index;
    this.history = [];
  }

  /** Folds configurations at or below `index` (committed, never truncated) into the base. */
  compactTo(index: LogIndex): void {
    while (this.history.length > 0 && (this.history[0]?.index ?? Infinity) <= index) {
      const first = this.history.shift();
      if (first !== undefined) {
        this.base = first.conf;
        this.baseIndex = first.index;
      }
    }
  }
}
