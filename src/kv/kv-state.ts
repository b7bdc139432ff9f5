/**
 * The key-value state machine every replica of `primary` mode (and later `strong` mode) runs: JSON
 * values under string keys, changed only by {@link KvOp}s applied in log order. Pure and
 * deterministic: replicas that apply the same ops in the same order hold equal states and encode
 * them to the same snapshot bytes.
 *
 * Snapshot format ({@link KvState.encode}): `u8 version` ({@link KV_CODEC_VERSION}, shared with the
 * ops), `uint count`, then per entry `string key`, `json value`, keys strictly increasing in UTF-16
 * code unit order. Canonical like the ops (see ops.ts and `src/codec/json-value.ts`).
 *
 * Ownership: every value the state holds is deep-frozen (see `frozenValue` in ops.ts), so the
 * values {@link KvState.get} and {@link KvState.entries} hand out are shared, not copied, and
 * nobody can mutate them.
 */
import { readJson, writeJson } from "../codec/json-value.js";
import { decodeVersioned, encodeVersioned, type DecodeLimits } from "../codec/primitives.js";
import { assertNever } from "../errors.js";
import type { Json } from "../json.js";
import type { Change } from "../store.js";
import { KV_FORMAT, checkedWrites, readKey, writeKey, type KvOp } from "./ops.js";

export class KvState {
  readonly #values = new Map<string, Json>();
  /** Every key, sorted; null when a key was added or removed since it was last needed. */
  #sortedKeys: string[] | null = [];

  /** Number of keys. */
  get size(): number {
    return this.#values.size;
  }

  /** The value under `key` (deep-frozen), or `undefined`. */
  get(key: string): Json | undefined {
    return this.#values.get(key);
  }

  /**
   * Every `[key, value]` whose key starts with `prefix` (default: every key), sorted by key in
   * UTF-16 code unit order. A fresh array of fresh pairs; the values are the state's own
   * deep-frozen ones. Sorting costs O(n log n) once after keys were added or removed.
   */
  entries(prefix = ""): Array<[string, Json]> {
    const keys = this.#keys();
    const out: Array<[string, Json]> = [];
    for (let i = lowerBound(keys, prefix); i < keys.length && keys[i]!.startsWith(prefix); i++) {
      out.push([keys[i]!, this.#values.get(keys[i]!)!]);
    }
    return out;
  }

  /**
   * Applies `op` atomically: a batch's writes in order, or (when one of them is invalid) none.
   * Returns the keys whose value differs from before `op` (JSON equality, so setting an equal value
   * or deleting an absent key changes nothing), each once with its new value (`undefined`: deleted),
   * in the order `op` first touched them.
   *
   * Values are kept as `frozenValue` (ops.ts) returns them: frozen objects and arrays are trusted
   * as validated, anything else is copied. Throws `InvalidValue` for an invalid key or a value that is not JSON, and
   * `InvalidArgument` for a batch inside a batch; the state is then unchanged.
   */
  apply(op: KvOp): Change[] {
    const writes = checkedWrites(op);
    const before = new Map<string, Json | undefined>();
    for (const w of writes) {
      if (!before.has(w.key)) before.set(w.key, this.#values.get(w.key));
      switch (w.kind) {
        case "set":
          if (!this.#values.has(w.key)) this.#sortedKeys = null;
          this.#values.set(w.key, w.value);
          break;
        case "delete":
          if (this.#values.delete(w.key)) this.#sortedKeys = null;
          break;
        default:
          assertNever(w, "kv write");
      }
    }
    const changes: Change[] = [];
    for (const [key, old] of before) {
      const now = this.#values.get(key);
      if (!jsonEqual(old, now)) changes.push({ key, value: now });
    }
    return changes;
  }

  /** The canonical snapshot of this state (see the module comment): equal states, equal bytes. */
  encode(): Uint8Array {
    const keys = this.#keys();
    return encodeVersioned(KV_FORMAT, (w) => {
      w.count(keys.length, "entries");
      keys.forEach((key, i) => {
        writeKey(w, key, `entries[${i}].key`);
        writeJson(w, this.#values.get(key)!, `entries[${i}].value`);
      });
    });
  }

  /**
   * The state a snapshot of {@link encode} holds. Snapshots travel on the wire in `primary` mode, so
   * this throws ONLY a `Protocol` (malformed, non-canonical, keys out of order or repeated, wrong
   * version) or `TooLarge` (over `limits.maxBytes`) `ConcordError`; a caller that read the bytes
   * from its own disk may report them as `Corrupt`.
   */
  static decode(bytes: Uint8Array, limits?: DecodeLimits): KvState {
    return decodeVersioned(KV_FORMAT, "kv snapshot", bytes, limits, (r) => {
      const state = new KvState();
      const count = r.count("entries");
      const keys: string[] = [];
      for (let i = 0; i < count; i++) {
        const field = `entries[${i}].key`;
        const at = r.offset;
        const key = readKey(r, field);
        const previous = keys[keys.length - 1];
        if (previous !== undefined && !(previous < key)) r.fail(field, "is not after the previous key: keys are sorted and unique", at);
        keys.push(key);
        state.#values.set(key, readJson(r, `entries[${i}].value`));
      }
      state.#sortedKeys = keys;
      return state;
    });
  }

  /**
   * What changes turn this state into `next`: every key whose value differs (`value` undefined
   * for a key `next` lacks), in key order. What subscribers hear when a state is replaced whole.
   */
  diff(next: KvState): Change[] {
    const changes: Change[] = [];
    for (const key of [...new Set([...this.#keys(), ...next.#keys()])].sort()) {
      const value = next.#values.get(key);
      if (!jsonEqual(this.#values.get(key), value)) changes.push({ key, value });
    }
    return changes;
  }

  /** True when both states hold the same keys with JSON-equal values (for tests and checkers). */
  equals(other: KvState): boolean {
    if (this.#values.size !== other.#values.size) return false;
    for (const [key, value] of this.#values) {
      if (!other.#values.has(key) || !jsonEqual(value, other.#values.get(key))) return false;
    }
    return true;
  }

  #keys(): string[] {
    this.#sortedKeys ??= [...this.#values.keys()].sort();
    return this.#sortedKeys;
  }
}

/** First index of `keys` (sorted) whose key is not below `prefix`. */
function lowerBound(keys: readonly string[], prefix: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < prefix) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** JSON equality: same type and value, arrays in order, objects with the same members in any order. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v: Json, i: number) => jsonEqual(v, (b as readonly Json[])[i]));
  }
  const ao = a as { readonly [key: string]: Json };
  const bo = b as { readonly [key: string]: Json };
  const keys = Object.keys(ao);
  if (keys.length !== Object.keys(bo).length) return false;
  return keys.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k]!, bo[k]!));
}
