/**
 * Values in Concord are JSON. This module is the one gate every written value passes: it rejects
 * what JSON can't represent (undefined, functions, symbols, bigint, NaN/Infinity, class instances,
 * cycles, sparse arrays) with `InvalidValue`, and returns a deep-frozen copy so a caller mutating
 * its object afterwards can't change what was written.
 */
import { ConcordError } from "./errors.js";

/** A JSON value. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** Deepest nesting accepted; deeper values are almost always a bug (or an attack on the stack). */
export const MAX_JSON_DEPTH = 256;

/**
 * Validates `value` as JSON and returns a deep-frozen copy (primitives as they are).
 * Throws `ConcordError("InvalidValue")` naming the path of the first offending part.
 */
export function toFrozenJson(value: unknown, what = "value"): Json {
  return copy(value, { what, ancestors: [], path: [] });
}

/**
 * The walk's position: the objects above the current one (cycle check) and the keys leading here,
 * from which an error's path is built only when there is an error.
 */
interface Walk {
  readonly what: string;
  readonly ancestors: object[];
  readonly path: Array<string | number>;
}

function copy(value: unknown, walk: Walk): Json {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw invalid(walk, `${value} is not a finite number; JSON has no NaN or Infinity`);
      return value;
    case "object": {
      if (value === null) return null;
      if (walk.ancestors.length >= MAX_JSON_DEPTH) throw invalid(walk, `nesting deeper than ${MAX_JSON_DEPTH} levels`);
      if (walk.ancestors.includes(value)) throw invalid(walk, "a cycle: the value contains itself");
      walk.ancestors.push(value);
      let out: Json;
      if (Array.isArray(value)) {
        const arr: Json[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          walk.path.push(i);
          if (!(i in value)) throw invalid(walk, "a hole in a sparse array");
          arr[i] = copy(value[i], walk);
          walk.path.pop();
        }
        out = Object.freeze(arr);
      } else {
        const proto: unknown = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
          throw invalid(walk, `a ${kind} instance; only plain objects, arrays and primitives are JSON`);
        }
        if (Object.getOwnPropertySymbols(value).length > 0) throw invalid(walk, "an object with symbol-keyed properties");
        const obj: Record<string, Json> = {};
        for (const key of Object.keys(value)) {
          walk.path.push(key);
          const v = copy((value as Record<string, unknown>)[key], walk);
          walk.path.pop();
          // A "__proto__" key is data in JSON; plain assignment would set the prototype instead.
          if (key === "__proto__") Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
          else obj[key] = v;
        }
        out = Object.freeze(obj);
      }
      walk.ancestors.pop();
      return out;
    }
    default:
      throw invalid(walk, `a ${typeof value}, which JSON can't represent`);
  }
}

/** Deep-freezes a JSON value in place (values decoded from remote updates). Cheap when frozen. */
export function freezeJson<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freezeJson(v);
  }
  return value;
}

/** Keys are non-empty strings. Throws `InvalidValue` otherwise. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new ConcordError("InvalidValue", `keys must be strings, got ${key === null ? "null" : typeof key}`, { key });
  }
  if (key.length === 0) throw new ConcordError("InvalidValue", "keys must not be empty", { key });
}

function invalid(walk: Walk, why: string): ConcordError {
  const path = walk.what + walk.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
  return new ConcordError("InvalidValue", `${path} is not JSON: it is ${why}`, { path });
}
