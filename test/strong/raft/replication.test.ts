/**
 * Log replication beyond the paper's rules: divergence repair end to end, flow control (probe and
 * replicate states, the in-flight window, message batching; thesis 3.5 and etcd-raft), the cap on
 * uncommitted bytes, and proposal forwarding.
 */
import { describe, expect, it } from "vitest";
import { describeEntry, bytes, TestCluster } from "./cluster.js";
import {
  ackAll,
  append,
  appendResp,
  drain,
  entry,
  makeLeader,
  msg,
  solo,
  stepAll,
  storageWithLog,
  storedEntries,
  take,
} from "./harness.js";

const ABC = ["a", "b", "c"];

describe("divergence repair", () => {
  it("5.3 a deposed leader's uncommitted suffix is truncated, in storage too, and replaced by the new leader's entries", () => {
    const c = new TestCluster({ voters: ABC, seed: 8 });
    c.elect("a");
    c.propose("a", "ok");
    c.stabilize();
    const heal = c.isolate("a");
    c.propose("a", "orphan-1");
    c.propose("a", "orphan-2");
    c.stabilize();
    c.tickUntil(() => c.leader() !== null && c.leader() !== "a", 200);
    const b = c.leader() ?? "b";
    c.propose(b, "new");
    c.stabilize();
    heal();
    c.tickAll(20);
    const want = storedEntries(c.node(b).storage).map(describeEntry);
    expect(storedEntries(c.node("a").storage).map(describeEntry)).toEqual(want);
    expect(want.some((d) => d.includes("orphan"))).toBe(false);
    expect(c.appliedData("a")).toEqual(["ok", "new"]);
    c.assertSafety();
  });

  it("5.3 rejection hints let the leader skip a whole divergent term instead of one entry per round trip", () => {
    // b holds 40 entries of term 2 that the leader (term-3 entries after index 3) never had.
    const c = new TestCluster({ voters: ABC, seed: 4 });
    const fill = (id: string, terms: number[]): void => {
      const fresh = storageWithLog(ABC, terms, 3);
      const n = c.node(id);
      n.storage.append(storedEntries(fresh));
      n.storage.setHardState(fresh.hardState());
      c.restart(id);
    };
    fill("a", [3, 3]);
    fill("c", [3, 3]);
    fill("b", Array.from({ length: 40 }, () => 2));
    c.elect("a");
    const rejections = c.sent.filter((m) => m.type === "append-resp" && m.from === "b" && m.reject);
    expect(rejections.length).toBeLessThanOrEqual(2);
    expect(storedEntries(c.node("b").storage).map((e) => e.term)).toEqual(storedEntries(c.node("a").storage).map((e) => e.term));
  });
});

describe("follower commit bound", () => {
  // b holds [x:1, y:2, z:2] after the bootstrap entries; the term-2 entries were never committed
  // and the term-3 leader a does not have them. An append that only shows b to hold x (or nothing
  // new) must not let b commit past it, however far the leader's commit is: b cannot know that
  // its y and z are the leader's (paper 5.3, "min(leaderCommit, index of last new entry)").
  const follower = (): { s: ReturnType<typeof solo>; base: number } => {
    const storage = storageWithLog(ABC, [1, 2, 2], 2);
    const base = storage.lastIndex() - 3;
    return { s: solo("b", ABC, { storage }), base };
  };

  it("5.3 an empty append whose previous entry matches commits only up to that entry, not the stale suffix after it", () => {
    const { s, base } = follower();
    stepAll(s, append("a", "b", 3, base + 1, 1, [], base + 10));
    expect(s.core.status().commit).toBe(base + 1);
    expect(s.committed.map((e) => e.index)).not.toContain(base + 2);
    const [resp] = take(s, "append-resp");
    expect(resp).toMatchObject({ reject: false, index: base + 1 });
  });

  it("5.3 an append with entries commits up to its last new entry, never the follower's own entries beyond it", () => {
    const { s, base } = follower();
    stepAll(s, append("a", "b", 3, base, 1, [entry(base + 1, 1)], base + 10)); // bootstrap entries are of term 1
    expect(s.core.status().commit).toBe(base + 1);
    expect(Math.max(...s.committed.map((e) => e.index))).toBe(base + 1);
  });

  it("5.3 once the leader's entries replace the stale suffix, the same commit index commits them", () => {
    const { s, base } = follower();
    stepAll(s, append("a", "b", 3, base + 1, 1, [entry(base + 2, 3), entry(base + 3, 3)], base + 3));
    expect(s.core.status().commit).toBe(base + 3);
    expect(s.committed.filter((e) => e.index > base).map((e) => e.term)).toEqual([1, 3, 3]);
  });
});

describe("flow control", () => {
  it("3.5 a follower in probe state gets one append at a time until it answers", () => {
    const s = solo("a", ABC);
    const term = makeLeader(s, "a", ["b", "c"]);
    // The no-op probes went out with makeLeader; nobody answered: both followers are probing.
    for (let i = 0; i < 5; i++) s.core.propose(bytes(`p${i}`));
    expect(take(s, "append").filter((m) => m.to === "b")).toEqual([]);
    expect(s.core.status().progress?.get("b" as never)?.state).toBe("probe");
    // A heartbeat answer unpauses the probe: exactly one append.
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: null }));
    expect(take(s, "append").filter((m) => m.to === "b").length).toBe(1);
  });

  it("3.5 a follower in replicate state never has more than maxInflightMessages appends in flight", () => {
    const s = solo("a", ABC, { config: { maxInflightMessages: 2, maxMessageBytes: 1 } });
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    for (let i = 0; i < 6; i++) s.core.propose(bytes(`p${i}`));
    const toB = take(s, "append").filter((m) => m.to === "b" && m.entries.length > 0);
    expect(toB.map((m) => m.entries.map((e) => e.index))).toEqual([[5], [6]]);
    expect(s.core.status().progress?.get("b" as never)?.inflight).toBe(2);
    // One ack frees one slot: exactly one more append.
    stepAll(s, appendResp("b", "a", term, 5));
    const more = take(s, "append").filter((m) => m.to === "b" && m.entries.length > 0);
    expect(more.map((m) => m.entries.map((e) => e.index))).toEqual([[7]]);
  });

  it("3.5 the in-flight window is also bounded by maxInflightBytes", () => {
    const s = solo("a", ABC, { config: { maxInflightBytes: 10, maxMessageBytes: 1 } });
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    for (let i = 0; i < 6; i++) s.core.propose(bytes("xxxx"));
    const toB = take(s, "append").filter((m) => m.to === "b" && m.entries.length > 0);
    // 4 + 4 < 10, the third (12 >= 10) fills the window.
    expect(toB.length).toBe(3);
  });

  it("3.5 a full window still sends an empty append on each heartbeat answer, so lost appends are noticed", () => {
    const s = solo("a", ABC, { config: { maxInflightMessages: 1, maxMessageBytes: 1 } });
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.propose(bytes("x"));
    s.core.propose(bytes("y"));
    take(s);
    stepAll(s, msg("heartbeat-resp", "b", "a", term, { context: null }));
    const probe = take(s, "append").filter((m) => m.to === "b");
    expect(probe.map((m) => [m.prevIndex, m.entries.length])).toEqual([[5, 0]]);
    // b never got entry 5: it rejects, the leader falls back to probing from its match.
    stepAll(s, appendResp("b", "a", term, 5, true, 4, term));
    const resent = take(s, "append").filter((m) => m.to === "b");
    expect(resent.map((m) => [m.prevIndex, m.entries.map((e) => e.index)])).toEqual([[4, [5]]]);
  });

  it("3.5 entries are batched up to maxMessageBytes per append, at least one each", () => {
    const s = solo("a", ABC, { config: { maxMessageBytes: 10 } });
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    s.core.proposeBatch([
      { kind: "normal", data: bytes("aaaa") },
      { kind: "normal", data: bytes("bbbb") },
      { kind: "normal", data: bytes("cccc") },
      { kind: "normal", data: bytes("x".repeat(30)) },
    ]);
    drain(s);
    const toB = take(s, "append").filter((m) => m.to === "b");
    expect(toB.map((m) => m.entries.length)).toEqual([2, 1, 1]);
  });

  it("3.5 proposals made between two Readys leave as one append per follower, sent with the Ready that persists them", () => {
    const s = solo("a", ABC);
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    for (const word of ["one", "two", "three"]) expect(s.core.propose(bytes(word))).toEqual({ ok: true });
    s.readies.length = 0;
    drain(s);
    const rd = s.readies[0]!;
    expect(rd.entries).toHaveLength(3);
    const appends = rd.messages.filter((m) => m.type === "append");
    expect(appends.map((m) => [m.to, m.entries.map((e) => e.index)])).toEqual([
      ["b", rd.entries.map((e) => e.index)],
      ["c", rd.entries.map((e) => e.index)],
    ]);
  });

  it("3.5 reportUnreachable sends a replicating follower back to probing", () => {
    const s = solo("a", ABC);
    makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.status().progress?.get("b" as never)?.state).toBe("replicate");
    s.core.reportUnreachable("b" as never);
    expect(s.core.status().progress?.get("b" as never)?.state).toBe("probe");
  });
});

describe("uncommitted size cap", () => {
  it("proposals beyond maxUncommittedBytes are refused until entries commit", () => {
    const s = solo("a", ABC, { config: { maxUncommittedBytes: 10 } });
    const term = makeLeader(s, "a", ["b", "c"]);
    ackAll(s, "a", ["b", "c"]);
    expect(s.core.propose(bytes("123456"))).toEqual({ ok: true });
    expect(s.core.propose(bytes("123456"))).toMatchObject({ ok: false, reason: "uncommitted-limit" });
    expect(s.core.propose(bytes("1234"))).toEqual({ ok: true });
    drain(s);
    stepAll(s, appendResp("b", "a", term, s.core.status().lastIndex));
    expect(s.core.propose(bytes("123456"))).toEqual({ ok: true });
  });

  it("an empty uncommitted tail accepts a single proposal larger than the cap", () => {
    const s = solo("a", ABC, { config: { maxUncommittedBytes: 4 } });
    makeLeader(s, "a", ["b", "c"]);
    expect(s.core.propose(bytes("much larger than four bytes"))).toEqual({ ok: true });
    expect(s.core.propose(bytes("x"))).toMatchObject({ ok: false, reason: "uncommitted-limit" });
    // An empty payload adds nothing to the uncommitted bytes: taken even over the cap.
    expect(s.core.propose(new Uint8Array(0))).toEqual({ ok: true });
  });
});

describe("proposal forwarding", () => {
  it("a follower forwards proposals to the leader, which commits them", () => {
    const c = new TestCluster({ voters: ABC, seed: 3 });
    c.elect("a");
    c.propose("b", "from-b");
    c.propose("c", "from-c");
    c.stabilize();
    for (const id of ABC) expect(c.appliedData(id)).toEqual(["from-b", "from-c"]);
    const fwd = c.sent.filter((m) => m.type === "propose");
    expect(fwd.map((m) => [m.from, m.to, m.term])).toEqual([
      ["b", "a", 0],
      ["c", "a", 0],
    ]);
  });

  it("with disableProposalForwarding a follower refuses proposals and sends nothing", () => {
    const c = new TestCluster({ voters: ABC, seed: 3, config: { disableProposalForwarding: true } });
    c.elect("a");
    c.sent = [];
    expect(c.core("b").propose(bytes("x"))).toMatchObject({ ok: false, reason: "forwarding-disabled" });
    c.stabilize();
    expect(c.sent.filter((m) => m.type === "propose")).toEqual([]);
    expect(c.appliedData("a")).toEqual([]);
  });

  it("without a known leader a follower refuses with no-leader, and a candidate during an election too", () => {
    const s = solo("b", ABC);
    expect(s.core.propose(bytes("x"))).toMatchObject({ ok: false, reason: "no-leader" });
    s.core.campaign();
    drain(s);
    expect(s.core.propose(bytes("x"))).toMatchObject({ ok: false, reason: "no-leader" });
    expect(s.core.readIndex(bytes("r"))).toMatchObject({ ok: false, reason: "no-leader" });
  });

  it("a forwarded proposal reaching a server that no longer leads is dropped, not forwarded again", () => {
    const s = solo("b", ABC);
    stepAll(s, msg("heartbeat", "a", "b", 2, { commit: 3 as never, context: null }));
    take(s);
    stepAll(s, msg("propose", "c", "b", 0, { proposals: [{ kind: "normal", data: bytes("x") }] }));
    expect(take(s)).toEqual([]);
    expect(s.core.status().lastIndex).toBe(3);
  });
});
