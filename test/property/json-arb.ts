/**
 * Arbitrary JSON values for codec and state-machine properties: strings and numbers at the edges
 * of the binary JSON encoding (src/codec/json-value.ts), shaped as the store's gate
 * (`toFrozenJson`) lets values through: deep-frozen, -0 as 0, no "__proto__" keys.
 */
import fc from "fast-check";
import { toFrozenJson, type Json } from "../../src/json.js";

/** Strings: mostly short ASCII, some arbitrary code units, and the awkward ones. */
export const jsonStringArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 6 }) },
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.constantFrom("", "\uFEFF", "\u0000", "😀", "\uFF5E", "__proto__", "0", "10", "9"),
);

/** Numbers at the edges of the integer tags and f64: -0, the safe range, just past it, fractions, huge. */
export const jsonNumberArb = fc.oneof(
  fc.integer({ min: -300, max: 300 }),
  fc.constantFrom(-0, 127, 128, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, -(2 ** 53), 0.5, -1e300, Number.MIN_VALUE),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** JSON values up to `maxDepth` deep with up to `maxItems` items per array or object. */
export function jsonArb(maxDepth = 4, maxItems = 4): fc.Arbitrary<Json> {
  return fc
    .letrec((tie) => ({
      json: fc.oneof(
        { maxDepth, depthSize: "small" },
        fc.constantFrom<Json>(null, true, false),
        jsonNumberArb,
        jsonStringArb,
        fc.array(tie("json"), { maxLength: maxItems }),
        fc.dictionary(jsonStringArb, tie("json"), { maxKeys: maxItems }),
      ),
    }))
    .json.filter((v) => {
      try {
        toFrozenJson(v);
        return true;
      } catch {
        return false;
      }
    })
    .map((v) => toFrozenJson(v));
}
