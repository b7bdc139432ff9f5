/**
 * A canonical binary encoding of JSON values ({@link Json}), built from the shared primitives
 * (`primitives.ts`). Formats embed it (the key-value ops and snapshots of `src/kv/`).
 *
 * `json` is a `u8` tag, then:
 *
 * | tag | value | body |
 * |---|---|---|
 * | 0 | null | (empty) |
 * | 1 | false | (empty) |
 * | 2 | true | (empty) |
 * | 3 | integer 0 .. 2^53 - 1 | `uint n` |
 * | 4 | integer -(2^53 - 1) .. -1 | `uint -n` (so never 0) |
 * | 5 | any other finite number | `f64` (never a safe integer, never NaN or an infinity) |
 * | 6 | string | `string` |
 * | 7 | array | `list<json>` |
 * | 8 | object | `uint count`, then `string key`, `json value` per member, keys strictly increasing |
 *
 * Canonical: every JSON value has one encoding. Integers in the safe range always take tags 3/4, so
 * `-0` (which the JSON gate stores as 0) encodes as 0. Object members are sorted by key in UTF-16
 * code unit order (JavaScript `<`, the order of `Store.entries`), so key ORDER IS NOT PRESERVED: a
 * decoded object lists its keys sorted (then JavaScript enumerates integer-like keys first, as it
 * does for any object). A key `"__proto__"`, a string with a lone surrogate, and nesting past
 * {@link MAX_JSON_DEPTH} are refused on both sides, as the JSON gate of `src/json.ts` refuses them.
 */
import { MAX_JSON_DEPTH, type Json } from "../json.js";
import type { Reader, Writer } from "./primitives.js";

const TAG = { null: 0, false: 1, true: 2, uint: 3, negint: 4, float: 5, string: 6, array: 7, object: 8 } as const;

/**
 * Writes `value`, which MUST be JSON as `toFrozenJson` returns it (validated at the API gate).
 * Anything else is a caller bug: an `InvariantError` naming `field`'s path.
 */
export function writeJson(w: Writer, value: Json, field: string, depth = 0): void {
  switch (typeof value) {
    case "boolean":
      w.tag(value ? TAG.true : TAG.false);
      return;
    case "number":
      if (Number.isSafeInteger(value)) {
        if (value >= 0) {
          w.tag(TAG.uint);
          w.uint(value === 0 ? 0 : value, field); // -0 is a safe integer: store it as 0
        } else {
          w.tag(TAG.negint);
          w.uint(-value, field);
        }
      } else {
        w.tag(TAG.float);
        w.f64(value, field);
      }
      return;
    case "string":
      w.tag(TAG.string);
      w.string(value, field);
      return;
    case "object": {
      if (value === null) {
        w.tag(TAG.null);
        return;
      }
      if (depth >= MAX_JSON_DEPTH) w.refuse(field, `is nested deeper than ${MAX_JSON_DEPTH} levels`);
      if (Array.isArray(value)) {
        const arr = value as readonly Json[];
        w.tag(TAG.array);
        w.count(arr.length, field);
        for (let i = 0; i < arr.length; i++) writeJson(w, arr[i]!, `${field}[${i}]`, depth + 1);
        return;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) w.refuse(field, "is not a plain object");
      const obj = value as { readonly [key: string]: Json };
      const keys = Object.keys(obj).sort(); // the default order: UTF-16 code units
      w.tag(TAG.object);
      w.count(keys.length, field);
      keys.forEach((key, i) => {
        if (key === "__proto__") w.refuse(field, 'has a "__proto__" key, which the JSON gate refuses');
        w.string(key, `${field}.members[${i}].key`);
        writeJson(w, obj[key]!, `${field}.members[${i}].value`, depth + 1);
      });
      return;
    }
    default:
      w.refuse(field, `is a ${typeof value}, not JSON`);
  }
}

/**
 * Reads a value of {@link writeJson}: deep-frozen and fresh (it aliases nothing), so it may be
 * stored and handed out as is. Refuses non-canonical input as `Protocol` (see the module comment).
 */
export function readJson(r: Reader, field: string, depth = 0): Json {
  const at = r.offset;
  const tag = r.u8(`${field} type`);
  switch (tag) {
    case TAG.null:
      return null;
    case TAG.false:
      return false;
    case TAG.true:
      return true;
    case TAG.uint:
      return r.uint(field);
    case TAG.negint: {
      const at = r.offset;
      const n = r.uint(field);
      if (n === 0) r.fail(field, "is a negative integer of magnitude 0, but 0 takes the non-negative tag", at);
      return -n;
    }
    case TAG.float: {
      const at = r.offset;
      const n = r.f64(field);
      if (!Number.isFinite(n)) r.fail(field, `is ${n}, but JSON numbers are finite`, at);
      if (Number.isSafeInteger(n)) r.fail(field, `is the integer ${Object.is(n, -0) ? "-0" : n} as a float, but safe integers take an integer tag`, at);
      return n;
    }
    case TAG.string:
      return r.string(field);
    case TAG.array: {
      if (depth >= MAX_JSON_DEPTH) r.fail(field, `is nested deeper than ${MAX_JSON_DEPTH} levels`, at);
      const count = r.count(field);
      const arr: Json[] = new Array(count);
      for (let i = 0; i < count; i++) arr[i] = readJson(r, `${field}[${i}]`, depth + 1);
      return Object.freeze(arr);
    }
    case TAG.object: {
      if (depth >= MAX_JSON_DEPTH) r.fail(field, `is nested deeper than ${MAX_JSON_DEPTH} levels`, at);
      const count = r.count(field);
      const obj: Record<string, Json> = {};
      let previous: string | undefined;
      for (let i = 0; i < count; i++) {
        const keyField = `${field}.members[${i}].key`;
        const keyAt = r.offset;
        const key = r.string(keyField);
        if (previous !== undefined && !(previous < key)) {
          r.fail(keyField, `is ${JSON.stringify(clip(key))}, not after the previous key ${JSON.stringify(clip(previous))}: keys are sorted and unique`, keyAt);
        }
        if (key === "__proto__") r.fail(keyField, 'is "__proto__", which the JSON gate refuses', keyAt);
        obj[key] = readJson(r, `${field}.members[${i}].value`, depth + 1);
        previous = key;
      }
      return Object.freeze(obj);
    }
    default:
      return r.fail(`${field} type`, `has the unknown tag ${tag} (known: 0 to ${TAG.object})`, at);
  }
}

/** At most 40 code units of `s`, for error messages. */
function clip(s: string): string {
  return s.length <= 40 ? s : `${s.slice(0, 40)}...`;
}
