/**
 * The replication codec of `primary` mode (src/primary/replication/codec.ts) is symmetric,
 * canonical and total: decode(encode(m)) equals m for every message type; any bytes decode to a
 * message that re-encodes to those very bytes, or throw a Protocol/TooLarge ConcordError, nothing
 * else; prefixes and mutations of valid encodings are refused or decode canonically; a version
 * byte other than 1 is refused by name.
 *
 * A variant added to messages.ts fails `tsc` here (the arbitraries are keyed by `ReplMessageType`)
 * and in the codec (its tag table is too), and the round trip runs once per tag the codec declares.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { asPeerId, type PeerId } from "../../src/ids.js";
import { REPL_CODEC_VERSION, REPL_MESSAGE_TAGS, decodeReplMessage, encodeReplMessage } from "../../src/primary/replication/codec.js";
import type { ReplMessage, ReplMessageType } from "../../src/primary/replication/messages.js";
import { asEpoch, asLsn, type EpochHistory, type Position, type ReplRecord } from "../../src/primary/replication/types.js";
import { codecContract, type Codec } from "./codec-contract.js";
import { checkProperty } from "./prop.js";

const MAX = Number.MAX_SAFE_INTEGER;

/** Small numbers, varint length boundaries and the whole safe range. */
const uintArb = fc.oneof(fc.nat({ max: 300 }), fc.constantFrom(127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32, 2 ** 49, MAX), fc.maxSafeNat());
const epochArb = uintArb.map(asEpoch);
const lsnArb = uintArb.map(asLsn);
const bytesArb = fc.uint8Array({ maxLength: 16 });

/** Peer ids at the edges: ASCII, any code points (pairs included), the longest, a BOM, NUL. */
const peerIdArb: fc.Arbitrary<PeerId> = fc
  .oneof(
    { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 6 }) },
    fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
    fc.constantFrom("p".repeat(255), `${"😀".repeat(127)}a`, "\uFEFFbom", "\u0000", "é"),
  )
  .map(asPeerId);

/** Any shape, well ordered or not: the codec checks shape only. */
const historyArb: fc.Arbitrary<EpochHistory> = fc.array(fc.record({ epoch: epochArb, primary: peerIdArb, startLsn: lsnArb }), { maxLength: 4 });
const positionArb: fc.Arbitrary<Position> = fc.record({ epoch: epochArb, lsn: lsnArb });
const recordArb: fc.Arbitrary<ReplRecord> = fc.record({ epoch: epochArb, lsn: lsnArb, data: bytesArb });

type Variant<T extends ReplMessageType> = ReplMessage & { readonly type: T };

/** One arbitrary per message type; keyed by `ReplMessageType`, so a new variant fails `tsc` here. */
const messageArbs: { readonly [T in ReplMessageType]: fc.Arbitrary<Variant<T>> } = {
  hello: fc.record({ type: fc.constant("hello"), epoch: epochArb, history: historyArb, last: positionArb }),
  ack: fc.record({ type: fc.constant("ack"), epoch: epochArb, received: lsnArb, applied: lsnArb, gap: fc.boolean() }),
  "snapshot-ack": fc.record({ type: fc.constant("snapshot-ack"), epoch: epochArb, lsn: lsnArb, offset: uintArb }),
  welcome: fc.record({ type: fc.constant("welcome"), epoch: epochArb, history: historyArb, last: lsnArb }),
  records: fc.record({
    type: fc.constant("records"),
    epoch: epochArb,
    prev: lsnArb,
    records: fc.array(recordArb, { maxLength: 4 }),
    last: lsnArb,
  }),
  snapshot: fc.record({
    type: fc.constant("snapshot"),
    epoch: epochArb,
    history: historyArb,
    lsn: lsnArb,
    common: lsnArb,
    offset: uintArb,
    data: bytesArb,
    done: fc.boolean(),
    total: uintArb,
  }),
  heartbeat: fc.record({ type: fc.constant("heartbeat"), epoch: epochArb, last: lsnArb }),
  epoch: fc.record({ type: fc.constant("epoch"), epoch: epochArb, history: historyArb }),
};

const messageArb: fc.Arbitrary<ReplMessage> = fc.oneof(...Object.values<fc.Arbitrary<ReplMessage>>(messageArbs));

/** `v` with plain prototypes (fast-check records have none), for `toStrictEqual`. */
const plain = <T>(v: T): T => structuredClone(v);

const codec: Codec<ReplMessage> = {
  name: "replication message",
  arb: messageArb,
  encode: encodeReplMessage,
  decode: decodeReplMessage,
  version: REPL_CODEC_VERSION,
  maxTag: Object.keys(REPL_MESSAGE_TAGS).length,
};

describe("replication codec properties", () => {
  it("the arbitraries cover every message type the codec declares", () => {
    expect(Object.keys(messageArbs).sort()).toEqual(Object.keys(REPL_MESSAGE_TAGS).sort());
    const seen = new Set(fc.sample(messageArb, { numRuns: 500, seed: 1 }).map((m) => m.type));
    expect([...seen].sort()).toEqual(Object.keys(REPL_MESSAGE_TAGS).sort());
  });

  for (const type of Object.keys(REPL_MESSAGE_TAGS) as ReplMessageType[]) {
    it(`decode(encode(m)) deep-equals m for every ${type} message`, async () => {
      const arb: fc.Arbitrary<ReplMessage> | undefined = messageArbs[type];
      expect(arb, `no arbitrary for message type ${type}`).toBeDefined();
      await checkProperty(
        fc.property(arb!, (m) => {
          expect(m.type).toBe(type);
          expect(decodeReplMessage(encodeReplMessage(m))).toStrictEqual(plain(m));
        }),
      );
    });
  }

  codecContract(codec);
});
