/**
 * The core never throws on anything a network can deliver: messages of valid types with nonsense
 * content (negative, fractional or huge numbers, entries that are not contiguous, commit indexes
 * beyond any log, unknown senders, stale and future terms), in every role.
 */
import { describe, expect, it } from "vitest";
import { seededRng, type Rng } from "../../../src/rng.js";
import type { Message, MessageType } from "../../../src/strong/raft/messages.js";
import { asIndex, asNodeId, asTerm, type Entry } from "../../../src/strong/raft/types.js";
import { bytes } from "./cluster.js";
import { ackAll, append, drain, makeLeader, solo, stepAll, type Solo } from "./harness.js";

const ABC = ["a", "b", "c"];
const TYPES: MessageType[] = [
  "vote",
  "pre-vote",
  "vote-resp",
  "pre-vote-resp",
  "append",
  "append-resp",
  "heartbeat",
  "heartbeat-resp",
  "snapshot",
  "snapshot-resp",
  "timeout-now",
  "propose",
  "read-index",
  "read-index-resp",
  "transfer-leader",
];

function num(rng: Rng): number {
  return rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 100, -1, 0.5, Number.NaN, 2 ** 53, Number.MAX_SAFE_INTEGER, rng.int(0, 12)]);
}

function entries(rng: Rng, prev: number, term: number): Entry[] {
  const out: Entry[] = [];
  const n = rng.int(0, 3);
  for (let i = 0; i < n; i++) {
    const index = rng.chance(0.8) ? prev + 1 + i : num(rng);
    const t = rng.chance(0.8) ? term : num(rng);
    out.push(
      rng.chance(0.5)
        ? { kind: "normal", index: asIndex(index), term: asTerm(t), data: bytes("x") }
        : rng.chance(0.5)
          ? { kind: "noop", index: asIndex(index), term: asTerm(t) }
          : { kind: "conf-change", index: asIndex(index), term: asTerm(t), change: { type: "remove", node: asNodeId(rng.pick(["a", "b", "zz"])) } },
    );
  }
  return out;
}

function randomMessage(rng: Rng, to: string, term: number): Message {
  const type = rng.pick(TYPES);
  const from = rng.pick(["a", "b", "c", "zz", to]);
  const t = rng.chance(0.7) ? term + rng.int(-1, 1) : num(rng);
  const base = { from: asNodeId(from), to: asNodeId(rng.chance(0.9) ? to : "other"), term: asTerm(t) };
  const prev = num(rng);
  const fields: Record<string, unknown> = {
    lastIndex: num(rng),
    lastTerm: num(rng),
    transfer: rng.chance(0.3),
    reject: rng.chance(0.5),
    prevIndex: prev,
    prevTerm: rng.chance(0.7) ? Math.min(t, rng.int(0, 3)) : num(rng),
    entries: entries(rng, prev, t),
    commit: num(rng),
    index: num(rng),
    hintIndex: num(rng),
    hintTerm: num(rng),
    context: rng.chance(0.5) ? null : rng.pick([bytes("ctx"), new Uint8Array(8), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1])]),
    meta: { index: num(rng), term: rng.chance(0.5) ? Math.min(t, 2) : num(rng), conf: { voters: ABC.map(asNodeId), learners: [] } },
    offset: num(rng),
    data: bytes("snapshot-bytes"),
    done: rng.chance(0.5),
    proposals: [{ kind: "normal", data: bytes("p") }],
    target: rng.pick(["a", "b", "c", "zz"]),
  };
  if (type === "read-index" || type === "read-index-resp") fields["context"] = bytes("r");
  return { ...base, type, ...fields } as unknown as Message;
}

function checkInvariants(s: Solo): void {
  const st = s.core.status();
  expect(st.commit).toBeLessThanOrEqual(st.lastIndex);
  expect(st.applied).toBeLessThanOrEqual(st.commit);
  expect([st.term, st.commit, st.lastIndex].every(Number.isSafeInteger), JSON.stringify([st.term, st.commit, st.lastIndex])).toBe(true);
}

describe("robustness", () => {
  for (const role of ["follower", "candidate", "leader"] as const) {
    it(`5.1 a ${role} survives 3,000 nonsense messages without throwing or breaking its invariants`, () => {
      for (let seed = 1; seed <= 30; seed++) {
        const rng = seededRng(seed);
        const s = solo("a", ABC, { seed });
        if (role === "candidate") {
          s.core.campaign();
          drain(s);
        }
        if (role === "leader") {
          makeLeader(s, "a", ["b", "c"]);
          ackAll(s, "a", ["b", "c"]);
        }
        for (let i = 0; i < 100; i++) {
          const term = s.core.status().term;
          stepAll(s, randomMessage(rng, "a", term));
          if (rng.chance(0.1)) {
            s.core.tick();
            drain(s);
          }
          if (rng.chance(0.05)) s.core.propose(bytes("p"));
          checkInvariants(s);
        }
      }
    });
  }

  it("5.3 a commit index beyond the entries an append vouches for is capped (a stale or lying leader cannot commit what we lack)", () => {
    const s = solo("b", ABC);
    stepAll(s, append("a", "b", 2, 3, 1, [], 1_000));
    expect(s.core.status().commit).toBe(3);
    stepAll(s, { type: "heartbeat", from: asNodeId("a"), to: asNodeId("b"), term: asTerm(2), commit: asIndex(1_000), context: null });
    expect(s.core.status().commit).toBe(3);
  });

  it("5.3 an append whose entries are not contiguous after prevIndex, or of a term above the sender's, is dropped", () => {
    const s = solo("b", ABC);
    const gap: Entry = { kind: "noop", index: asIndex(6), term: asTerm(2) };
    const future: Entry = { kind: "noop", index: asIndex(4), term: asTerm(9) };
    stepAll(s, append("a", "b", 2, 3, 1, [gap], 3), append("a", "b", 2, 3, 1, [future], 3));
    expect(s.core.status().lastIndex).toBe(3);
    expect(s.outbox).toEqual([]);
  });

  it("answers from servers that are not members change nothing on the leader", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    const before = JSON.stringify([...(s.core.status().progress ?? [])]);
    stepAll(
      s,
      { type: "append-resp", from: asNodeId("zz"), to: asNodeId("a"), term: asTerm(term), reject: false, index: asIndex(4), hintIndex: asIndex(0), hintTerm: asTerm(0) },
      { type: "heartbeat-resp", from: asNodeId("zz"), to: asNodeId("a"), term: asTerm(term), context: null },
    );
    expect(JSON.stringify([...(s.core.status().progress ?? [])])).toBe(before);
    expect(s.core.status().role).toBe("leader");
  });
});
