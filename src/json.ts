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
  try {
    return copy(value, 0, undefined);
  } catch (e) {
    if (!(e instanceof NotJson)) throw e;
    const path = what + e.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
    throw new ConcordError("InvalidValue", `${path} is not JSON: it is ${e.why}`, { path });
  }
}

/** Nesting past which the walk starts tracking ancestors to tell a cycle from deep nesting. */
const TRACK_ANCESTORS_FROM = 32;

/** Thrown inside the walk; each level adds its key as it unwinds, so valid values pay no path. */
class NotJson {
  readonly path: Array<string | number> = [];
  constructor(readonly why: string) {}
}

function copy(value: unknown, depth: number, ancestors: object[] | undefined): Json {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new NotJson(`${value} is not a finite number; JSON has no NaN or Infinity`);
      return value;
    case "object": {
      if (value === null) return null;
      if (depth >= TRACK_ANCESTORS_FROM) {
        ancestors ??= [];
        if (ancestors.includes(value)) throw new NotJson("a cycle: the value contains itself");
        if (depth >= MAX_JSON_DEPTH) throw new NotJson(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
        ancestors.push(value);
      }
      const out = Array.isArray(value) ? copyArray(value, depth, ancestors) : copyObject(value, depth, ancestors);
      if (ancestors !== undefined && depth >= TRACK_ANCESTORS_FROM) ancestors.pop();
      return Object.freeze(out);
    }
    default:
      throw new NotJson(`a ${typeof value}, which JSON can't represent`);
  }
}

function copyArray(value: readonly unknown[], depth: number, ancestors: object[] | undefined): Json[] {
  const arr: Json[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    try {
      if (!(i in value)) throw new NotJson("a hole in a sparse array");
      arr[i] = copy(value[i], depth + 1, ancestors);
    } catch (e) {
      if (e instanceof NotJson) e.path.unshift(i);
      throw e;
    }
  }
  return arr;
}

function copyObject(value: object, depth: number, ancestors: object[] | undefined): Record<string, Json> {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
    throw new NotJson(`a ${kind} instance; only plain objects, arrays and primitives are JSON`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) throw new NotJson("an object with symbol-keyed properties");
  const obj: Record<string, Json> = {};
  for (const key of Object.keys(value)) {
    let v: Json;
    try {
      v = copy((value as Record<string, unknown>)[key], depth + 1, ancestors);
    } catch (e) {
      if (e instanceof NotJson) e.path.unshift(key);
      throw e;
    }
    // A "__proto__" key is data in JSON; plain assignment would set the prototype instead.
    if (key === "__proto__") Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
    else obj[key] = v;
  }
  return obj;
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

