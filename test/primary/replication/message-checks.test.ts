import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { isPlausibleToPrimary, isPlausibleToReplica } from "../../../src/primary/replication/message-checks.js";
import type { PrimaryToReplica, ToPrimary } from "../../../src/primary/replication/messages.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { hist, rec, World } from "./world.js";

const E = asEpoch;
const L = asLsn;
const H = hist([1, "p", 1], [2, "q", 4]);
const bytes = new Uint8Array([1, 2, 3]);

describe("plausibility of messages to a primary", () => {
  it.each<[string, ToPrimary]>([
    ["a hello", { type: "hello", epoch: E(2), history: H, last: { epoch: E(2), lsn: L(5) } }],
    ["a hello of an empty log", { type: "hello", epoch: E(1), history: hist([1, "p", 1]), last: { epoch: E(0), lsn: L(0) } }],
    ["an ack", { type: "ack", epoch: E(1), received: L(5), applied: L(3), gap: false }],
    ["a snapshot ack", { type: "snapshot-ack", epoch: E(1), lsn: L(0), offset: 0 }],
    ["an epoch notice", { type: "epoch", epoch: E(2), history: H }],
  ])("accepts %s", (_name, msg) => {
    expect(isPlausibleToPrimary(msg)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["an epoch of 0", { type: "ack", epoch: 0, received: 0, applied: 0, gap: false }],
    ["a negative LSN", { type: "ack", epoch: 1, received: -1, applied: 0, gap: false }],
    ["a fractional LSN", { type: "ack", epoch: 1, received: 1.5, applied: 0, gap: false }],
    ["more applied than received", { type: "ack", epoch: 1, received: 1, applied: 2, gap: false }],
    ["a hello whose history knows a later epoch than the hello", { type: "hello", epoch: 1, history: H, last: { epoch: 0, lsn: 0 } }],
    ["a hello whose last record's epoch contradicts its history", { type: "hello", epoch: 2, history: H, last: { epoch: 1, lsn: 5 } }],
    ["a hello with an invalid history", { type: "hello", epoch: 2, history: hist([2, "q", 1], [1, "p", 2]), last: { epoch: 0, lsn: 0 } }],
    ["a notice whose epoch is not its history's last", { type: "epoch", epoch: 3, history: H }],
    ["a negative snapshot offset", { type: "snapshot-ack", epoch: 1, lsn: 0, offset: -4 }],
    ["an unknown type", { type: "welcome", epoch: 1, history: H, last: 0 }],
  ])("rejects %s", (_name, msg) => {
    expect(isPlausibleToPrimary(msg as ToPrimary)).toBe(false);
  });
});

describe("plausibility of messages to a replica", () => {
  it.each<[string, PrimaryToReplica]>([
    ["records across an epoch change", { type: "records", epoch: E(2), prev: L(2), records: [rec(1, 3), rec(2, 4)], last: L(9) }],
    ["a welcome", { type: "welcome", epoch: E(2), history: H, last: L(0) }],
    ["a last snapshot chunk", { type: "snapshot", epoch: E(2), history: H, lsn: L(7), common: L(3), offset: 4, data: bytes, done: true, total: 7 }],
    ["an empty snapshot", { type: "snapshot", epoch: E(1), history: H.slice(0, 1), lsn: L(0), common: L(0), offset: 0, data: new Uint8Array(), done: true, total: 0 }],
    ["a heartbeat", { type: "heartbeat", epoch: E(1), last: L(0) }],
  ])("accepts %s", (_name, msg) => {
    expect(isPlausibleToReplica(msg)).toBe(true);
  });

  it.each<[string, unknown]>([
    ["records with none in them", { type: "records", epoch: 1, prev: 0, records: [], last: 0 }],
    ["records not contiguous after prev", { type: "records", epoch: 1, prev: 0, records: [rec(1, 1), rec(1, 3)], last: 3 }],
    ["records whose epochs decrease", { type: "records", epoch: 2, prev: 0, records: [rec(2, 1), rec(1, 2)], last: 2 }],
    ["a record epoch above the message's", { type: "records", epoch: 1, prev: 0, records: [rec(2, 1)], last: 1 }],
    ["records past the primary's last LSN", { type: "records", epoch: 1, prev: 0, records: [rec(1, 1)], last: 0 }],
    ["a record without bytes", { type: "records", epoch: 1, prev: 0, records: [{ epoch: 1, lsn: 1, data: "x" }], last: 1 }],
    ["a chunk past the snapshot's end", { type: "snapshot", epoch: 2, history: H, lsn: 7, common: 0, offset: 6, data: bytes, done: true, total: 7 }],
    ["a chunk marked done before the end", { type: "snapshot", epoch: 2, history: H, lsn: 7, common: 0, offset: 0, data: bytes, done: true, total: 7 }],
    ["a welcome with a history of a later epoch", { type: "welcome", epoch: 1, history: H, last: 0 }],
    ["a heartbeat with a fractional LSN", { type: "heartbeat", epoch: 1, last: 0.5 }],
    ["a message that is not an object", null],
  ])("rejects %s", (_name, msg) => {
    expect(isPlausibleToReplica(msg as PrimaryToReplica)).toBe(false);
  });

  it("a primary drops an implausible message and counts it", () => {
    const w = new World();
    w.primary().core.step(asPeerId("r1"), { type: "ack", epoch: E(1), received: L(-1), applied: L(0), gap: false }, 0);
    expect(w.primary().core.status(0)).toMatchObject({ dropped: 1, replicas: [] });
  });
});
