import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isConcordError } from "../src/errors.js";
import { checkKey, freezeJson, MAX_JSON_DEPTH, toFrozenJson } from "../src/json.js";
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
        const copy = toFrozenJson(value);
        expect(copy).toStrictEqual(value);
        const frozenAll = (v: unknown): boolean =>
          typeof v !== "object" || v === null || (Object.isFrozen(v) && Object.values(v).every(frozenAll));
        expect(frozenAll(copy)).toBe(true);
      }),
    );
  });

  it("keeps a __proto__ key as data, not as the prototype", () => {
    const copy = toFrozenJson(JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    expect(Object.keys(copy)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: unknown }).polluted).toBeUndefined();
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

  it("freezeJson freezes nested values in place", () => {
    const v = { a: [{ b: 1 }] };
    freezeJson(v);
    expect(Object.isFrozen(v.a[0])).toBe(true);
  });

  it("keys are non-empty strings", () => {
    expect(() => checkKey("")).toThrow(/must not be empty/);
    expect(() => checkKey(1)).toThrow(/must be strings, got number/);
    expect(() => checkKey(null)).toThrow(/got null/);
    expect(() => checkKey("ok")).not.toThrow();
  });
});
