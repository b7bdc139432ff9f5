/**
 * The binary codec of Raft messages ({@link Message}, STYLE.md section 4): versioned, symmetric
 * (every write has its read, in the same order) and canonical (a decoded message re-encodes to the
 * very bytes it came from). Primitives are in `src/codec/primitives.ts` (bound to this format in
 * `codec-primitives.ts`); entries, membership, hard state and snapshot metadata, which the storage
 * also persists, in `codec-entries.ts`.
 *
 * A message is `u8 version (1)`, `u8 type`, `node from`, `node to`, `uint term`, then the body:
 * the variant's own fields in the order `messages.ts` declares them.
 *
 * | tag | type | body |
 * |---|---|---|
 * | 1 | vote | `uint lastIndex`, `uint lastTerm`, `bool transfer` |
 * | 2 | pre-vote | same as vote |
 * | 3 | vote-resp | `bool reject` |
 * | 4 | pre-vote-resp | `bool reject` |
 * | 5 | append | `uint prevIndex`, `uint prevTerm`, `list<entry> entries`, `uint commit` |
 * | 6 | append-resp | `bool reject`, `uint index`, `uint hintIndex`, `uint hintTerm` |
 * | 7 | heartbeat | `uint commit`, `opt<bytes> context` |
 * | 8 | heartbeat-resp | `opt<bytes> context` |
 * | 9 | snapshot | `snapshotMeta meta`, `uint offset`, `bytes data`, `bool done` |
 * | 10 | snapshot-resp | `uint index`, `uint offset`, `bool reject` |
 * | 11 | timeout-now | (empty) |
 * | 12 | propose | `list<proposal> proposals` |
 * | 13 | read-index | `bytes context` |
 * | 14 | read-index-resp | `uint index`, `bytes context` |
 * | 15 | transfer-leader | `node target` |
 *
 * `proposal`: `u8 kind` (the entry kind numbers: 1 normal, 3 conf-change), then `bytes data`
 * (normal) or `confChange change` (conf-change).
 *
 * Any layout change MUST bump `RAFT_CODEC_VERSION`: golden bytes in `test/strong/raft-codec.test.ts`
 * fail on an accidental one.
 */
import { InvariantError, assertNever } from "../../errors.js";
import {
  ENTRY_KIND_BY_TAG,
  ENTRY_KIND_TAGS,
  readConfChange,
  readEntry,
  readSnapshotMeta,
  writeConfChange,
  writeEntry,
  writeSnapshotMeta,
} from "./codec-entries.js";
import { Reader, Writer, decodeVersioned, encodeVersioned, tagLookup } from "../../codec/primitives.js";
import { RAFT_FORMAT, type DecodeLimits } from "./codec-primitives.js";
import type { Envelope, Message, MessageType, Proposal } from "./messages.js";
import { asIndex, asNodeId, asTerm, type Entry, type LogIndex, type Term } from "./types.js";

/** Wire tag of each message type. Compile-time exhaustive: a new variant must get a tag here. */
export const MESSAGE_TYPE_TAGS: { readonly [T in MessageType]: number } = {
  vote: 1,
  "pre-vote": 2,
  "vote-resp": 3,
  "pre-vote-resp": 4,
  append: 5,
  "append-resp": 6,
  heartbeat: 7,
  "heartbeat-resp": 8,
  snapshot: 9,
  "snapshot-resp": 10,
  "timeout-now": 11,
  propose: 12,
  "read-index": 13,
  "read-index-resp": 14,
  "transfer-leader": 15,
};

const MESSAGE_TYPE_BY_TAG = tagLookup(MESSAGE_TYPE_TAGS);

/**
 * Encodes `m` into a fresh buffer; {@link decodeMessage} returns a message deep-equal to `m`.
 *
 * Never throws for a message a correct core produces. Throws `InvalidArgument` for a node id that
 * `invalidNodeIdReason` refuses, and an {@link InvariantError} (a caller bug) for anything the
 * decoder would refuse: a term, index, offset or commit that is not a non-negative safe integer;
 * append entries that do not continue (prevIndex, prevTerm) with consecutive indexes and
 * non-decreasing terms no higher than the message term; a snapshot chunk whose offset + length is
 * above 2^53 - 1; a conf state that names a node twice.
 */
export function encodeMessage(m: Message): Uint8Array {
  return encodeVersioned(RAFT_FORMAT, (w) => {
    w.tag(MESSAGE_TYPE_TAGS[m.type]);
    w.id(m.from, "from");
    w.id(m.to, "to");
    w.uint(m.term, "term");
    writeBody(w, m);
  });
}

function writeBody(w: Writer, m: Message): void {
  switch (m.type) {
    case "vote":
    case "pre-vote":
      w.uint(m.lastIndex, `${m.type}.lastIndex`);
      w.uint(m.lastTerm, `${m.type}.lastTerm`);
      w.bool(m.transfer);
      return;
    case "vote-resp":
    case "pre-vote-resp":
      w.bool(m.reject);
      return;
    case "append":
      w.uint(m.prevIndex, "append.prevIndex");
      w.uint(m.prevTerm, "append.prevTerm");
      w.count(m.entries.length, "append.entries");
      m.entries.forEach((entry, i) => {
        const problem = appendOrderProblem(m, i === 0 ? null : m.entries[i - 1]!, entry, i);
        if (problem !== null) throw new InvariantError(`raft codec: append.entries[${i}] ${problem}`);
        writeEntry(w, entry, `append.entries[${i}]`);
      });
      w.uint(m.commit, "append.commit");
      return;
    case "append-resp":
      w.bool(m.reject);
      w.uint(m.index, "append-resp.index");
      w.uint(m.hintIndex, "append-resp.hintIndex");
      w.uint(m.hintTerm, "append-resp.hintTerm");
      return;
    case "heartbeat":
      w.uint(m.commit, "heartbeat.commit");
      w.optionalBytes(m.context);
      return;
    case "heartbeat-resp":
      w.optionalBytes(m.context);
      return;
    case "snapshot":
      writeSnapshotMeta(w, m.meta, "snapshot.meta");
      w.uint(m.offset, "snapshot.offset");
      if (!Number.isSafeInteger(m.offset + m.data.byteLength)) {
        throw new InvariantError(`raft codec: snapshot.data ends at offset ${m.offset} + ${m.data.byteLength} bytes, beyond 2^53 - 1`);
      }
      w.bytes(m.data);
      w.bool(m.done);
      return;
    case "snapshot-resp":
      w.uint(m.index, "snapshot-resp.index");
      w.uint(m.offset, "snapshot-resp.offset");
      w.bool(m.reject);
      return;
    case "timeout-now":
      return;
    case "propose":
      w.count(m.proposals.length, "propose.proposals");
      m.proposals.forEach((p, i) => writeProposal(w, p, `propose.proposals[${i}]`));
      return;
    case "read-index":
      w.bytes(m.context);
      return;
    case "read-index-resp":
      w.uint(m.index, "read-index-resp.index");
      w.bytes(m.context);
      return;
    case "transfer-leader":
      w.id(m.target, "transfer-leader.target");
      return;
    default:
      assertNever(m, "raft message");
  }
}

/**
 * Decodes one message. Throws ONLY a `ConcordError`: `TooLarge` when `bytes` is longer than
 * `limits.maxBytes`; otherwise `Protocol`, naming the field and byte offset, for a version other
 * than 1 (named), an unknown type or kind tag, truncation, trailing bytes, a varint that is
 * overlong or above 2^53 - 1, a bool other than 0/1, a node id that is empty, too long or not
 * UTF-8, append entries out of order (see {@link encodeMessage}), a snapshot chunk ending beyond
 * 2^53 - 1, a conf state naming a node twice.
 *
 * Byte fields of the result (entry and proposal data, contexts, snapshot data) are COPIES: the
 * message never aliases `bytes`, so the caller may reuse that buffer and the core may retain entries.
 */
export function decodeMessage(bytes: Uint8Array, limits?: DecodeLimits): Message {
  return decodeVersioned(RAFT_FORMAT, "raft message", bytes, limits, (r: Reader): Message => {
    const at = r.offset;
    const tag = r.u8("type");
    const type = MESSAGE_TYPE_BY_TAG.get(tag);
    if (type === undefined) return r.fail("type", `has the unknown tag ${tag} (known: 1 to ${MESSAGE_TYPE_BY_TAG.size})`, at);
    const envelope: Envelope = { from: asNodeId(r.id("from")), to: asNodeId(r.id("to")), term: asTerm(r.uint("term")) };
    return readBody(r, type, envelope);
  });
}

/** Object literals evaluate in source order, which here is the wire order. */
function readBody(r: Reader, type: MessageType, env: Envelope): Message {
  switch (type) {
    case "vote":
    case "pre-vote":
      return {
        ...env,
        type,
        lastIndex: asIndex(r.uint(`${type}.lastIndex`)),
        lastTerm: asTerm(r.uint(`${type}.lastTerm`)),
        transfer: r.bool(`${type}.transfer`),
      };
    case "vote-resp":
    case "pre-vote-resp":
      return { ...env, type, reject: r.bool(`${type}.reject`) };
    case "append": {
      const prevIndex = asIndex(r.uint("append.prevIndex"));
      const prevTerm = asTerm(r.uint("append.prevTerm"));
      const count = r.count("append.entries");
      const entries: Entry[] = [];
      for (let i = 0; i < count; i++) {
        const at = r.offset;
        const entry = readEntry(r, `append.entries[${i}]`);
        const problem = appendOrderProblem({ prevIndex, prevTerm, term: env.term }, i === 0 ? null : entries[i - 1]!, entry, i);
        if (problem !== null) r.fail(`append.entries[${i}]`, problem, at);
        entries.push(entry);
      }
      return { ...env, type, prevIndex, prevTerm, entries, commit: asIndex(r.uint("append.commit")) };
    }
    case "append-resp":
      return {
        ...env,
        type,
        reject: r.bool("append-resp.reject"),
        index: asIndex(r.uint("append-resp.index")),
        hintIndex: asIndex(r.uint("append-resp.hintIndex")),
        hintTerm: asTerm(r.uint("append-resp.hintTerm")),
      };
    case "heartbeat":
      return { ...env, type, commit: asIndex(r.uint("heartbeat.commit")), context: r.optionalBytes("heartbeat.context") };
    case "heartbeat-resp":
      return { ...env, type, context: r.optionalBytes("heartbeat-resp.context") };
    case "snapshot": {
      const meta = readSnapshotMeta(r, "snapshot.meta");
      const offset = r.uint("snapshot.offset");
      const at = r.offset;
      const data = r.bytes("snapshot.data");
      if (!Number.isSafeInteger(offset + data.byteLength)) {
        r.fail("snapshot.data", `ends at offset ${offset} + ${data.byteLength} bytes, beyond 2^53 - 1`, at);
      }
      return { ...env, type, meta, offset, data, done: r.bool("snapshot.done") };
    }
    case "snapshot-resp":
      return {
        ...env,
        type,
        index: asIndex(r.uint("snapshot-resp.index")),
        offset: r.uint("snapshot-resp.offset"),
        reject: r.bool("snapshot-resp.reject"),
      };
    case "timeout-now":
      return { ...env, type };
    case "propose": {
      const count = r.count("propose.proposals");
      const proposals: Proposal[] = [];
      for (let i = 0; i < count; i++) proposals.push(readProposal(r, `propose.proposals[${i}]`));
      return { ...env, type, proposals };
    }
    case "read-index":
      return { ...env, type, context: r.bytes("read-index.context") };
    case "read-index-resp":
      return { ...env, type, index: asIndex(r.uint("read-index-resp.index")), context: r.bytes("read-index-resp.context") };
    case "transfer-leader":
      return { ...env, type, target: asNodeId(r.id("transfer-leader.target")) };
    default:
      return assertNever(type, "raft message type");
  }
}

/**
 * Why `entry`, the `i`-th of an append, cannot follow `previous` (null for the first: it follows
 * (prevIndex, prevTerm)), or null. Only what every correct leader satisfies: the entries continue
 * its log right after prevIndex, so indexes are consecutive, terms never decrease (a log's terms
 * only grow, paper 5.3), and none is newer than the term the leader is in.
 */
function appendOrderProblem(
  m: { readonly prevIndex: LogIndex; readonly prevTerm: Term; readonly term: Term },
  previous: Entry | null,
  entry: Entry,
  i: number,
): string | null {
  const [index, term, name] = previous === null ? [m.prevIndex, m.prevTerm, "prevIndex"] : [previous.index, previous.term, `entries[${i - 1}]`];
  if (entry.index !== index + 1) return `has index ${entry.index}, expected ${index + 1} (${name} + 1)`;
  if (entry.term < term) return `has term ${entry.term}, lower than the term ${term} of ${name}`;
  if (entry.term > m.term) return `has term ${entry.term}, higher than the message's term ${m.term}`;
  return null;
}

function writeProposal(w: Writer, p: Proposal, field: string): void {
  w.tag(ENTRY_KIND_TAGS[p.kind]);
  switch (p.kind) {
    case "normal":
      w.bytes(p.data);
      return;
    case "conf-change":
      writeConfChange(w, p.change, `${field}.change`);
      return;
    default:
      assertNever(p, "proposal");
  }
}

function readProposal(r: Reader, field: string): Proposal {
  const at = r.offset;
  const tag = r.u8(`${field}.kind`);
  const kind = ENTRY_KIND_BY_TAG.get(tag);
  if (kind === "normal") return { kind, data: r.bytes(`${field}.data`) };
  if (kind === "conf-change") return { kind, change: readConfChange(r, `${field}.change`) };
  return r.fail(`${field}.kind`, `has the tag ${tag}, which is not a proposal kind (1 normal, 3 conf-change)`, at);
}
