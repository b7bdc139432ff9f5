/**
 * The Raft codec (src/strong/raft/codec.ts, codec-entries.ts) is symmetric, canonical and total:
 * decode(encode(v)) equals v for every message variant and every record; any bytes decode to a
 * value that re-encodes to those very bytes, or throw a Protocol/TooLarge ConcordError, nothing
 * else; prefixes and mutations of valid encodings are refused or decode canonically; a version
 * byte other than 1 is refused by name.
 *
 * A variant added to messages.ts fails `tsc` here and in the codec (both key tables by
 * `MessageType`), and at run time the round trip runs once per tag the codec declares, requiring
 * an arbitrary for each.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONF_CHANGE_TAGS,
  ENTRY_KIND_TAGS,
  decodeConfState,
  decodeEntries,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  encodeConfState,
  encodeEntries,
  encodeEntry,
  encodeHardState,
  encodeSnapshotMeta,
} from "../../src/strong/raft/codec-entries.js";
import { MESSAGE_TYPE_TAGS, decodeMessage, encodeMessage } from "../../src/strong/raft/codec.js";
import type { Envelope, Message, MessageType, Proposal } from "../../src/strong/raft/messages.js";
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
} from "../../src/strong/raft/types.js";
import { codecContract, type Codec } from "./codec-contract.js";
import { checkProperty, propRuns } from "./prop.js";

const MAX = Number.MAX_SAFE_INTEGER;

/** Small numbers, varint length boundaries and the whole safe range. */
const uintArb = fc.oneof(
  fc.nat({ max: 300 }),
  fc.constantFrom(127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 49, MAX),
  fc.maxSafeNat(),
);
const termArb = uintArb.map(asTerm);
const indexArb = uintArb.map(asIndex);
const bytesArb = fc.uint8Array({ maxLength: 16 });

/** Node ids at the edges: ASCII, any code points (pairs included), the longest, a BOM, NUL. */
const nodeIdArb: fc.Arbitrary<NodeId> = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 6 }) },
    fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
    fc.constantFrom("a".repeat(255), `${"😀".repeat(127)}a`, "\uFEFFbom", "\u0000", "é"),
  )
  .map(asNodeId);

const envelopeArb: fc.Arbitrary<Envelope> = fc.record({ from: nodeIdArb, to: nodeIdArb, term: termArb });

const confChangeArb: fc.Arbitrary<ConfChange> = fc.record({
  type: fc.constantFrom(...(Object.keys(CONF_CHANGE_TAGS) as ConfChange["type"][])),
  node: nodeIdArb,
});

/** An entry without its position: what varies by kind. */
type EntryBody = { kind: "normal"; data: Uint8Array } | { kind: "noop" } | { kind: "conf-change"; change: ConfChange };
const entryBodyArb: fc.Arbitrary<EntryBody> = fc.oneof(
  bytesArb.map((data): EntryBody => ({ kind: "normal", data })),
  fc.constant<EntryBody>({ kind: "noop" }),
  confChangeArb.map((change): EntryBody => ({ kind: "conf-change", change })),
);
const placed = (body: EntryBody, term: number, index: number): Entry => ({ ...body, term: asTerm(term), index: asIndex(index) });

const entryArb: fc.Arbitrary<Entry> = fc
  .record({ body: entryBodyArb, term: termArb, index: indexArb })
  .map(({ body, term, index }) => placed(body, term, index));

/** A run of the log after (index, term): consecutive indexes, terms that only grow. */
const runArb = fc
  .record({
    index: fc.oneof(fc.nat({ max: 50 }), fc.integer({ min: 0, max: MAX - 6 })),
    term: fc.oneof(fc.nat({ max: 5 }), fc.integer({ min: 0, max: MAX - 12 })),
    steps: fc.array(fc.record({ bump: fc.nat({ max: 2 }), body: entryBodyArb }), { maxLength: 5 }),
  })
  .map(({ index, term, steps }) => {
    let t = term;
    const entries = steps.map(({ bump, body }, i) => placed(body, (t += bump), index + 1 + i));
    return { index, term, entries, lastTerm: t };
  });

const confStateArb: fc.Arbitrary<ConfState> = fc
  .record({ ids: fc.uniqueArray(nodeIdArb, { maxLength: 6 }), split: fc.nat() })
  .map(({ ids, split }) => {
    const k = split % (ids.length + 1);
    return { voters: ids.slice(0, k), learners: ids.slice(k) };
  });

const snapshotMetaArb: fc.Arbitrary<SnapshotMeta> = fc.record({ index: indexArb, term: termArb, conf: confStateArb });
const hardStateArb: fc.Arbitrary<HardState> = fc.record({ term: termArb, vote: fc.option(nodeIdArb, { nil: null }), commit: indexArb });

const proposalArb: fc.Arbitrary<Proposal> = fc.oneof(
  bytesArb.map((data): Proposal => ({ kind: "normal", data })),
  confChangeArb.map((change): Proposal => ({ kind: "conf-change", change })),
);

/**
 * The message of type `T`. Not `MessageOf<T>` from messages.ts: that `Extract`s whole union
 * members, and "vote"/"pre-vote" (likewise their responses) share one, so `MessageOf<"vote">` is
 * `never`. Intersecting narrows the shared member instead.
 */
type Variant<T extends MessageType> = Message & { readonly type: T };

/** Adds an envelope to every body of `arb`. */
function message<T extends MessageType>(arb: fc.Arbitrary<{ readonly type: T }>): fc.Arbitrary<Variant<T>> {
  return fc.tuple(envelopeArb, arb).map(([env, body]) => ({ ...env, ...body }) as Variant<T>);
}

/** One arbitrary per message type; keyed by `MessageType`, so a new variant fails `tsc` here. */
const messageArbs: { readonly [T in MessageType]: fc.Arbitrary<Variant<T>> } = {
  vote: message(fc.record({ type: fc.constant("vote"), lastIndex: indexArb, lastTerm: termArb, transfer: fc.boolean() })),
  "pre-vote": message(fc.record({ type: fc.constant("pre-vote"), lastIndex: indexArb, lastTerm: termArb, transfer: fc.boolean() })),
  "vote-resp": message(fc.record({ type: fc.constant("vote-resp"), reject: fc.boolean() })),
  "pre-vote-resp": message(fc.record({ type: fc.constant("pre-vote-resp"), reject: fc.boolean() })),
  append: fc
    .record({ from: nodeIdArb, to: nodeIdArb, run: runArb, extraTerm: fc.nat({ max: 2 }), commit: indexArb })
    .map(({ from, to, run, extraTerm, commit }): Variant<"append"> => ({
      type: "append",
      from,
      to,
      term: asTerm(run.lastTerm + extraTerm),
      prevIndex: asIndex(run.index),
      prevTerm: asTerm(run.term),
      entries: run.entries,
      commit,
    })),
  "append-resp": message(
    fc.record({ type: fc.constant("append-resp"), reject: fc.boolean(), index: indexArb, hintIndex: indexArb, hintTerm: termArb }),
  ),
  heartbeat: message(fc.record({ type: fc.constant("heartbeat"), commit: indexArb, context: fc.option(bytesArb, { nil: null }) })),
  "heartbeat-resp": message(fc.record({ type: fc.constant("heartbeat-resp"), context: fc.option(bytesArb, { nil: null }) })),
  snapshot: message(
    fc.record({
      type: fc.constant("snapshot"),
      meta: snapshotMetaArb,
      offset: fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: MAX - 16 })),
      data: bytesArb,
      done: fc.boolean(),
    }),
  ),
  "snapshot-resp": message(fc.record({ type: fc.constant("snapshot-resp"), index: indexArb, offset: uintArb, reject: fc.boolean() })),
  "timeout-now": message(fc.record({ type: fc.constant("timeout-now") })),
  propose: message(fc.record({ type: fc.constant("propose"), proposals: fc.array(proposalArb, { maxLength: 4 }) })),
  "read-index": message(fc.record({ type: fc.constant("read-index"), context: bytesArb })),
  "read-index-resp": message(fc.record({ type: fc.constant("read-index-resp"), index: indexArb, context: bytesArb })),
  "transfer-leader": message(fc.record({ type: fc.constant("transfer-leader"), target: nodeIdArb })),
};

const messageArb: fc.Arbitrary<Message> = fc.oneof(...Object.values<fc.Arbitrary<Message>>(messageArbs));

/** Erases a codec's value type so codecs of different values share one list. */
const erased = <V>(c: Codec<V>): Codec<unknown> => c as unknown as Codec<unknown>;

const codecs: readonly Codec<unknown>[] = [
  erased({ name: "message", arb: messageArb, encode: encodeMessage, decode: decodeMessage, version: 1, maxTag: Math.max(...Object.values(MESSAGE_TYPE_TAGS)) }),
  erased({ name: "entry", arb: entryArb, encode: encodeEntry, decode: decodeEntry, version: 1, maxTag: 3 }),
  erased({ name: "entries run", arb: runArb.map((r) => r.entries), encode: encodeEntries, decode: decodeEntries, version: 1, maxTag: 3 }),
  erased({ name: "hard state", arb: hardStateArb, encode: encodeHardState, decode: decodeHardState, version: 1, maxTag: 1 }),
  erased({ name: "conf state", arb: confStateArb, encode: encodeConfState, decode: decodeConfState, version: 1, maxTag: 1 }),
  erased({ name: "snapshot meta", arb: snapshotMetaArb, encode: encodeSnapshotMeta, decode: decodeSnapshotMeta, version: 1, maxTag: 1 }),
];

/** `v` with plain prototypes (fast-check records have none), for `toStrictEqual`. */
const plain = <T>(v: T): T => structuredClone(v);

describe("raft codec properties", () => {
  it("the arbitraries cover every message type, entry kind and conf change type the codec declares", () => {
    expect(Object.keys(messageArbs).sort()).toEqual(Object.keys(MESSAGE_TYPE_TAGS).sort());
    const seen = new Set<string>();
    const kinds = new Set<string>();
    const changes = new Set<string>();
    for (const m of fc.sample(messageArb, { numRuns: 3000, seed: 1 })) {
      seen.add(m.type);
      if (m.type === "append") for (const e of m.entries) kinds.add(e.kind);
      if (m.type === "propose") for (const p of m.proposals) if (p.kind === "conf-change") changes.add(p.change.type);
    }
    expect([...seen].sort()).toEqual(Object.keys(MESSAGE_TYPE_TAGS).sort());
    expect([...kinds].sort()).toEqual(Object.keys(ENTRY_KIND_TAGS).sort());
    expect([...changes].sort()).toEqual(Object.keys(CONF_CHANGE_TAGS).sort());
  });

  for (const type of Object.keys(MESSAGE_TYPE_TAGS) as MessageType[]) {
    it(`decode(encode(m)) deep-equals m for every ${type} message`, async () => {
      const arb: fc.Arbitrary<Message> | undefined = messageArbs[type];
      expect(arb, `no arbitrary for message type ${type}`).toBeDefined();
      await checkProperty(
        fc.property(arb!, (m) => {
          expect(m.type).toBe(type);
          expect(decodeMessage(encodeMessage(m))).toStrictEqual(plain(m));
        }),
      );
    });
  }

  for (const c of codecs.filter((c) => c.name !== "message")) {
    it(`decode(encode(v)) deep-equals v for every ${c.name} record`, async () => {
      await checkProperty(
        fc.property(c.arb, (v) => {
          expect(c.decode(c.encode(v))).toStrictEqual(plain(v));
        }),
      );
    });
  }

  for (const c of codecs) codecContract(c);
});
