/**
 * The key-value state machine and its codecs (src/kv/, src/codec/json-value.ts):
 * - ops and snapshots round-trip, are canonical, and refuse hostile bytes only with Protocol/TooLarge;
 * - applying any op sequence to a KvState gives the state, the reads and the changes of a plain
 *   Map model;
 * - a state's snapshot decodes to an equal state, and equal states encode to equal bytes whatever
 *   order their keys were written in.
 */
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toFrozenJson, type Json } from "../../src/json.js";
import { KvState } from "../../src/kv/kv-state.js";
import { KV_CODEC_VERSION, KV_OP_TAGS, decodeOp, encodeOp, type KvOp, type KvWrite } from "../../src/kv/ops.js";
import type { Change } from "../../src/store.js";
import { codecContract, type Codec } from "./codec-contract.js";
import { checkProperty } from "./prop.js";
import { jsonArb as jsonArbOf, jsonStringArb } from "./json-arb.js";

/** Any well-formed string (`binary`: every code point, pairs included), and the edges of key order. */
const stringArb = jsonStringArb;
const jsonArb = jsonArbOf();

/**
 * Few values, each a fresh (deep-frozen) instance every time it is drawn, so sequences write values
 * that are JSON-equal to what a key holds without being the same object (objects in either member
 * order); mixed with any value.
 */
const fewValuesArb: fc.Arbitrary<Json> = fc.oneof(
  fc
    .constantFrom<() => unknown>(
      () => null,
      () => 1,
      () => ({ x: [1], y: "z" }),
      () => ({ y: "z", x: [1] }),
      () => ({ x: [1] }),
      () => [1, { x: [1] }],
      () => [{ x: [1] }, 1],
    )
    .map((make) => toFrozenJson(make())),
  jsonArb,
);

const validKey = (k: string) => k.length > 0;
const anyKeyArb = stringArb.filter(validKey);
/** Few keys, so sequences overwrite and delete what they wrote; a shared prefix for `entries(prefix)`. */
const fewKeysArb = fc.constantFrom("a", "a/1", "a/2", "b", "😀", "\uFF5E");

function writeArb(keyArb: fc.Arbitrary<string>, valueArb: fc.Arbitrary<Json>): fc.Arbitrary<KvWrite> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("set" as const), key: keyArb, value: valueArb }) },
    fc.record({ kind: fc.constant("delete" as const), key: keyArb }),
  );
}

function opArb(keyArb: fc.Arbitrary<string>, valueArb: fc.Arbitrary<Json> = jsonArb): fc.Arbitrary<KvOp> {
  return fc.oneof(
    { weight: 3, arbitrary: writeArb(keyArb, valueArb) },
    fc.record({ kind: fc.constant("batch" as const), ops: fc.array(writeArb(keyArb, valueArb), { maxLength: 5 }) }),
  );
}

const opsArb = fc.array(opArb(fewKeysArb, fewValuesArb), { maxLength: 30 });

function stateFrom(ops: readonly KvOp[]): KvState {
  const s = new KvState();
  for (const op of ops) s.apply(op);
  return s;
}

/** `v` with plain prototypes (fast-check records may have none), for `toStrictEqual`. */
const plain = <T>(v: T): T => structuredClone(v);

/**
 * The reference model: a Map, and a batch's changes computed the obvious way (each touched key,
 * once, in first-touch order, when its value before and after the op differ).
 */
function applyToModel(model: Map<string, Json>, op: KvOp): Change[] {
  const writes = op.kind === "batch" ? op.ops : [op];
  const before = new Map<string, Json | undefined>();
  for (const w of writes) {
    if (!before.has(w.key)) before.set(w.key, model.get(w.key));
    if (w.kind === "set") model.set(w.key, w.value);
    else model.delete(w.key);
  }
  return [...before].filter(([key, old]) => !isDeepStrictEqual(old, model.get(key))).map(([key]) => ({ key, value: model.get(key) }));
}

const sortedModel = (model: Map<string, Json>): Array<[string, Json]> => [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const opCodec: Codec<KvOp> = {
  name: "kv op",
  arb: opArb(anyKeyArb),
  encode: encodeOp,
  decode: decodeOp,
  version: KV_CODEC_VERSION,
  maxTag: Object.keys(KV_OP_TAGS).length,
};

const snapshotCodec: Codec<KvState> = {
  name: "kv snapshot",
  arb: fc.array(opArb(anyKeyArb), { maxLength: 8 }).map(stateFrom),
  encode: (s) => s.encode(),
  decode: KvState.decode,
  version: KV_CODEC_VERSION,
  maxTag: 4,
};

describe("kv op codec properties", () => {
  it("the arbitraries cover every op kind the codec declares", () => {
    const kinds = new Set(fc.sample(opCodec.arb, { numRuns: 500, seed: 1 }).map((op) => op.kind));
    expect([...kinds].sort()).toEqual(Object.keys(KV_OP_TAGS).sort());
  });

  it("decode(encode(op)) deep-equals op for every op with gated values", async () => {
    await checkProperty(
      fc.property(opCodec.arb, (op) => {
        expect(decodeOp(encodeOp(op))).toStrictEqual(plain(op));
      }),
    );
  });

  it("a decoded op re-encodes to the same bytes (encode is canonical on its own output)", async () => {
    await checkProperty(
      fc.property(opCodec.arb, (op) => {
        const bytes = encodeOp(op);
        expect(Buffer.from(encodeOp(decodeOp(bytes))).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  codecContract(opCodec);
});

describe("KvState properties", () => {
  it("applying any op sequence gives the state, reads and changes of a Map model", async () => {
    await checkProperty(
      fc.property(opsArb, fc.constantFrom("", "a", "a/", "b", "z"), (ops, prefix) => {
        const state = new KvState();
        const model = new Map<string, Json>();
        for (const op of ops) {
          expect(state.apply(op)).toStrictEqual(plain(applyToModel(model, op)));
          expect(state.size).toBe(model.size);
        }
        expect(state.entries()).toStrictEqual(plain(sortedModel(model)));
        expect(state.entries(prefix)).toStrictEqual(plain(sortedModel(model).filter(([k]) => k.startsWith(prefix))));
        for (const key of ["a", "a/1", "b", "zzz"]) expect(state.get(key)).toStrictEqual(plain(model.get(key)));
      }),
    );
  });

  it("KvState.decode(s.encode()) equals s and re-encodes to the same bytes", async () => {
    await checkProperty(
      fc.property(opsArb, (ops) => {
        const s = stateFrom(ops);
        const bytes = s.encode();
        const copy = KvState.decode(bytes);
        expect(copy.equals(s)).toBe(true);
        expect(copy.entries()).toStrictEqual(s.entries());
        expect(Buffer.from(copy.encode()).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });

  it("states with equal contents encode to equal bytes, whatever order their keys were written in", async () => {
    await checkProperty(
      fc.property(opsArb, fc.infiniteStream(fc.nat()), (ops, shuffle) => {
        const s = stateFrom(ops);
        const entries = s.entries();
        // Rebuild by setting the same entries in a random order (a batch, then single sets).
        const order = entries.map((e, i) => ({ e, r: shuffle.next().value as number, i })).sort((x, y) => x.r - y.r || x.i - y.i);
        const half = Math.floor(order.length / 2);
        const rebuilt = new KvState();
        rebuilt.apply({ kind: "batch", ops: order.slice(0, half).map(({ e: [key, value] }) => ({ kind: "set", key, value })) });
        for (const { e: [key, value] } of order.slice(half)) rebuilt.apply({ kind: "set", key, value });
        expect(rebuilt.equals(s)).toBe(true);
        expect(Buffer.from(rebuilt.encode()).equals(Buffer.from(s.encode()))).toBe(true);
      }),
    );
  });

  codecContract(snapshotCodec);
});
