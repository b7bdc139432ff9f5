/**
 * Named examples of the kv op codec (src/kv/ops.ts, src/codec/json-value.ts): golden bytes for each
 * op kind and JSON type, and the errors malformed input and invalid ops get. The properties are in
 * test/property/kv.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import { InvariantError } from "../../src/errors.js";
import type { Json } from "../../src/json.js";
import { KV_OP_TAGS, checkedWrites, decodeOp, encodeOp, type KvOp } from "../../src/kv/ops.js";

/** Bytes from hex; spaces and `|` only separate fields for the reader. */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ""), "hex"));
const toHex = (u: Uint8Array): string => Buffer.from(u).toString("hex");
const protocol = (message: string | RegExp) => expect.objectContaining({ code: "Protocol", message: expect.stringMatching(message) });
const invalidValue = (message: string | RegExp) => expect.objectContaining({ code: "InvalidValue", message: expect.stringMatching(message) });

/**
 * GOLDEN BYTES: derived once from the codec and checked in; each is `version | kind | body`. If one
 * fails, the format of replicated records changed: logs and peers of the previous release can no
 * longer be read. Do not just update the hex: bump KV_CODEC_VERSION in the same change.
 */
const GOLDEN_OPS: { readonly [K in KvOp["kind"]]: { readonly op: KvOp & { kind: K }; readonly hex: string } } = {
  set: {
    // members sorted: f, l, n, s, z
    op: { kind: "set", key: "a", value: { n: -3, f: 1.5, s: "é", l: [null, true, false, 300], z: 2 ** 53 } },
    hex:
      "01 | 01 | 0161 | 08 05" +
      " | 0166 05 3ff8000000000000" + // f: 1.5 as f64
      " | 016c 07 04 00 02 01 03ac02" + // l: [null, true, false, 300]
      " | 016e 04 03" + // n: -3
      " | 0173 06 02c3a9" + // s: "é"
      " | 017a 05 4340000000000000", // z: 2^53, beyond the safe integers: an f64
  },
  delete: { op: { kind: "delete", key: "k" }, hex: "01 | 02 | 016b" },
  batch: {
    op: {
      kind: "batch",
      ops: [
        { kind: "set", key: "x", value: 1 },
        { kind: "delete", key: "y" },
      ],
    },
    hex: "01 | 03 | 02 | 01 0178 0301 | 02 0179",
  },
};

/** A set op of key "k" with the value encoded as `json` (hex). */
const setWith = (json: string) => hex(`01 01 016b ${json}`);

describe("kv op golden bytes (a failure here means the format changed: bump the version)", () => {
  it("has a golden op for every kind the codec declares", () => {
    expect(Object.keys(GOLDEN_OPS).sort()).toEqual(Object.keys(KV_OP_TAGS).sort());
  });

  for (const [kind, { op, hex: golden }] of Object.entries(GOLDEN_OPS)) {
    it(`${kind} encodes to its golden bytes and back`, () => {
      expect(toHex(encodeOp(op))).toBe(toHex(hex(golden)));
      expect(decodeOp(hex(golden))).toStrictEqual(op);
    });
  }

  it("encodes each JSON type as the table in src/codec/json-value.ts says", () => {
    const cases: Array<[Json, string]> = [
      [null, "00"],
      [false, "01"],
      [true, "02"],
      [0, "03 00"],
      [127, "03 7f"],
      [128, "03 8001"],
      [Number.MAX_SAFE_INTEGER, "03 ffffffffffffff0f"],
      [-1, "04 01"],
      [-Number.MAX_SAFE_INTEGER, "04 ffffffffffffff0f"],
      [0.1, "05 3fb999999999999a"],
      [-1e300, "05 fe37e43c8800759c"],
      ["", "06 00"],
      ["😀", "06 04f09f9880"],
      [[], "07 00"],
      [{}, "08 00"],
      [{ "": [{}] }, "08 01 00 07 01 08 00"],
    ];
    for (const [value, json] of cases) {
      expect(toHex(encodeOp({ kind: "set", key: "k", value })), JSON.stringify(value)).toBe(toHex(setWith(json)));
      expect(decodeOp(setWith(json))).toStrictEqual({ kind: "set", key: "k", value });
    }
  });

  it("stores -0 as 0, as the JSON gate does", () => {
    expect(toHex(encodeOp({ kind: "set", key: "k", value: -0 }))).toBe(toHex(setWith("03 00")));
  });
});

describe("decoded ops", () => {
  it("hold deep-frozen values that do not alias the input", () => {
    const bytes = hex(GOLDEN_OPS.set.hex);
    const op = decodeOp(bytes);
    bytes.fill(0);
    expect(op).toStrictEqual(GOLDEN_OPS.set.op);
    const value = (op as unknown as { value: { l: Json[] } }).value;
    expect(Object.isFrozen(value) && Object.isFrozen(value.l)).toBe(true);
  });

  it("list object members sorted by key whatever order they were written in", () => {
    const op = decodeOp(encodeOp({ kind: "set", key: "k", value: { b: 1, a: 2, "": 3 } }));
    expect(Object.keys((op as { value: object }).value)).toEqual(["", "a", "b"]);
  });
});

describe("kv op decoder refuses malformed input with Protocol, naming the field", () => {
  it("names an unknown version, kind or JSON type", () => {
    expect(() => decodeOp(hex("02 02 016b"))).toThrow(protocol(/^malformed kv op: version is 2, but this code reads only version 1/));
    expect(() => decodeOp(new Uint8Array())).toThrow(protocol(/version is missing/));
    expect(() => decodeOp(hex("01 04 016b"))).toThrow(protocol(/kind has the unknown tag 4 \(known: 1 to 3\)/));
    expect(() => decodeOp(setWith("09"))).toThrow(protocol(/set\.value type has the unknown tag 9 \(known: 0 to 8\) \(at byte 4 of 5\)/));
  });

  it("refuses a batch inside a batch, truncation and trailing bytes", () => {
    expect(() => decodeOp(hex("01 03 01 03 00"))).toThrow(protocol(/batch\.ops\[0\]\.kind has the tag 3, but a batch holds only set \(1\) and delete \(2\) ops/));
    expect(() => decodeOp(hex("01 03 05 02 016b"))).toThrow(protocol(/batch\.ops count is 5, but only 3 bytes remain/));
    expect(() => decodeOp(hex("01 02 026b"))).toThrow(protocol(/delete\.key declares 2 bytes, but only 1 remain/));
    expect(() => decodeOp(hex("01 02 016b 00"))).toThrow(protocol(/followed by 1 trailing byte/));
    expect(() => decodeOp(setWith("05 3ff8"))).toThrow(protocol(/set\.value is cut off: a float takes 8 bytes, but only 2 remain/));
  });

  it("refuses an empty key and invalid UTF-8", () => {
    expect(() => decodeOp(hex("01 02 00"))).toThrow(protocol(/delete\.key is empty, but a key is a non-empty string/));
    expect(() => decodeOp(hex("01 02 03eda080"))).toThrow(protocol(/delete\.key is not valid UTF-8/));
    expect(() => decodeOp(setWith("06 01ff"))).toThrow(protocol(/set\.value is not valid UTF-8/));
  });

  it("refuses every non-canonical number", () => {
    expect(() => decodeOp(setWith("03 8000"))).toThrow(protocol(/set\.value is an overlong varint/));
    expect(() => decodeOp(setWith("04 00"))).toThrow(protocol(/negative integer of magnitude 0/));
    expect(() => decodeOp(setWith("05 3ff0000000000000"))).toThrow(protocol(/is the integer 1 as a float, but safe integers take an integer tag/));
    expect(() => decodeOp(setWith("05 8000000000000000"))).toThrow(protocol(/is the integer -0 as a float/));
    expect(() => decodeOp(setWith("05 7ff8000000000000"))).toThrow(protocol(/is NaN, but JSON numbers are finite/));
    expect(() => decodeOp(setWith("05 fff0000000000000"))).toThrow(protocol(/is -Infinity/));
  });

  it("refuses object keys out of order, repeated, or __proto__", () => {
    expect(() => decodeOp(setWith("08 02 0162 00 0161 00"))).toThrow(
      protocol(/set\.value\.members\[1\]\.key is "a", not after the previous key "b": keys are sorted and unique/),
    );
    expect(() => decodeOp(setWith("08 02 0161 00 0161 00"))).toThrow(protocol(/members\[1\]\.key is "a", not after the previous key "a"/));
    expect(() => decodeOp(setWith(`08 01 09${Buffer.from("__proto__").toString("hex")} 00`))).toThrow(protocol(/members\[0\]\.key is "__proto__"/));
  });

  it("refuses nesting deeper than the JSON gate allows, and accepts the deepest it allows", () => {
    const nested = (levels: number) => setWith(`${"0701".repeat(levels)}00`);
    expect(decodeOp(nested(256))).toMatchObject({ kind: "set", key: "k" });
    expect(() => decodeOp(nested(257))).toThrow(protocol(/is nested deeper than 256 levels/));
  });

  it("refuses input over maxBytes with TooLarge before parsing", () => {
    const bytes = hex(GOLDEN_OPS.delete.hex);
    expect(() => decodeOp(bytes, { maxBytes: bytes.length - 1 })).toThrow(expect.objectContaining({ code: "TooLarge" }));
    expect(decodeOp(bytes, { maxBytes: bytes.length })).toStrictEqual(GOLDEN_OPS.delete.op);
  });
});

describe("kv op encoder", () => {
  it("refuses invalid keys and non-JSON values with InvalidValue, as the store's gate does", () => {
    expect(() => encodeOp({ kind: "delete", key: "" })).toThrow(invalidValue(/keys must not be empty/));
    expect(() => encodeOp({ kind: "set", key: "a\uD800", value: 1 })).toThrow(invalidValue(/lone UTF-16 surrogates/));
    expect(() => encodeOp({ kind: "set", key: "k", value: Number.NaN })).toThrow(invalidValue(/set\.value is not JSON/));
    const notJson = { when: new Date(0) } as unknown as Json;
    expect(() => encodeOp({ kind: "batch", ops: [{ kind: "set", key: "k", value: notJson }] })).toThrow(invalidValue(/batch\.ops\[0\]\.value\.when is not JSON/));
  });

  it("refuses a batch inside a batch with InvalidArgument", () => {
    const nested = { kind: "batch", ops: [{ kind: "batch", ops: [] }] } as unknown as KvOp;
    expect(() => encodeOp(nested)).toThrow(expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(/batch\.ops\[0\] is a batch op/) }));
    expect(() => checkedWrites(nested)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });

  it("trusts frozen values (validated at the gate) and refuses what it cannot encode as a bug", () => {
    const lying = Object.freeze({ n: Number.POSITIVE_INFINITY });
    expect(() => encodeOp({ kind: "set", key: "k", value: lying })).toThrow(InvariantError);
    expect(() => encodeOp({ kind: "set", key: "k", value: lying })).toThrow(/kv codec: set\.value\.members\[0\]\.value must be a finite number, got Infinity/);
  });

  it("encodes an empty batch", () => {
    expect(toHex(encodeOp({ kind: "batch", ops: [] }))).toBe("010300");
    expect(decodeOp(hex("010300"))).toStrictEqual({ kind: "batch", ops: [] });
  });
});
