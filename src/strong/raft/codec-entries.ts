/**
 * The codec of the Raft log's records: entries, membership, hard state and snapshot metadata.
 * Messages embed them (`codec.ts`); the Raft storage persists them standalone. Primitives (`uint`,
 * `node` (an `id`), `bytes`, `list`, `opt`) are described in `src/codec/primitives.ts`.
 *
 * Embedded forms:
 * - `entry`: `u8 kind` (1 normal, 2 noop, 3 conf-change), `uint term`, `uint index`, then
 *   `bytes data` (normal) or `confChange change` (conf-change).
 * - `confChange`: `u8 type` (1 add-learner, 2 promote, 3 add-voter, 4 remove), `node node`.
 * - `confState`: `list<node> voters`, `list<node> learners`.
 * - `snapshotMeta`: `uint index`, `uint term`, `confState conf`.
 * - `hardState`: `uint term`, `opt<node> vote`, `uint commit`.
 *
 * Standalone records are `u8 version (1)` + the embedded form (`list<entry>` for
 * {@link encodeEntries}). They carry no record-kind byte: the storage's framing says what a record
 * is. Any layout change MUST bump `RAFT_CODEC_VERSION`.
 *
 * Decoders throw ONLY a `ConcordError`: `TooLarge` over `limits.maxBytes`, otherwise `Protocol`
 * naming the field and byte offset. Decoded entry data is a COPY (the log retains it).
 */
import { InvariantError, assertNever } from "../../errors.js";
import { Reader, Writer, decodeVersioned, encodeVersioned, tagLookup } from "../../codec/primitives.js";
import { RAFT_FORMAT, type DecodeLimits } from "./codec-primitives.js";
import {
  asIndex,
  asNodeId,
  asTerm,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type NodeId,
  type SnapshotMeta,
} from "./types.js";

/** Wire tag of each entry kind (compile-time exhaustive); proposals reuse the numbers they share. */
export const ENTRY_KIND_TAGS: { readonly [K in Entry["kind"]]: number } = { normal: 1, noop: 2, "conf-change": 3 };

/** Wire tag of each membership change type (compile-time exhaustive). */
export const CONF_CHANGE_TAGS: { readonly [T in ConfChange["type"]]: number } = {
  "add-learner": 1,
  promote: 2,
  "add-voter": 3,
  remove: 4,
};

export const ENTRY_KIND_BY_TAG = tagLookup(ENTRY_KIND_TAGS);
const CONF_CHANGE_BY_TAG = tagLookup(CONF_CHANGE_TAGS);

/**
 * Encodes one entry as a standalone record. Throws `InvalidArgument` for an invalid node id in a
 * conf change, an {@link InvariantError} for a term or index that is not a non-negative safe integer.
 */
export function encodeEntry(entry: Entry): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => writeEntry(w, entry, "entry"));
}

/** Decodes a record of {@link encodeEntry}. */
export function decodeEntry(bytes: Uint8Array, limits?: DecodeLimits): Entry {
  return decodeVersioned(RAFT_FORMAT, "raft entry", bytes, limits, (r) => readEntry(r, "entry"));
}

/**
 * Encodes a run of the log as one record: consecutive indexes and non-decreasing terms (what a
 * Ready hands out to persist); anything else is an {@link InvariantError}. An empty run is fine.
 */
export function encodeEntries(entries: readonly Entry[]): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => {
    w.count(entries.length, "entries");
    entries.forEach((entry, i) => {
      const problem = i === 0 ? null : runOrderProblem(entries[i - 1]!, entry, i - 1);
      if (problem !== null) throw new InvariantError(`raft codec: entries[${i}] ${problem}`);
      writeEntry(w, entry, `entries[${i}]`);
    });
  });
}

/** Decodes a record of {@link encodeEntries}, refusing a run that skips an index or whose terms decrease. */
export function decodeEntries(bytes: Uint8Array, limits?: DecodeLimits): Entry[] {
  return decodeVersioned(RAFT_FORMAT, "raft entries", bytes, limits, (r) => {
    const count = r.count("entries");
    const entries: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const at = r.offset;
      const entry = readEntry(r, `entries[${i}]`);
      const problem = i === 0 ? null : runOrderProblem(entries[i - 1]!, entry, i - 1);
      if (problem !== null) r.fail(`entries[${i}]`, problem, at);
      entries.push(entry);
    }
    return entries;
  });
}

function runOrderProblem(previous: Entry, entry: Entry, previousAt: number): string | null {
  if (entry.index !== previous.index + 1) return `has index ${entry.index}, expected ${previous.index + 1} (entries[${previousAt}] + 1)`;
  if (entry.term < previous.term) return `has term ${entry.term}, lower than the term ${previous.term} of entries[${previousAt}]`;
  return null;
}

/** Encodes a hard state as a standalone record. */
export function encodeHardState(hs: HardState): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => {
    w.uint(hs.term, "hardState.term");
    w.bool(hs.vote !== null);
    if (hs.vote !== null) w.id(hs.vote, "hardState.vote");
    w.uint(hs.commit, "hardState.commit");
  });
}

/** Decodes a record of {@link encodeHardState}. */
export function decodeHardState(bytes: Uint8Array, limits?: DecodeLimits): HardState {
  return decodeVersioned(RAFT_FORMAT, "raft hard state", bytes, limits, (r) => ({
    term: asTerm(r.uint("hardState.term")),
    vote: r.bool("hardState.vote present") ? asNodeId(r.id("hardState.vote")) : null,
    commit: asIndex(r.uint("hardState.commit")),
  }));
}

/** Encodes snapshot metadata as a standalone record. */
export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => writeSnapshotMeta(w, meta, "meta"));
}

/** Decodes a record of {@link encodeSnapshotMeta}. */
export function decodeSnapshotMeta(bytes: Uint8Array, limits?: DecodeLimits): SnapshotMeta {
  return decodeVersioned(RAFT_FORMAT, "raft snapshot meta", bytes, limits, (r) => readSnapshotMeta(r, "meta"));
}

/**
 * Encodes a membership as a standalone record. A node listed twice (as voter and learner, or twice
 * in one list) is an {@link InvariantError}. Order is kept as given (types.ts says sorted; not checked).
 */
export function encodeConfState(conf: ConfState): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => writeConfState(w, conf, "conf"));
}

/** Decodes a record of {@link encodeConfState}, refusing a node listed twice. */
export function decodeConfState(bytes: Uint8Array, limits?: DecodeLimits): ConfState {
  return decodeVersioned(RAFT_FORMAT, "raft conf state", bytes, limits, (r) => readConfState(r, "conf"));
}

// ---- embedded forms, for messages ----

export function writeEntry(w: Writer, entry: Entry, field: string): void {
  w.tag(ENTRY_KIND_TAGS[entry.kind]);
  w.uint(entry.term, `${field}.term`);
  w.uint(entry.index, `${field}.index`);
  switch (entry.kind) {
    case "normal":
      w.bytes(entry.data);
      break;
    case "noop":
      break;
    case "conf-change":
      writeConfChange(w, entry.change, `${field}.change`);
      break;
    default:
      assertNever(entry, "entry");
  }
}

export function readEntry(r: Reader, field: string): Entry {
  const at = r.offset;
  const tag = r.u8(`${field}.kind`);
  const kind = ENTRY_KIND_BY_TAG.get(tag);
  if (kind === undefined) return r.fail(`${field}.kind`, `has the unknown tag ${tag}`, at);
  const term = asTerm(r.uint(`${field}.term`));
  const index = asIndex(r.uint(`${field}.index`));
  switch (kind) {
    case "normal":
      return { kind, term, index, data: r.bytes(`${field}.data`) };
    case "noop":
      return { kind, term, index };
    case "conf-change":
      return { kind, term, index, change: readConfChange(r, `${field}.change`) };
    default:
      return assertNever(kind, "entry kind");
  }
}

export function writeConfChange(w: Writer, change: ConfChange, field: string): void {
  w.tag(CONF_CHANGE_TAGS[change.type]);
  w.id(change.node, `${field}.node`);
}

export function readConfChange(r: Reader, field: string): ConfChange {
  const at = r.offset;
  const tag = r.u8(`${field}.type`);
  const type = CONF_CHANGE_BY_TAG.get(tag);
  if (type === undefined) return r.fail(`${field}.type`, `has the unknown tag ${tag}`, at);
  return { type, node: asNodeId(r.id(`${field}.node`)) };
}

export function writeSnapshotMeta(w: Writer, meta: SnapshotMeta, field: string): void {
  w.uint(meta.index, `${field}.index`);
  w.uint(meta.term, `${field}.term`);
  writeConfState(w, meta.conf, `${field}.conf`);
}

export function readSnapshotMeta(r: Reader, field: string): SnapshotMeta {
  return {
    index: asIndex(r.uint(`${field}.index`)),
    term: asTerm(r.uint(`${field}.term`)),
    conf: readConfState(r, `${field}.conf`),
  };
}

function writeConfState(w: Writer, conf: ConfState, field: string): void {
  const seen = new Set<string>();
  for (const [list, ids] of [["voters", conf.voters], ["learners", conf.learners]] as const) {
    w.count(ids.length, `${field}.${list}`);
    ids.forEach((id, i) => {
      if (seen.has(id)) throw new InvariantError(`raft codec: ${field}.${list}[${i}] names node ${JSON.stringify(id)} a second time`);
      seen.add(id);
      w.id(id, `${field}.${list}[${i}]`);
    });
  }
}

function readConfState(r: Reader, field: string): ConfState {
  const seen = new Set<string>();
  const readList = (list: "voters" | "learners"): NodeId[] => {
    const count = r.count(`${field}.${list}`);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) {
      const at = r.offset;
      const id = asNodeId(r.id(`${field}.${list}[${i}]`));
      if (seen.has(id)) r.fail(`${field}.${list}[${i}]`, `names node ${JSON.stringify(id)} a second time (voters and learners are disjoint)`, at);
      seen.add(id);
      ids.push(id);
    }
    return ids;
  };
  const voters = readList("voters");
  return { voters, learners: readList("learners") };
}
