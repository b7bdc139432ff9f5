/**
 * Single-core test harness: one core with its MemoryRaftStorage, driven by hand. Tests feed it
 * messages with `step`, then `drain` its Readies (persisting them like a driver) and look at what
 * it sent, applied and read.
 */
import { seededRng } from "../../../src/rng.js";
import type { RaftConfig } from "../../../src/strong/raft/config.js";
import type { RaftCore } from "../../../src/strong/raft/core.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import type { Message, MessageOf, MessageType } from "../../../src/strong/raft/messages.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import type { Ready } from "../../../src/strong/raft/ready.js";
import {
  asIndex,
  asNodeId,
  asTerm,
  type Entry,
  type HardState,
  type ReadState,
  type Snapshot,
} from "../../../src/strong/raft/types.js";
import { bytes, type ConfigOverrides } from "./cluster.js";

/** A core and its storage, with what it produced so far. */
export interface Solo {
  core: RaftCore;
  readonly storage: MemoryRaftStorage;
  /** All messages sent since the last `take`. */
  outbox: Message[];
  committed: Entry[];
  readStates: ReadState[];
  snapshots: Snapshot[];
  hardStates: HardState[];
  readies: Ready[];
}

/** A core `id` in a cluster bootstrapped with `voters` (and `learners`). */
export function solo(
  id: string,
  voters: readonly string[],
  options: { learners?: readonly string[]; config?: ConfigOverrides; seed?: number; storage?: MemoryRaftStorage } = {},
): Solo {
  const storage =
    options.storage ??
    MemoryRaftStorage.bootstrap({ voters: voters.map(asNodeId), learners: (options.learners ?? []).map(asNodeId) });
  const core = createRaft({
    electionTicks: 10,
    heartbeatTicks: 1,
    ...options.config,
    id: asNodeId(id),
    storage,
    rng: seededRng(options.seed ?? 7),
  } as RaftConfig);
  return { core, storage, outbox: [], committed: [], readStates: [], snapshots: [], hardStates: [], readies: [] };
}

/** Processes every pending Ready like a driver (persist, collect messages, apply, advance). */
export function drain(s: Solo): void {
  while (s.core.hasReady()) {
    const rd = s.core.ready();
    s.readies.push(rd);
    if (rd.snapshot !== null) {
      s.storage.applySnapshot(rd.snapshot);
      s.snapshots.push(rd.snapshot);
    }
    s.storage.append(rd.entries);
    if (rd.hardState !== null) {
      s.storage.setHardState(rd.hardState);
      s.hardStates.push(rd.hardState);
    }
    s.outbox.push(...rd.messages);
    s.committed.push(...rd.committed);
    s.readStates.push(...rd.readStates);
    s.core.advance(rd);
  }
}

/** Drains, then returns and clears the messages sent (optionally only those of one type). */
export function take<T extends MessageType>(s: Solo, type?: T): MessageOf<T>[] {
  drain(s);
  const out = type === undefined ? s.outbox : s.outbox.filter((m) => m.type === type);
  s.outbox = type === undefined ? [] : s.outbox.filter((m) => m.type !== type);
  return out as MessageOf<T>[];
}

/** Steps `m` into the core, then drains. */
export function stepAll(s: Solo, ...ms: Message[]): void {
  for (const m of ms) s.core.step(m);
  drain(s);
}

/** Ticks `n` times, draining after each. */
export function ticks(s: Solo, n: number): void {
  for (let i = 0; i < n; i++) {
    s.core.tick();
    drain(s);
  }
}

type Fields<T extends MessageType> = Omit<MessageOf<T>, "from" | "to" | "term" | "type">;

/** Builds a message of `type` from `from` to `to` at `term`. */
export function msg<T extends MessageType>(type: T, from: string, to: string, term: number, fields: Fields<T>): MessageOf<T> {
  return { type, from: asNodeId(from), to: asNodeId(to), term: asTerm(term), ...fields } as unknown as MessageOf<T>;
}

/** A normal entry. */
export function entry(index: number, term: number, data = `e${index}`): Entry {
  return { kind: "normal", index: asIndex(index), term: asTerm(term), data: bytes(data) };
}

/** An append from `from` to `to` at `term`. */
export function append(
  from: string,
  to: string,
  term: number,
  prevIndex: number,
  prevTerm: number,
  entries: Entry[],
  commit: number,
): MessageOf<"append"> {
  return msg("append", from, to, term, { prevIndex: asIndex(prevIndex), prevTerm: asTerm(prevTerm), entries, commit: asIndex(commit) });
}

/** An append answer. */
export function appendResp(from: string, to: string, term: number, index: number, reject = false, hintIndex = 0, hintTerm = 0): MessageOf<"append-resp"> {
  return msg("append-resp", from, to, term, {
    reject,
    index: asIndex(index),
    hintIndex: asIndex(hintIndex),
    hintTerm: asTerm(hintTerm),
  });
}

/** A vote (or pre-vote) request. */
export function voteReq(type: "vote" | "pre-vote", from: string, to: string, term: number, lastIndex: number, lastTerm: number, transfer = false): MessageOf<"vote" | "pre-vote"> {
  return msg(type, from, to, term, { lastIndex: asIndex(lastIndex), lastTerm: asTerm(lastTerm), transfer });
}

/** A vote (or pre-vote) answer. */
export function voteResp(type: "vote-resp" | "pre-vote-resp", from: string, to: string, term: number, reject = false): MessageOf<"vote-resp" | "pre-vote-resp"> {
  return msg(type, from, to, term, { reject });
}

/**
 * Makes `s` (id `id`) the leader of the next term(s): campaigns and grants it every vote (pre-vote
 * first when enabled), then clears its outbox. Returns its term.
 */
export function makeLeader(s: Solo, id: string, peers: readonly string[]): number {
  s.core.campaign();
  drain(s);
  if (s.core.status().role === "pre-candidate") {
    const t = s.core.status().term + 1;
    for (const p of peers) s.core.step(voteResp("pre-vote-resp", p, id, t));
    drain(s);
  }
  const term = s.core.status().term;
  for (const p of peers) {
    if (s.core.status().role !== "candidate") break;
    s.core.step(voteResp("vote-resp", p, id, term));
  }
  drain(s);
  if (s.core.status().role !== "leader") throw new Error(`${id} did not become leader: ${s.core.status().role}`);
  s.outbox = [];
  return s.core.status().term;
}

/** Every entry `storage` holds, in order. */
export function storedEntries(storage: MemoryRaftStorage): Entry[] {
  const got = storage.entries(storage.firstIndex(), asIndex(storage.lastIndex() + 1), Number.POSITIVE_INFINITY);
  if (typeof got === "string") throw new Error(`storage entries: ${got}`);
  return [...got];
}

/** Terms of every entry `storage` holds, in order. */
export function storedTerms(storage: MemoryRaftStorage): number[] {
  return storedEntries(storage).map((e) => e.term);
}

/**
 * A storage for a member of the cluster `voters` whose log, after the bootstrap entries, holds
 * entries of `terms` (one per element), at hard-state term `term`.
 */
export function storageWithLog(voters: readonly string[], terms: readonly number[], term: number, vote: string | null = null): MemoryRaftStorage {
  const storage = MemoryRaftStorage.bootstrap({ voters: voters.map(asNodeId), learners: [] });
  const base = storage.lastIndex();
  storage.append(terms.map((t, i) => entry(base + 1 + i, t)));
  storage.setHardState({ term: asTerm(Math.max(term, 1)), vote: vote === null ? null : asNodeId(vote), commit: asIndex(base) });
  return storage;
}

/**
 * After `makeLeader`: every peer acknowledges the leader's whole log (its no-op included), which
 * commits it and moves the peers to replicate state. Clears the outbox.
 */
export function ackAll(s: Solo, id: string, peers: readonly string[]): void {
  drain(s);
  const term = s.core.status().term;
  const last = s.core.status().lastIndex;
  for (const p of peers) s.core.step(appendResp(p, id, term, last));
  drain(s);
  s.outbox = [];
}

/** Ticks (draining after each) until `done()`; throws after `max` ticks. Returns the ticks used. */
export function tickUntil(s: Solo, done: () => boolean, max = 1_000): number {
  for (let i = 0; i < max; i++) {
    if (done()) return i;
    s.core.tick();
    drain(s);
  }
  if (done()) return max;
  throw new Error(`condition not reached in ${max} ticks`);
}
