/**
 * Values in Concord are JSON. This module is the one gate every written value passes: it rejects
 * what JSON can't represent (undefined, functions, symbols, bigint, NaN/Infinity, class instances,
 * cycles, sparse arrays) and what Yjs can't carry faithfully (strings with lone UTF-16 surrogates,
 * which its encoder turns into U+FFFD; `"__proto__"` keys, which its decoder turns into a
 * prototype) with `InvalidValue`, and returns a deep-frozen copy so a caller mutating its object
 * afterwards can't change what was written. `-0` is stored as `0`, as Yjs would decode it.
 *
 * The read side ({@link jsonView}) is the gate's mirror for values that arrive from elsewhere (a
 * stock Yjs peer may store binary, subdocuments, bigints): it exposes only real JSON and never
 * touches anything else.
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
/**
 * Running upper bound, in bytes, of the Yjs encoding of the values passed through
 * {@link toFrozenJson} with it (for refusing oversized writes before they touch a document).
 */
export interface SizeBound {
  bytes: number;
}

/**
 * Validates `value` as JSON and returns a deep-frozen copy (primitives as they are). Adds an upper
 * bound of its encoded size to `size` when given. Throws `ConcordError("InvalidValue")` naming the
 * path of the first offending part.
 */
export function toFrozenJson(value: unknown, what = "value", size?: SizeBound): Json {
  const walk: Walk = { ancestors: undefined, bytes: 0 };
  try {
    const out = copy(value, 0, walk);
    if (size) size.bytes += walk.bytes;
    return out;
  } catch (e) {
    if (!(e instanceof NotJson)) throw e;
    const path = what + e.path.map((k) => (typeof k === "number" ? `[${k}]` : `.${k}`)).join("");
    throw new ConcordError("InvalidValue", `${path} is not JSON: it is ${e.why}`, { path });
  }
}

/** Nesting past which the walk starts tracking ancestors to tell a cycle from deep nesting. */
const TRACK_ANCESTORS_FROM = 32;

interface Walk {
  /** Objects above the current one, tracked only past {@link TRACK_ANCESTORS_FROM}. */
  ancestors: object[] | undefined;
  /** Upper bound of the encoded size so far: UTF-8 takes at most 3 bytes per UTF-16 unit. */
  bytes: number;
}

/** Thrown inside the walk; each level adds its key as it unwinds, so valid values pay no path. */
class NotJson {
  readonly path: Array<string | number> = [];
  constructor(readonly why: string) {}
}

function copy(value: unknown, depth: number, walk: Walk): Json {
  switch (typeof value) {
    case "string":
      if (!isWellFormed(value)) throw new NotJson("a string with a lone UTF-16 surrogate, which Yjs would store as U+FFFD");
      walk.bytes += value.length * 3 + 5;
      return value;
    case "boolean":
      walk.bytes += 1;
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new NotJson(`${value} is not a finite number; JSON has no NaN or Infinity`);
      walk.bytes += 9;
      return value === 0 ? 0 : value; // -0 becomes 0, as it would on every other replica
    case "object": {
      if (value === null) return null;
      walk.bytes += 5;
      let ancestors = walk.ancestors;
      if (depth >= TRACK_ANCESTORS_FROM) {
        ancestors ??= walk.ancestors = [];
        if (ancestors.includes(value)) throw new NotJson("a cycle: the value contains itself");
        if (depth >= MAX_JSON_DEPTH) throw new NotJson(`nesting deeper than ${MAX_JSON_DEPTH} levels`);
        ancestors.push(value);
      }
      const out = Array.isArray(value) ? copyArray(value, depth, walk) : copyObject(value, depth, walk);
      if (ancestors !== undefined && depth >= TRACK_ANCESTORS_FROM) ancestors.pop();
      return Object.freeze(out);
    }
    default:
      throw new NotJson(`a ${typeof value}, which JSON can't represent`);
  }
}

function copyArray(value: readonly unknown[], depth: number, walk: Walk): Json[] {
  const arr: Json[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    try {
      if (!(i in value)) throw new NotJson("a hole in a sparse array");
      arr[i] = copy(value[i], depth + 1, walk);
    } catch (e) {
      if (e instanceof NotJson) e.path.unshift(i);
      throw e;
    }
  }
  return arr;
}

function copyObject(value: object, depth: number, walk: Walk): Record<string, Json> {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? "object";
    throw new NotJson(`a ${kind} instance; only plain objects, arrays and primitives are JSON`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) throw new NotJson("an object with symbol-keyed properties");
  const obj: Record<string, Json> = {};
  for (const key of Object.keys(value)) {
    try {
      if (key === "__proto__") throw new NotJson('an object with a "__proto__" key, which Yjs would decode as a prototype');
      if (!isWellFormed(key)) throw new NotJson("an object key with a lone UTF-16 surrogate, which Yjs would store as U+FFFD");
      walk.bytes += key.length * 3 + 5;
      obj[key] = copy((value as Record<string, unknown>)[key], depth + 1, walk);
    } catch (e) {
      if (e instanceof NotJson) e.path.unshift(key);
      throw e;
    }
  }
  return obj;
}

/**
 * The JSON view of a value found in a document: the value itself (deep-frozen) when it is JSON,
 * `undefined` when it is not (binary, a subdocument, a bigint, an object with a foreign prototype:
 * things stock Yjs code can store). Never mutates, throws on or walks into a non-JSON object.
 */
export function jsonView(value: unknown): Json | undefined {
  return isJson(value, 0) ? freezeJson(value) : undefined;
}

function isJson(value: unknown, depth: number): value is Json {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth >= MAX_JSON_DEPTH) return false;
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto === Array.prototype) {
        // Frozen plain values were validated by this module before it froze them.
        return Object.isFrozen(value) || (value as unknown[]).every((v) => isJson(v, depth + 1));
      }
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.isFrozen(value) || Object.values(value).every((v) => isJson(v, depth + 1));
    }
    default:
      return false;
  }
}

/** Deep-freezes a JSON value in place (values decoded from remote updates). Cheap when frozen. */
function freezeJson<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) freezeJson(v);
  }
  return value;
}

/** Keys are non-empty, well-formed strings. Throws `InvalidValue` otherwise. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw new ConcordError("InvalidValue", `keys must be strings, got ${key === null ? "null" : typeof key}`, { key });
  }
  if (key.length === 0) throw new ConcordError("InvalidValue", "keys must not be empty", { key });
  if (!isWellFormed(key)) {
    throw new ConcordError("InvalidValue", "keys must not contain lone UTF-16 surrogates: Yjs would store them as U+FFFD", { key });
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `String.prototype.isWellFormed` (ES2024), with a fallback for older engines. */
function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(s) : !LONE_SURROGATE.test(s);
}

