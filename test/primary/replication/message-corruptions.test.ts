/**
 * The replication plausibility checks (src/primary/replication/message-checks.ts) against every
 * single-field corruption of a valid message of each type, both directions: counts at both ends
 * (0 is one, MAX_SAFE_INTEGER is not), booleans, bytes, positions, records and what is not an
 * object at all. Complements message-checks.test.ts, which names the rules one by one.
 */
import { describe, expect, it } from "vitest";
import { isPlausibleToPrimary, isPlausibleToReplica } from "../../../src/primary/replication/message-checks.js";
import type { PrimaryToReplica, ToPrimary } from "../../../src/primary/replication/messages.js";
import { hist } from "./world.js";

type Loose = Record<string, unknown>;
const H = hist([1, "p", 1], [2, "q", 4]);
const BAD_HISTORY = hist([2, "q", 1], [1, "p", 2]);
const bytes = Uint8Array.of(1, 2, 3);
const rec = (lsn: number, epoch: number): Loose => ({ lsn, epoch, data: bytes });

const TO_PRIMARY: Record<ToPrimary["type"], Loose> = {
  hello: { type: "hello", epoch: 2, history: H, last: { epoch: 2, lsn: 5 } },
  ack: { type: "ack", epoch: 1, received: 5, applied: 3, gap: false },
  "snapshot-ack": { type: "snapshot-ack", epoch: 1, lsn: 0, offset: 0 },
  epoch: { type: "epoch", epoch: 2, history: H },
};
const TO_REPLICA: Record<PrimaryToReplica["type"], Loose> = {
  welcome: { type: "welcome", epoch: 2, history: H, last: 5 },
  records: { type: "records", epoch: 2, prev: 3, last: 6, records: [rec(4, 2), rec(5, 2)] },
  snapshot: { type: "snapshot", epoch: 2, history: H, lsn: 7, common: 2, offset: 0, total: 3, data: bytes, done: true },
  heartbeat: { type: "heartbeat", epoch: 2, last: 0 },
  epoch: { type: "epoch", epoch: 2, history: H },
};

const NOT_COUNTS: unknown[] = [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY, "1", null, undefined];
const NOT_BOOLEANS: unknown[] = [0, 1, "false", null, undefined];
const NOT_BYTES: unknown[] = [[1], "abc", null, undefined, new ArrayBuffer(3)];
const NOT_OBJECTS: unknown[] = [null, undefined, 5, "x"];

function corrupt(valid: Loose, field: string, values: readonly unknown[]): [string, Loose][] {
  return values.map((v) => [`${String(valid["type"])}.${field} = ${String(v)}`, { ...valid, [field]: v }]);
}

const TO_PRIMARY_CORRUPTIONS: [string, Loose][] = [
  ...Object.values(TO_PRIMARY).flatMap((m) => corrupt(m, "epoch", [0, ...NOT_COUNTS])),
  ...corrupt(TO_PRIMARY.hello, "history", [BAD_HISTORY, hist([1, "p", 1], [3, "r", 4])]),
  ...corrupt(TO_PRIMARY.hello, "last", [...NOT_OBJECTS, { epoch: 2, lsn: -1 }, { epoch: 1.5, lsn: 5 }, { epoch: 1, lsn: 5 }, { epoch: 1, lsn: 0 }, { lsn: 5 }]),
  ...corrupt(TO_PRIMARY.ack, "received", NOT_COUNTS),
  ...corrupt(TO_PRIMARY.ack, "applied", [...NOT_COUNTS, 6]),
  ...corrupt(TO_PRIMARY.ack, "gap", NOT_BOOLEANS),
  ...corrupt(TO_PRIMARY["snapshot-ack"], "lsn", NOT_COUNTS),
  ...corrupt(TO_PRIMARY["snapshot-ack"], "offset", NOT_COUNTS),
  ...corrupt(TO_PRIMARY.epoch, "history", [BAD_HISTORY, hist([1, "p", 1])]),
  ["an unknown type", { ...TO_PRIMARY.ack, type: "records" }],
];

const TO_REPLICA_CORRUPTIONS: [string, Loose][] = [
  ...Object.values(TO_REPLICA).flatMap((m) => corrupt(m, "epoch", [0, ...NOT_COUNTS])),
  ...corrupt(TO_REPLICA.welcome, "history", [BAD_HISTORY, hist([1, "p", 1], [3, "r", 4])]),
  ...corrupt(TO_REPLICA.welcome, "last", NOT_COUNTS),
  ...corrupt(TO_REPLICA.records, "prev", NOT_COUNTS),
  ...corrupt(TO_REPLICA.records, "last", [...NOT_COUNTS, 4]),
  ...corrupt(TO_REPLICA.records, "records", [
    ...NOT_OBJECTS,
    [],
    [rec(5, 2)],
    [rec(4, 2), rec(4, 2)],
    [rec(4, 2), rec(6, 2)],
    [rec(4, 3)],
    [rec(4, 2), rec(5, 1)],
    [rec(4, 0)],
    [{ lsn: 4, epoch: 2, data: [1] }],
    [null],
    [7],
  ]),
  ...corrupt(TO_REPLICA.snapshot, "history", [BAD_HISTORY]),
  ...corrupt(TO_REPLICA.snapshot, "lsn", NOT_COUNTS),
  ...corrupt(TO_REPLICA.snapshot, "common", NOT_COUNTS),
  ...corrupt(TO_REPLICA.snapshot, "offset", [...NOT_COUNTS, 1]),
  ...corrupt(TO_REPLICA.snapshot, "total", [...NOT_COUNTS, 2, 4]),
  ...corrupt(TO_REPLICA.snapshot, "data", NOT_BYTES),
  ...corrupt(TO_REPLICA.snapshot, "done", [...NOT_BOOLEANS, false]),
  ...corrupt(TO_REPLICA.heartbeat, "last", NOT_COUNTS),
  ...corrupt(TO_REPLICA.epoch, "history", [BAD_HISTORY, hist([1, "p", 1])]),
  ["an unknown type", { ...TO_REPLICA.heartbeat, type: "ack" }],
];

describe("replication messages: single-field corruptions", () => {
  it("every valid message of each type is accepted, counts up to MAX_SAFE_INTEGER - 1", () => {
    for (const m of Object.values(TO_PRIMARY)) expect([m["type"], isPlausibleToPrimary(m as unknown as ToPrimary)]).toEqual([m["type"], true]);
    for (const m of Object.values(TO_REPLICA)) expect([m["type"], isPlausibleToReplica(m as unknown as PrimaryToReplica)]).toEqual([m["type"], true]);
    const big = Number.MAX_SAFE_INTEGER - 1;
    expect(isPlausibleToPrimary({ ...TO_PRIMARY.ack, received: big, applied: big } as unknown as ToPrimary)).toBe(true);
    expect(isPlausibleToReplica({ ...TO_REPLICA.snapshot, offset: 1, data: Uint8Array.of(1, 2), done: true } as unknown as PrimaryToReplica)).toBe(true);
    expect(isPlausibleToReplica({ ...TO_REPLICA.snapshot, offset: 0, data: Uint8Array.of(1), done: false } as unknown as PrimaryToReplica)).toBe(true);
  });

  it("a primary refuses every corruption of what replicas send it", () => {
    const accepted = TO_PRIMARY_CORRUPTIONS.filter(([, m]) => isPlausibleToPrimary(m as unknown as ToPrimary)).map(([what]) => what);
    expect(accepted).toEqual([]);
    for (const m of NOT_OBJECTS) expect(isPlausibleToPrimary(m as unknown as ToPrimary)).toBe(false);
  });

  it("a replica refuses every corruption of what a primary sends it", () => {
    const accepted = TO_REPLICA_CORRUPTIONS.filter(([, m]) => isPlausibleToReplica(m as unknown as PrimaryToReplica)).map(([what]) => what);
    expect(accepted).toEqual([]);
    for (const m of NOT_OBJECTS) expect(isPlausibleToReplica(m as unknown as PrimaryToReplica)).toBe(false);
    expect(TO_PRIMARY_CORRUPTIONS.length + TO_REPLICA_CORRUPTIONS.length).toBeGreaterThan(150);
  });
});
