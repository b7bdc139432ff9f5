/**
 * The replicated state machine of the Raft simulation, and how entries are described and hashed
 * so that the checker can compare them across nodes, incarnations and snapshots.
 *
 * Model (per run, see WorldOptions.durableStateMachine): VOLATILE with replay, where a crash loses
 * the state machine and a restart rebuilds it from the durable storage's snapshot (applied =
 * snapshot index) and the core hands out every committed entry after it again; or DURABLE on
 * apply, where it survives a crash as of its last applied entry (applied passed to the core). A
 * snapshot's data is this state machine, serialized: its applied index, its hash chain and every
 * normal payload it applied.
 */
import type { Entry } from "../../../src/strong/raft/types.js";

/** What a node applied: the index of the last entry, a hash chain over every entry, the payloads. */
export interface StateMachine {
  index: number;
  /** `chainHash` folded over `describeEntry` of entries 1..index, starting at {@link HASH_SEED}. */
  hash: number;
  /** Payloads of the normal entries applied, in order. */
  values: string[];
}

/** The hash of the empty history. */
export const HASH_SEED = 0x811c9dc5;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** UTF-8 bytes of `s`. */
export const utf8 = (s: string): Uint8Array => encoder.encode(s);

/** A state machine that applied nothing. */
export function emptyStateMachine(): StateMachine {
  return { index: 0, hash: HASH_SEED, values: [] };
}

const descriptions = new WeakMap<Entry, string>();

/**
 * A comparable description of an entry: index, term, kind and content. Memoized per object
 * (entries are immutable); two entries are "the same entry" when their descriptions are equal.
 */
export function describeEntry(e: Entry): string {
  let d = descriptions.get(e);
  if (d === undefined) {
    switch (e.kind) {
      case "normal":
        d = `${e.index}@${e.term} normal ${decoder.decode(e.data)}`;
        break;
      case "noop":
        d = `${e.index}@${e.term} noop`;
        break;
      case "conf-change":
        d = `${e.index}@${e.term} ${e.change.type} ${e.change.node}`;
        break;
    }
    descriptions.set(e, d);
  }
  return d;
}

/** FNV-1a (32-bit) of `text`, continuing from `prev`: the next link of a history's hash chain. */
export function chainHash(prev: number, text: string): number {
  let h = prev >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Separator, so that ["ab", "c"] and ["a", "bc"] differ.
  h ^= 0xff;
  return Math.imul(h, 0x01000193) >>> 0;
}

/** Applies `e`, which MUST be entry `sm.index + 1` (the caller checks). */
export function applyEntry(sm: StateMachine, e: Entry): void {
  sm.index = e.index;
  sm.hash = chainHash(sm.hash, describeEntry(e));
  if (e.kind === "normal") sm.values.push(decoder.decode(e.data));
}

/** Serializes `sm` as snapshot data (JSON; large enough to need several chunks with small chunk sizes). */
export function encodeStateMachine(sm: StateMachine): Uint8Array {
  return encoder.encode(JSON.stringify({ i: sm.index, h: sm.hash, v: sm.values }));
}

/** The state machine a snapshot's data holds; throws when the bytes are not {@link encodeStateMachine}'s. */
export function decodeStateMachine(bytes: Uint8Array): StateMachine {
  const parsed = JSON.parse(decoder.decode(bytes)) as { i: number; h: number; v: string[] };
  if (!Number.isSafeInteger(parsed.i) || !Number.isSafeInteger(parsed.h) || !Array.isArray(parsed.v)) {
    throw new Error(`snapshot data is not a state machine: ${decoder.decode(bytes).slice(0, 80)}`);
  }
  return { index: parsed.i, hash: parsed.h, values: parsed.v };
}
