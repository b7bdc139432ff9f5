/**
 * The JSON keyspace of an eventual store: one root `Y.Map` in the document. Stock Yjs apps reach
 * the same data as `doc.getMap("concord")`.
 */
import * as Y from "yjs";
import { freezeJson, type Json } from "../json.js";
import type { Change, ChangeEvent, RangeOptions } from "../store.js";

/** Name of the root map holding the store's keys. */
export const KEYSPACE = "concord";

/** The value under `key` as JSON (a Y type placed there through the raw doc reads as its JSON). */
export function readValue(map: Y.Map<unknown>, key: string): Json | undefined {
  const value = map.get(key);
  if (value instanceof Y.AbstractType) return freezeJson(value.toJSON() as Json);
  return freezeJson(value as Json | undefined);
}

/** `[key, value]` pairs matching `prefix`, sorted by key. */
export function readEntries(map: Y.Map<unknown>, options: RangeOptions = {}): Array<[string, Json]> {
  const prefix = options.prefix ?? "";
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
