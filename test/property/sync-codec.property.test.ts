/**
 * Issue property 5: the y-websocket codec is symmetric, and total on hostile input (it decodes or
 * throws a Protocol/TooLarge ConcordError, nothing else). Plus: our structural update check agrees
 * with Yjs's own parser.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { isConcordError } from "../../src/errors.js";
import type { Json } from "../../src/json.js";
import {
  decodeMessage,
  encodeMessage,
  validateStateVector,
  validateUpdate,
  type AwarenessEntry,
  type Message,
} from "../../src/eventual/sync/protocol.js";
import { docArb, historyStepArb, jsonArb, runHistory } from "../eventual/sync/doc-edits.js";
import { checkProperty, propRuns } from "./prop.js";

/**
 * A real update: a replica's whole state, one update a replica emitted, or several of them merged
 * (gaps become Skip structs, overlaps are trimmed); from histories of 1-3 replicas with pending
 * structs, deletions and garbage collection.
 */
const updateArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    docCount: fc.integer({ min: 1, max: 3 }),
    steps: fc.array(historyStepArb, { maxLength: 12 }),
    picks: fc.array(fc.nat(), { maxLength: 4 }),
    whole: fc.boolean(),
  })
  .map(({ docCount, steps, picks, whole }) => {
    const { docs, updates } = runHistory(docCount, steps);
    if (whole || updates.length === 0) return Y.encodeStateAsUpdate(docs[0]!);
    const picked = picks.map((i) => updates[i % updates.length]!);
    return picked.length === 1 ? picked[0]! : Y.mergeUpdates(picked);
  });

const stateVectorArb = docArb(8).map((doc) => Y.encodeStateVector(doc));

const awarenessEntryArb: fc.Arbitrary<AwarenessEntry> = fc.record({
  clientId: fc.maxSafeNat(),
  clock: fc.maxSafeNat(),
  state: fc.option(jsonArb.map((v) => v as Json), { nil: null }),
});

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  stateVectorArb.map((stateVector): Message => ({ type: "sync-step1", stateVector })),
  updateArb.map((update): Message => ({ type: "sync-step2", update })),
  updateArb.map((update): Message => ({ type: "sync-update", update })),
  fc.array(awarenessEntryArb, { maxLength: 4 }).map((entries): Message => ({ type: "awareness", entries })),
  fc.string({ unit: "grapheme" }).map((reason): Message => ({ type: "auth-denied", reason })),
  fc.constant<Message>({ type: "query-awareness" }),
  fc
    .record({
      messageType: fc.oneof(fc.integer({ min: 4, max: 99 }), fc.integer({ min: 100, max: 1000 }), fc.integer({ min: 4, max: Number.MAX_SAFE_INTEGER })),
      payload: fc.uint8Array({ maxLength: 32 }),
    })
    .map(({ messageType, payload }): Message => ({ type: "unknown", messageType, payload })),
);

/** Hostile bytes: pure noise, or a valid encoding truncated, bit-flipped or with garbage appended. */
const hostileBytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.record({ m: messageArb, cut: fc.nat() }).map(({ m, cut }) => {
    const bytes = encodeMessage(m);
    return bytes.slice(0, cut % (bytes.length + 1));
  }),
  fc.record({ m: messageArb, flips: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }).map(({ m, flips }) => {
    const bytes = encodeMessage(m).slice();
    for (const f of flips) bytes[Math.floor(f / 8) % bytes.length]! ^= 1 << f % 8;
    return bytes;
  }),
  fc.record({ m: messageArb, tail: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map(({ m, tail }) => {
    const bytes = encodeMessage(m);
    const out = new Uint8Array(bytes.length + tail.length);
    out.set(bytes);
    out.set(tail, bytes.length);
    return out;
  }),
);

/** Decodes, or returns the error; fails the property on any error that is not Protocol/TooLarge. */
function decodeOrError(bytes: Uint8Array, maxBytes?: number): Message | "rejected" {
  try {
    return decodeMessage(bytes, maxBytes === undefined ? {} : { maxBytes });
  } catch (e) {
    if (isConcordError(e, "Protocol") || isConcordError(e, "TooLarge")) return "rejected";
    throw new Error(`decodeMessage threw something other than Protocol/TooLarge: ${String(e)}`, { cause: e });
  }
}

function accepts(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

/** Real updates and state vectors, each possibly mutated (bit flips, truncation, garbage tail). */
const yjsPayloadArb = fc
  .record({
    payload: fc.oneof(updateArb, stateVectorArb),
    flips: fc.array(fc.nat(), { maxLength: 3 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    tail: fc.uint8Array({ maxLength: 4 }),
  })
  .map(({ payload, flips, cut, tail }) => {
    let bytes = payload.slice();
    for (const f of flips) if (bytes.length > 0) bytes[Math.floor(f / 8) % bytes.length]! ^= 1 << f % 8;
    if (cut !== undefined) bytes = bytes.slice(0, cut % (bytes.length + 1));
    const out = new Uint8Array(bytes.length + tail.length);
    out.set(bytes);
    out.set(tail, bytes.length);
    return out;
  });

describe("sync codec properties", () => {
  it("decode(encode(m)) deep-equals m for every message", async () => {
    await checkProperty(
      fc.property(messageArb, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
    );
  });

  it("hostile bytes decode to a message that re-encodes stably, or throw only Protocol/TooLarge", async () => {
    await checkProperty(
      fc.property(hostileBytesArb, fc.option(fc.nat({ max: 80 }), { nil: undefined }), (bytes, maxBytes) => {
        const m = decodeOrError(bytes, maxBytes);
        if (maxBytes !== undefined && bytes.length > maxBytes) expect(m).toBe("rejected");
        if (m !== "rejected") expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: propRuns(300) },
    );
  });

  it("every update Yjs produces passes validateUpdate", async () => {
    await checkProperty(
      fc.property(updateArb, (update) => {
        expect(() => validateUpdate(update)).not.toThrow();
      }),
    );
  });

  it("validateUpdate accepts only what Y.decodeUpdate accepts; validateStateVector exactly what Y.decodeStateVector accepts", async () => {
    await checkProperty(
      fc.property(yjsPayloadArb, (bytes) => {
        if (accepts(() => validateUpdate(bytes))) expect(accepts(() => Y.decodeUpdate(bytes))).toBe(true);
        expect(accepts(() => validateStateVector(bytes))).toBe(accepts(() => Y.decodeStateVector(bytes)));
      }),
      { numRuns: propRuns(300) },
    );
  });
});
