/**
 * What `strong` mode commits to its Raft log: the data of each normal entry is one
 * {@link StrongCommand}, and a Raft snapshot's data is one {@link StateSnapshot} of the state
 * machine (`state-machine.ts`). Versioned, canonical binary (STYLE.md section 4), built from the
 * shared primitives and the client protocol's own field layouts (`service/protocol-codec.ts`).
 *
 * A command is `u8 version (1)`, `u8 kind`, `uint proposer`, `uint n`, then:
 *
 * | tag | kind | body |
 * |---|---|---|
 * | 1 | write | `id doc`, `list<condition> conditions`, `list<writeOp> ops`, `opt<session> session` |
 * | 2 | open-session | nothing |
 * | 3 | close-session | `uint session` |
 *
 * (`proposer`, `n`) tag the command with the server process that proposed it and a number of its
 * own, so that the proposer recognizes its command when the entry comes back committed (the core
 * does not say which index a forwarded proposal gets).
 *
 * A snapshot is `u8 version (1)`, `uint index`, `uint term` (the last entry applied), `bytes state`
 * (the key-value state, `KvState.encode`), `list<session>`: `uint id`, `uint lastUsed`,
 * `uint firstUnacked`, `list<answer>`: `uint seq`, `uint index`, `uint term`, `bool succeeded`;
 * sessions by increasing id, answers by increasing seq.
 *
 * Decoders throw ONLY a `ConcordError` (`Protocol` naming the field and byte offset, `TooLarge`).
 * Any layout change MUST bump {@link STRONG_CODEC_VERSION}.
 */
import { decodeVersioned, encodeVersioned, tagLookup, type BinaryFormat, type DecodeLimits, type Reader } from "../codec/primitives.js";
import { assertNever } from "../errors.js";
import { readCondition, readSession, readWriteOp, writeCondition, writeSession, writeWriteOp } from "../service/protocol-codec.js";
import type { WireSession, WriteCondition, WriteOp } from "../service/protocol.js";
import type { SessionAnswer, SessionState } from "./sessions.js";

/** The version of the command and snapshot formats this code writes, and the only one it reads. */
export const STRONG_CODEC_VERSION = 1;

const FORMAT: BinaryFormat = { name: "strong state machine codec", version: STRONG_CODEC_VERSION, idName: "document name" };

/** Who proposed a command: a process (a random number drawn at start) and its own count. */
export interface CommandTag {
  readonly proposer: number;
  readonly n: number;
}

/** One command of the state machine. */
export type StrongCommand =
  | {
      readonly kind: "write";
      readonly tag: CommandTag;
      readonly doc: string;
      readonly conditions: readonly WriteCondition[];
      readonly ops: readonly WriteOp[];
      readonly session: WireSession | null;
    }
  | { readonly kind: "open-session"; readonly tag: CommandTag }
  | { readonly kind: "close-session"; readonly tag: CommandTag; readonly session: number };

const KIND_TAGS: { readonly [K in StrongCommand["kind"]]: number } = { write: 1, "open-session": 2, "close-session": 3 };
const KIND_BY_TAG = tagLookup(KIND_TAGS);

/**
 * Encodes `c`. Throws `InvalidValue` for an invalid key or a value that is not JSON, and an
 * `InvariantError` for a number out of its domain (a caller bug).
 */
export function encodeCommand(c: StrongCommand): Uint8Array {
  return encodeVersioned(FORMAT, (w) => {
    w.tag(KIND_TAGS[c.kind]);
    w.uint(c.tag.proposer, "tag.proposer");
    w.uint(c.tag.n, "tag.n");
    switch (c.kind) {
      case "write":
        w.id(c.doc, "doc");
        w.count(c.conditions.length, "conditions");
        c.conditions.forEach((cond, i) => writeCondition(w, cond, `conditions[${i}]`));
        w.count(c.ops.length, "ops");
        c.ops.forEach((op, i) => writeWriteOp(w, op, `ops[${i}]`));
        w.bool(c.session !== null);
        if (c.session !== null) writeSession(w, c.session, "session");
        return;
      case "open-session":
        return;
      case "close-session":
        w.uint(c.session, "session");
        return;
      default:
        assertNever(c, "strong command");
    }
  });
}

/** Decodes a command of {@link encodeCommand}. JSON values are deep-frozen and never alias `bytes`. */
export function decodeCommand(bytes: Uint8Array, limits?: DecodeLimits): StrongCommand {
  return decodeVersioned(FORMAT, "strong command", bytes, limits, (r): StrongCommand => {
    const at = r.offset;
    const code = r.u8("kind");
    const kind = KIND_BY_TAG.get(code);
    if (kind === undefined) return r.fail("kind", `has the unknown tag ${code} (known: 1 to ${KIND_BY_TAG.size})`, at);
    const tag = { proposer: r.uint("tag.proposer"), n: r.uint("tag.n") };
    switch (kind) {
      case "write": {
        const doc = r.id("doc");
        const conditions: WriteCondition[] = [];
        const conditionCount = r.count("conditions");
        for (let i = 0; i < conditionCount; i++) conditions.push(readCondition(r, `conditions[${i}]`));
        const ops: WriteOp[] = [];
        const opCount = r.count("ops");
        for (let i = 0; i < opCount; i++) ops.push(readWriteOp(r, `ops[${i}]`));
        const session = r.bool("session present") ? readSession(r, "session") : null;
        return { kind, tag, doc, conditions, ops, session };
      }
      case "open-session":
        return { kind, tag };
      case "close-session":
        return { kind, tag, session: r.uint("session") };
      default:
        return assertNever(kind, "strong command kind");
    }
  });
}

/** The state machine as a snapshot holds it. */
export interface StateSnapshot {
  /** The last entry applied. */
  readonly index: number;
  readonly term: number;
  /** `KvState.encode` of the key-value state. */
  readonly state: Uint8Array;
  /** Sessions by increasing id. */
  readonly sessions: readonly (readonly [number, SessionState])[];
}

/** Encodes `s` (sessions in the order given, answers sorted by seq: canonical when the ids increase). */
export function encodeStateSnapshot(s: StateSnapshot): Uint8Array {
  return encodeVersioned(FORMAT, (w) => {
    w.uint(s.index, "index");
    w.uint(s.term, "term");
    w.bytes(s.state);
    w.count(s.sessions.length, "sessions");
    s.sessions.forEach(([id, session], i) => {
      w.uint(id, `sessions[${i}].id`);
      w.uint(session.lastUsed, `sessions[${i}].lastUsed`);
      w.uint(session.firstUnacked, `sessions[${i}].firstUnacked`);
      const answers = [...session.answers].sort(([a], [b]) => a - b);
      w.count(answers.length, `sessions[${i}].answers`);
      for (const [seq, a] of answers) {
        w.uint(seq, `sessions[${i}].answers.seq`);
        w.uint(a.index, `sessions[${i}].answers.index`);
        w.uint(a.term, `sessions[${i}].answers.term`);
        w.bool(a.succeeded);
      }
    });
  });
}

/** Decodes {@link encodeStateSnapshot}; refuses sessions or answers out of order (`Protocol`). */
export function decodeStateSnapshot(bytes: Uint8Array, limits?: DecodeLimits): StateSnapshot {
  return decodeVersioned(FORMAT, "strong snapshot", bytes, limits, (r) => {
    const index = r.uint("index");
    const term = r.uint("term");
    const state = r.bytes("state");
    const sessions: [number, SessionState][] = [];
    const count = r.count("sessions");
    for (let i = 0; i < count; i++) sessions.push(readSessionState(r, `sessions[${i}]`, sessions[sessions.length - 1]?.[0]));
    return { index, term, state, sessions };
  });
}

function readSessionState(r: Reader, field: string, previous: number | undefined): [number, SessionState] {
  const at = r.offset;
  const id = r.uint(`${field}.id`);
  if (previous !== undefined && id <= previous) r.fail(`${field}.id`, `is ${id}, not after the previous session ${previous}`, at);
  const lastUsed = r.uint(`${field}.lastUsed`);
  const firstUnacked = r.uint(`${field}.firstUnacked`);
  const answers = new Map<number, SessionAnswer>();
  const count = r.count(`${field}.answers`);
  let last = -1;
  for (let i = 0; i < count; i++) {
    const seqAt = r.offset;
    const seq = r.uint(`${field}.answers[${i}].seq`);
    if (seq <= last) r.fail(`${field}.answers[${i}].seq`, `is ${seq}, not after the previous answer's ${last}`, seqAt);
    last = seq;
    answers.set(seq, { index: r.uint(`${field}.answers[${i}].index`), term: r.uint(`${field}.answers[${i}].term`), succeeded: r.bool(`${field}.answers[${i}].succeeded`) });
  }
  return [id, { lastUsed, firstUnacked, answers }];
}
