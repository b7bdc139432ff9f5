import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isConcordError } from "../src/errors.js";
import { checkKey, jsonView, MAX_JSON_DEPTH, toFrozenJson } from "../src/json.js";
import { checkProperty } from "./property/prop.js";

function rejects(value: unknown): string {
  try {
    toFrozenJson(value);
  } catch (e) {
    if (!isConcordError(e, "InvalidValue")) throw e;
    return e.message;
  }
  throw new Error(`accepted ${String(value)}`);
}

describe("JSON values", () => {
  it("accepts any JSON value and returns an equal, deep-frozen copy", async () => {
    await checkProperty(
      fc.property(fc.jsonValue(), (value) => {
        fc.pre(!JSON.stringify(value).includes('"__proto__"')); // refused on purpose, tested below
        const copy = toFrozenJson(value);
        // JSON's own round trip is the reference: it also turns -0 into 0.
        expect(copy).toStrictEqual(JSON.parse(JSON.stringify(value)));
        const frozenAll = (v: unknown): boolean =>
          typeof v !== "object" || v === null || (Object.isFrozen(v) && Object.values(v).every(frozenAll));
        expect(frozenAll(copy)).toBe(true);
      }),
    );
  });

  it("refuses what Yjs would not carry faithfully: __proto__ keys and lone surrogates", () => {
    expect(rejects(JSON.parse('{"a": {"__proto__": {"polluted": true}}}'))).toMatch(/value\.a\.__proto__ .*"__proto__" key/);
    expect(rejects("a\uD800b")).toMatch(/lone UTF-16 surrogate/);
    expect(rejects({ ["\uDC00"]: 1 })).toMatch(/object key with a lone UTF-16 surrogate/);
    expect(toFrozenJson("emoji \uD83D\uDE00 is fine")).toBe("emoji \uD83D\uDE00 is fine");
    expect(() => checkKey("k\uD800")).toThrow(/lone UTF-16 surrogates/);
  });

  it("stores -0 as 0, as every other replica would decode it", () => {
    expect(Object.is(toFrozenJson(-0), 0)).toBe(true);
    expect(Object.is((toFrozenJson([-0]) as number[])[0], 0)).toBe(true);
  });

  it("bounds the encoded size of what it accepts", () => {
    const size = { bytes: 0 };
    toFrozenJson({ title: "x".repeat(1000), n: 1 }, "value", size);
    expect(size.bytes).toBeGreaterThanOrEqual(1000);
    expect(size.bytes).toBeLessThan(3100);
  });

  it("jsonView shows JSON, hides what is not, and never touches foreign objects", () => {
    const bytes = new Uint8Array([1, 2]);
    const sub = { nested: bytes };
    expect(jsonView(bytes)).toBeUndefined();
    expect(jsonView(sub)).toBeUndefined();
    expect(Object.isFrozen(sub)).toBe(false);
    expect(jsonView(10n)).toBeUndefined();
    expect(jsonView(undefined)).toBeUndefined();
    expect(jsonView(NaN)).toBeUndefined();
    expect(jsonView(Object.create({ inherited: 1 }))).toBeUndefined();
    const plain = { a: [1, { b: "c" }] };
    expect(jsonView(plain)).toBe(plain);
    expect(Object.isFrozen(plain.a[1])).toBe(true);
  });

  it("copies: mutating the input afterwards does not change the stored value", () => {
    const input = { a: [1, 2], b: { c: "x" } };
    const copy = toFrozenJson(input);
    input.a.push(3);
    input.b.c = "y";
    expect(copy).toEqual({ a: [1, 2], b: { c: "x" } });
  });

  it("rejects what JSON cannot represent, naming the path", () => {
    expect(rejects(undefined)).toMatch(/value is not JSON: it is a undefined/);
    expect(rejects({ a: { b: NaN } })).toMatch(/value\.a\.b .*NaN/);
    expect(rejects([1, Infinity])).toMatch(/value\[1\].*Infinity/);
    expect(rejects({ f: () => 1 })).toMatch(/value\.f .*function/);
    expect(rejects(10n)).toMatch(/bigint/);
    expect(rejects(Symbol("s"))).toMatch(/symbol/);
    expect(rejects(new Date(0))).toMatch(/a Date instance/);
    expect(rejects(new Map())).toMatch(/a Map instance/);
    expect(rejects(new Uint8Array(2))).toMatch(/a Uint8Array instance/);
    // eslint-disable-next-line no-sparse-arrays
    expect(rejects([1, , 3])).toMatch(/value\[1\].*sparse/);
    expect(rejects({ [Symbol("k")]: 1 })).toMatch(/symbol-keyed/);
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = cyclic;
    expect(rejects(cyclic)).toMatch(/cycle/);
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_JSON_DEPTH; i++) deep = [deep];
    expect(rejects(deep)).toMatch(/nesting deeper/);
  });

  it("accepts the same object twice in one value (a DAG is not a cycle)", () => {
    const shared = { x: 1 };
    expect(toFrozenJson({ a: shared, b: shared })).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it("accepts objects without a prototype", () => {
    const o = Object.create(null) as Record<string, number>;
    o["k"] = 1;
    expect(toFrozenJson(o)).toEqual({ k: 1 });
  });

  it("keys are non-empty strings", () => {
    expect(() => checkKey("")).toThrow(/must not be empty/);
    expect(() => checkKey(1)).toThrow(/must be strings, got number/);
    expect(() => checkKey(null)).toThrow(/got null/);
    expect(() => checkKey("ok")).not.toThrow();
  });
});
