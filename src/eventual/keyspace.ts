/**
 * The JSON keyspace of an eventual store: one root `Y.Map` in the document. Stock Yjs apps reach
 * the same data as `doc.getMap("concord")`.
 */
import * as Y from "yjs";
import { ConcordError } from "../errors.js";
import { jsonView, type Json } from "../json.js";
import type { Change, ChangeEvent, RangeOptions } from "../store.js";

/** Name of the root map holding the store's keys. */
export const KEYSPACE = "concord";

/**
 * The value under `key` as JSON. A Y type placed there through the raw doc reads as its JSON; a
 * value that is not JSON (binary, a subdocument: stock Yjs code can store those) reads as
 * `undefined`: reach it through the `Y.Doc`.
 */
export function readValue(map: Y.Map<unknown>, key: string): Json | undefined {
  const value = map.get(key);
  return jsonView(value instanceof Y.AbstractType ? value.toJSON() : value);
}

/**
 * Throws `InvalidValue` for a value `Y.Map#set` would refuse: Yjs picks the content type from
 * `value.constructor`, which a top-level object with its own `"constructor"` key shadows (nested
 * objects are encoded differently and are fine). Checked before any write touches the document, so
 * a transaction is never half-applied.
 */
export function checkStorable(key: string, value: Json): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, "constructor")) {
    throw new ConcordError(
      "InvalidValue",
      `the value of "${key}" is an object with a "constructor" key, which Yjs can't store at the top of a value; nest it one level deeper`,
      { key },
    );
  }
}

/** Validates range options: `prefix`, when given, is a string. Throws `InvalidArgument` otherwise. */
export function prefixOf(options: RangeOptions | null | undefined): string {
  if (options === undefined || options === null) return "";
  if (typeof options !== "object") throw new ConcordError("InvalidArgument", `range options must be an object like { prefix: "todo:" }, got ${typeof options}`);
  const prefix: unknown = options.prefix;
  if (prefix === undefined) return "";
  if (typeof prefix !== "string") throw new ConcordError("InvalidArgument", `prefix must be a string, got ${prefix === null ? "null" : typeof prefix}`);
  return prefix;
}

/** `[key, value]` pairs matching `prefix`, sorted by key. */
export function readEntries(map: Y.Map<unknown>, options?: RangeOptions | null): Array<[string, Json]> {
  const prefix = prefixOf(options);
  const out: Array<[string, Json]> = [];
  for (const key of map.keys()) {
    if (!key.startsWith(prefix)) continue;
    const value = readValue(map, key);
    if (value !== undefined) out.push([key, value]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The changes of one `Y.Map` event that match `prefix`, or `undefined` if none do. */
export function changeEventFor(
  map: Y.Map<unknown>,
  event: Y.YMapEvent<unknown>,
  prefix: string,
): ChangeEvent | undefined {
  const changes: Change[] = [];
  for (const key of event.keysChanged) {
    if (key.startsWith(prefix)) changes.push({ key, value: readValue(map, key) });
  }
  if (changes.length === 0) return undefined;
  return { changes, origin: event.transaction.local ? "local" : "remote" };
}
