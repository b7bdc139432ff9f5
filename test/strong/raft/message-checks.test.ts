/**
 * The plausibility checks on messages from the network (src/strong/raft/message-checks.ts): one
 * valid message of every type is accepted, and each single-field corruption no correct peer sends
 * is refused, so `step` drops it before it can break an invariant. The boundaries of a count
 * (0 is one, MAX_SAFE_INTEGER is not: it could not be incremented exactly) are checked too.
 */
import { describe, expect, it } from "vitest";
import type { Message } from "../../../src/strong/raft/messages.js";
import { isPlausible } from "../../../src/strong/raft/message-checks.js";

type Loose = Record<string, unknown>;

const env = { from: "a", to: "b", term: 5 };
const conf = { voters: ["a", "b"], learners: ["c"] };
const meta = { index: 9, term: 4, conf };
const bytes = Uint8Array.of(1);
const normal = (index: number, term: number): Loose => ({ kind: "normal", index, term, data: bytes });

/** One valid message of each type. */
const VALID: Record<Message["type"], Loose> = {
  vote: { type: "vote", ...env, lastIndex: 3, lastTerm: 2, transfer: false },
  "pre-vote": { type: "pre-vote", ...env, lastIndex: 0, lastTerm: 0, transfer: true },
  "vote-resp": { type: "vote-resp", ...env, reject: false },
  "pre-vote-resp": { type: "pre-vote-resp", ...env, reject: true },
  append: {
    type: "append",
    ...env,
    prevIndex: 3,
    prevTerm: 2,
    commit: 3,
    entries: [normal(4, 2), { kind: "noop", index: 5, term: 5 }, { kind: "conf-change", index: 6, term: 5, change: { type: "add-learner", node: "d" } }],
  },
  "append-resp": { type: "append-resp", ...env, reject: false, index: 6, hintIndex: 0, hintTerm: 0 },
  heartbeat: { type: "heartbeat", ...env, commit: 6, context: null },
  "heartbeat-resp": { type: "heartbeat-resp", ...env, context: bytes },
  snapshot: { type: "snapshot", ...env, meta, offset: 0, data: bytes, done: true },
  "snapshot-resp": { type: "snapshot-resp", ...env, index: 9, offset: 1, reject: false },
  "timeout-now": { type: "timeout-now", ...env },
  propose: { type: "propose", ...env, term: 0, proposals: [{ kind: "normal", data: bytes }, { kind: "conf-change", change: { type: "remove", node: "c" } }] },
  "read-index": { type: "read-index", ...env, context: bytes },
  "read-index-resp": { type: "read-index-resp", ...env, index: 6, context: bytes },
  "transfer-leader": { type: "transfer-leader", ...env, target: "c" },
};

const plausible = (m: Loose): boolean => isPlausible(m as unknown as Message);
const NOT_COUNTS: unknown[] = [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY, "1", null, undefined];
const NOT_BOOLEANS: unknown[] = [0, 1, "true", null, undefined];
const NOT_BYTES: unknown[] = [[1], "x", null, undefined, new ArrayBuffer(1)];

/** `type`'s valid message with `field` set to each of `values`. */
function corrupt(type: Message["type"], field: string, values: readonly unknown[]): [string, Loose][] {
  return values.map((v) => [`${type}.${field} = ${String(v)}`, { ...VALID[type], [field]: v }]);
}
const withEntries = (entries: unknown[], over: Loose = {}): Loose => ({ ...VALID.append, ...over, entries });

const CORRUPTIONS: [string, Loose][] = [
  ...(Object.keys(VALID) as Message["type"][]).flatMap((t) => [
    ...corrupt(t, "from", ["", 1, null]),
    ...corrupt(t, "to", ["", undefined]),
    ...corrupt(t, "term", NOT_COUNTS),
  ]),
  ["unknown type", { ...VALID["timeout-now"], type: "gossip" }],
  ...corrupt("vote", "lastIndex", NOT_COUNTS),
  ...corrupt("pre-vote", "lastTerm", NOT_COUNTS),
  ...corrupt("vote", "transfer", NOT_BOOLEANS),
  ...corrupt("vote-resp", "reject", NOT_BOOLEANS),
  ...corrupt("pre-vote-resp", "reject", NOT_BOOLEANS),
  ...corrupt("append", "prevIndex", NOT_COUNTS),
  ...corrupt("append", "prevTerm", [...NOT_COUNTS, 6]),
  ...corrupt("append", "commit", NOT_COUNTS),
  ...corrupt("append", "entries", [null, "entries", { length: 0 }]),
  ["append: an entry index leaves a gap", withEntries([normal(5, 2)])],
  ["append: an entry index repeats", withEntries([normal(4, 2), normal(4, 2)])],
  ["append: an entry term below prevTerm", withEntries([normal(4, 1)])],
  ["append: an entry term above the sender's", withEntries([normal(4, 6)])],
  ["append: entry terms go back", withEntries([normal(4, 3), normal(5, 2)])],
  ["append: an entry term is not a count", withEntries([normal(4, Number.NaN)])],
  ["append: a hole in the entries", withEntries([undefined])],
  ["append: normal entry without bytes", withEntries([{ kind: "normal", index: 4, term: 2, data: [1] }])],
  ["append: unknown entry kind", withEntries([{ kind: "blob", index: 4, term: 2 }])],
  ["append: conf change of an unknown type", withEntries([{ kind: "conf-change", index: 4, term: 2, change: { type: "demote", node: "d" } }])],
  ["append: conf change without a node", withEntries([{ kind: "conf-change", index: 4, term: 2, change: { type: "promote", node: "" } }])],
  ["append: conf change missing", withEntries([{ kind: "conf-change", index: 4, term: 2, change: null }])],
  ...corrupt("append-resp", "reject", NOT_BOOLEANS),
  ...corrupt("append-resp", "index", NOT_COUNTS),
  ...corrupt("append-resp", "hintIndex", NOT_COUNTS),
  ...corrupt("append-resp", "hintTerm", NOT_COUNTS),
  ...corrupt("heartbeat", "commit", NOT_COUNTS),
  ...corrupt("heartbeat", "context", NOT_BYTES.filter((v) => v !== null)),
  ...corrupt("heartbeat-resp", "context", NOT_BYTES.filter((v) => v !== null)),
  ...corrupt("snapshot", "meta", [null, "meta", { ...meta, index: 0 }, { ...meta, term: 0 }, { ...meta, term: 6 }, { ...meta, index: -1 }, { ...meta, term: 1.5 }]),
  ...corrupt("snapshot", "meta", [
    { ...meta, conf: null },
    { ...meta, conf: { voters: "a", learners: [] } },
    { ...meta, conf: { voters: ["a"], learners: "c" } },
    { ...meta, conf: { voters: [""], learners: [] } },
    { ...meta, conf: { voters: ["a"], learners: [""] } },
    { ...meta, conf: { voters: ["a", "c"], learners: ["c"] } },
  ]),
  ...corrupt("snapshot", "offset", NOT_COUNTS),
  ...corrupt("snapshot", "data", NOT_BYTES),
  ...corrupt("snapshot", "done", NOT_BOOLEANS),
  ...corrupt("snapshot-resp", "index", NOT_COUNTS),
  ...corrupt("snapshot-resp", "offset", NOT_COUNTS),
  ...corrupt("snapshot-resp", "reject", NOT_BOOLEANS),
  ...corrupt("propose", "proposals", [null, "p", [{ kind: "normal", data: "x" }], [{ kind: "conf-change", change: { type: "x", node: "d" } }], [{ kind: "noop" }]]),
  ...corrupt("read-index", "context", NOT_BYTES),
  ...corrupt("read-index-resp", "index", NOT_COUNTS),
  ...corrupt("read-index-resp", "context", NOT_BYTES),
  ...corrupt("transfer-leader", "target", ["", 1, null]),
];

describe("plausibility of messages from the network", () => {
  it("accepts one valid message of every type, and counts from 0 up to MAX_SAFE_INTEGER - 1", () => {
    for (const [type, m] of Object.entries(VALID)) expect([type, plausible(m)]).toEqual([type, true]);
    expect(plausible({ ...VALID.heartbeat, term: 0, commit: Number.MAX_SAFE_INTEGER - 1 })).toBe(true);
    expect(plausible({ ...VALID.append, entries: [] })).toBe(true);
    expect(plausible({ ...VALID.propose, proposals: [] })).toBe(true);
    expect(plausible({ ...VALID.snapshot, meta: { ...meta, term: 5, conf: { voters: ["a"], learners: [] } } })).toBe(true);
  });

  it("refuses every single-field corruption a correct peer never sends", () => {
    const accepted = CORRUPTIONS.filter(([, m]) => plausible(m)).map(([what]) => what);
    expect(accepted).toEqual([]);
    expect(CORRUPTIONS.length).toBeGreaterThan(200);
  });

  it("refuses what is not a message object", () => {
    for (const m of [null, undefined, 7, "append"]) expect(isPlausible(m as unknown as Message)).toBe(false);
  });
});
