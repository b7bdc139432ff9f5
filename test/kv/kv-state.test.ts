/**
 * The key-value state machine (src/kv/kv-state.ts): reads, the changes `apply` reports, atomic
 * batches, ownership of values, and the snapshot codec with its golden bytes and bad input. The
 * properties (against a Map model, snapshot round trips) are in test/property/kv.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { Json } from "../../src/json.js";
import { KvState } from "../../src/kv/kv-state.js";
import type { KvOp } from "../../src/kv/ops.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");
const protocol = (message: string | RegExp) => expect.objectContaining({ code: "Protocol", message: expect.stringMatching(message) });
const set = (key: string, value: Json): KvOp => ({ kind: "set", key, value });
const del = (key: string): KvOp => ({ kind: "delete", key });

function stateOf(entries: Record<string, Json>): KvState {
  const s = new KvState();
  for (const [k, v] of Object.entries(entries)) s.apply(set(k, v));
  return s;
}

describe("KvState reads", () => {
  it("starts empty", () => {
    const s = new KvState();
    expect(s.size).toBe(0);
    expect(s.get("a")).toBeUndefined();
    expect(s.entries()).toEqual([]);
  });

  it("lists entries sorted by UTF-16 code unit, filtered by prefix", () => {
    const s = stateOf({ "b/2": 2, a: 0, "b/1": 1, b: "b", "\uFF5E": "fullwidth", "😀": "astral", c: null });
    expect(s.size).toBe(7);
    // U+1F600 is the pair D83D DE00, so it sorts before U+FF5E in code units (not in code points).
    expect(s.entries().map(([k]) => k)).toEqual(["a", "b", "b/1", "b/2", "c", "😀", "\uFF5E"]);
    expect(s.entries("b/")).toEqual([
      ["b/1", 1],
      ["b/2", 2],
    ]);
    expect(s.entries("b")).toHaveLength(3);
    expect(s.entries("zz")).toEqual([]);
    expect(s.entries("")).toHaveLength(7);
  });

  it("keeps entries sorted after deletes and re-inserts", () => {
    const s = stateOf({ m: 1, a: 1, z: 1 });
    expect(s.entries().map(([k]) => k)).toEqual(["a", "m", "z"]);
    s.apply(del("m"));
    s.apply(set("c", 2));
    s.apply(set("a", 3));
    expect(s.entries()).toEqual([
      ["a", 3],
      ["c", 2],
      ["z", 1],
    ]);
  });
});

describe("KvState.apply", () => {
  it("reports a set, an overwrite and a delete, and nothing for what changes nothing", () => {
    const s = new KvState();
    expect(s.apply(set("a", { x: [1] }))).toEqual([{ key: "a", value: { x: [1] } }]);
    expect(s.apply(set("a", { x: [1] }))).toEqual([]);
    expect(s.apply(set("a", { x: [2] }))).toEqual([{ key: "a", value: { x: [2] } }]);
    expect(s.apply(del("a"))).toEqual([{ key: "a", value: undefined }]);
    expect(s.apply(del("a"))).toEqual([]);
    expect(s.size).toBe(0);
  });

  it("compares objects by members, not member order; arrays by order", () => {
    const s = stateOf({ o: { a: 1, b: 2 }, l: [1, 2] });
    expect(s.apply(set("o", { b: 2, a: 1 }))).toEqual([]);
    expect(s.apply(set("l", [2, 1]))).toEqual([{ key: "l", value: [2, 1] }]);
    expect(s.apply(set("o", { a: 1 }))).toEqual([{ key: "o", value: { a: 1 } }]);
    expect(s.apply(set("o", { a: 1, c: 2 }))).toHaveLength(1);
  });

  it("reports a batch's net change per key, once, in the order it first touched them", () => {
    const s = stateOf({ a: 1, b: 1 });
    const changes = s.apply({
      kind: "batch",
      ops: [
        { kind: "set", key: "c", value: 1 },
        { kind: "set", key: "a", value: 2 },
        { kind: "delete", key: "c" }, // c: absent before and after
        { kind: "set", key: "b", value: 5 },
        { kind: "set", key: "b", value: 1 }, // b: 1 before and after
        { kind: "set", key: "a", value: 3 },
      ],
    });
    expect(changes).toEqual([{ key: "a", value: 3 }]);
    expect(s.entries()).toEqual([
      ["a", 3],
      ["b", 1],
    ]);
    expect(s.apply({ kind: "batch", ops: [] })).toEqual([]);
  });

  it("applies a batch atomically: an invalid write anywhere in it applies nothing", () => {
    const s = stateOf({ a: 1 });
    const bad: KvOp = {
      kind: "batch",
      ops: [
        { kind: "set", key: "a", value: 2 },
        { kind: "set", key: "b", value: Number.NaN },
      ],
    };
    expect(() => s.apply(bad)).toThrow(expect.objectContaining({ code: "InvalidValue", message: expect.stringMatching(/batch\.ops\[1\]\.value/) }));
    expect(() => s.apply({ kind: "batch", ops: [{ kind: "set", key: "a", value: 2 }, del("")] as never })).toThrow(
      expect.objectContaining({ code: "InvalidValue" }),
    );
    expect(s.entries()).toEqual([["a", 1]]);
  });

  it("never lets a caller mutate the state through a value it passed in or got out", () => {
    const mine = { list: [1, 2] };
    const s = new KvState();
    const [change] = s.apply(set("k", mine));
    mine.list.push(3);
    expect(s.get("k")).toEqual({ list: [1, 2] });
    const out = s.get("k") as { list: number[] };
    expect(Object.isFrozen(out) && Object.isFrozen(out.list) && Object.isFrozen(change!.value)).toBe(true);
    expect(() => out.list.push(4)).toThrow(TypeError);
    const listed = s.entries()[0]![1] as { list: number[] };
    expect(() => {
      listed.list[0] = 9;
    }).toThrow(TypeError);
    expect(s.get("k")).toEqual({ list: [1, 2] });
  });
});

describe("KvState snapshots", () => {
  /** GOLDEN BYTES (`version | count | key value ...`): a failure means the snapshot format changed; bump KV_CODEC_VERSION. */
  const golden = { entries: { b: [1], a: "hi" } as Record<string, Json>, hex: "01 | 02 | 0161 06026869 | 0162 070103 01" };

  it("encode to golden bytes, keys sorted, whatever order they were written in", () => {
    expect(toHex(stateOf(golden.entries).encode())).toBe(toHex(hex(golden.hex)));
    expect(KvState.decode(hex(golden.hex)).entries()).toEqual([
      ["a", "hi"],
      ["b", [1]],
    ]);
    expect(toHex(new KvState().encode())).toBe("0100");
  });

  it("decode to an equal state that shares nothing with the input bytes", () => {
    const s = stateOf({ a: { deep: [1, { x: "y" }] }, b: null, c: -2.5 });
    const bytes = s.encode();
    const copy = KvState.decode(bytes);
    bytes.fill(0);
    expect(copy.equals(s)).toBe(true);
    expect(Object.isFrozen(copy.get("a"))).toBe(true);
    copy.apply(set("d", 1));
    expect(copy.equals(s)).toBe(false);
    expect(s.equals(copy)).toBe(false);
  });

  it("equals compares JSON values, not identity", () => {
    expect(stateOf({ a: { x: 1, y: [2] } }).equals(stateOf({ a: { y: [2], x: 1 } }))).toBe(true);
    expect(stateOf({ a: 1 }).equals(stateOf({ b: 1 }))).toBe(false);
    expect(stateOf({ a: [1, 2] }).equals(stateOf({ a: [1] }))).toBe(false);
    expect(stateOf({ a: [1] }).equals(stateOf({ a: { 0: 1 } }))).toBe(false);
  });

  it("refuse malformed snapshots with Protocol, naming the entry", () => {
    expect(() => KvState.decode(hex("02 00"))).toThrow(protocol(/^malformed kv snapshot: version is 2/));
    expect(() => KvState.decode(hex("01 02 | 0162 00 | 0161 00"))).toThrow(protocol(/entries\[1\]\.key is not after the previous key: keys are sorted and unique/));
    expect(() => KvState.decode(hex("01 02 | 0161 00 | 0161 00"))).toThrow(protocol(/entries\[1\]\.key is not after the previous key/));
    expect(() => KvState.decode(hex("01 01 | 00 00"))).toThrow(protocol(/entries\[0\]\.key is empty/));
    expect(() => KvState.decode(hex("01 01 | 0161"))).toThrow(protocol(/entries\[0\]\.value type is missing/));
    expect(() => KvState.decode(hex("01 09 | 0161 00"))).toThrow(protocol(/entries count is 9, but only 3 bytes remain/));
    expect(() => KvState.decode(hex("01 00 00"))).toThrow(protocol(/trailing byte/));
    expect(() => KvState.decode(hex("01 00"), { maxBytes: 1 })).toThrow(expect.objectContaining({ code: "TooLarge" }));
  });
});

describe("KvState.diff", () => {
  it("lists, in key order, the keys whose values differ: removed as undefined, added and changed with the new value; JSON-equal values are not changes", () => {
    const before = new KvState();
    before.apply({ kind: "batch", ops: [{ kind: "set", key: "gone", value: 1 }, { kind: "set", key: "same", value: { a: 1, b: [2] } }, { kind: "set", key: "moved", value: "x" }] });
    const after = new KvState();
    after.apply({ kind: "batch", ops: [{ kind: "set", key: "same", value: { b: [2], a: 1 } }, { kind: "set", key: "moved", value: "y" }, { kind: "set", key: "added", value: null }] });
    expect(before.diff(after)).toEqual([
      { key: "added", value: null },
      { key: "gone", value: undefined },
      { key: "moved", value: "y" },
    ]);
    expect(after.diff(after)).toEqual([]);
  });
});
