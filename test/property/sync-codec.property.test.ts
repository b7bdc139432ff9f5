/**
 * Issue property 5: the y-websocket codec is symmetric, and total on hostile input (it decodes or
 * throws a Protocol/TooLarge ConcordError, nothing else). Plus: our structural update check agrees
 * with Yjs's own parser.
 */
import fc from "fast-check";
import * as encoding from "lib0/encoding";
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
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((version): Message => ({ type: "concord-hello", version })),
  fc.maxSafeNat().map((received): Message => ({ type: "concord-ack", received })),
  fc.string({ unit: "grapheme" }).map((token): Message => ({ type: "concord-auth", token })),
  fc
    .record({
      messageType: fc
        .oneof(fc.integer({ min: 4, max: 99 }), fc.integer({ min: 100, max: 1000 }), fc.integer({ min: 4, max: Number.MAX_SAFE_INTEGER }))
        .filter((t) => t < 100 || t > 102), // Concord's own extensions decode as themselves
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

/** One field a struct might hold, written in the encoding Yjs's update reader uses for it. */
type RawField =
  | { readonly kind: "uint"; readonly value: number }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "any"; readonly value: unknown }
  | { readonly kind: "bytes"; readonly value: Uint8Array };

const rawFieldArb: fc.Arbitrary<RawField> = fc.oneof(
  { arbitrary: fc.oneof(fc.nat({ max: 11 }), fc.nat()).map((value): RawField => ({ kind: "uint", value })), weight: 3 },
  fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('{"a":1}', "undefined", "null", "x")).map((value): RawField => ({ kind: "string", value })),
  fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(null, undefined)).map((value): RawField => ({ kind: "any", value })),
  fc.uint8Array({ maxLength: 3 }).map((value): RawField => ({ kind: "bytes", value })),
);

/**
 * An update v1 skeleton with arbitrary struct info bytes (any content ref 0..11 with any flag bits,
 * or any byte) followed by loosely typed fields, struct counts that may lie, a delete set and a
 * tail. Reaches the corners of Yjs's reader (flag bits on GC and Skip structs, unknown refs, origins
 * vs. parents) that bit flips on real updates rarely hit.
 */
const rawUpdateArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    clients: fc.array(
      fc.record({
        client: fc.nat({ max: 3 }),
        clock: fc.nat({ max: 3 }),
        countError: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.constantFrom(-1, 1)),
        structs: fc.array(
          fc.record({
            info: fc.oneof(
              fc.record({ ref: fc.nat({ max: 11 }), flags: fc.nat({ max: 7 }) }).map(({ ref, flags }) => ref | (flags << 5)),
              fc.integer({ min: 0, max: 255 }),
            ),
            fields: fc.array(rawFieldArb, { maxLength: 6 }),
          }),
          { maxLength: 3 },
        ),
      }),
      { maxLength: 2 },
    ),
    deletes: fc.array(fc.record({ client: fc.nat({ max: 3 }), ranges: fc.array(fc.tuple(fc.nat({ max: 5 }), fc.nat({ max: 3 })), { maxLength: 2 }) }), { maxLength: 2 }),
    tail: fc.uint8Array({ maxLength: 3 }),
  })
  .map(({ clients, deletes, tail }) => {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, clients.length);
    for (const c of clients) {
      encoding.writeVarUint(e, Math.max(0, c.structs.length + c.countError));
      encoding.writeVarUint(e, c.client);
      encoding.writeVarUint(e, c.clock);
      for (const { info, fields } of c.structs) {
        encoding.writeUint8(e, info);
        for (const f of fields) {
          if (f.kind === "uint") encoding.writeVarUint(e, f.value);
          else if (f.kind === "string") encoding.writeVarString(e, f.value);
          else if (f.kind === "any") encoding.writeAny(e, f.value as Parameters<typeof encoding.writeAny>[1]);
          else encoding.writeVarUint8Array(e, f.value);
        }
      }
    }
    encoding.writeVarUint(e, deletes.length);
    for (const d of deletes) {
      encoding.writeVarUint(e, d.client);
      encoding.writeVarUint(e, d.ranges.length);
      for (const [clock, length] of d.ranges) {
        encoding.writeVarUint(e, clock);
        encoding.writeVarUint(e, length);
      }
    }
    encoding.writeUint8Array(e, tail);
    return encoding.toUint8Array(e);
  });

/** The invariants `validateUpdate` checks on top of Yjs's reader (see its doc comment). */
const STRICTER_THAN_YJS = /is empty|not before it|empty delete range/;

/** What `f` threw, or `undefined`. */
function thrown(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (e) {
    return e ?? new Error("threw a nullish value");
  }
}

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

  it("validateUpdate agrees with Y.decodeUpdate on raw update skeletons, refusing more only for its documented invariants", async () => {
    await checkProperty(
      fc.property(rawUpdateArb, (bytes) => {
        const ours = thrown(() => validateUpdate(bytes));
        const yjs = thrown(() => Y.decodeUpdate(bytes));
        if (ours === undefined) expect(yjs).toBeUndefined();
        else if (yjs === undefined) expect(String(ours)).toMatch(STRICTER_THAN_YJS);
        if (ours !== undefined) expect(isConcordError(ours, "Protocol")).toBe(true);
      }),
      { numRuns: propRuns(3000) },
    );
  });
});
