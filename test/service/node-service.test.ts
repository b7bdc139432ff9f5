/**
 * ClientSession (src/service/node-service.ts): the client protocol served by a `primary`-mode
 * ReplicationNode. Reads with their info, read-your-writes through `after`, staleness, writes at
 * each durability and their refusals, subscriptions and their limits, status, malformed frames,
 * failures inside the session, and silence after close. Real nodes on the virtual clock of
 * test/primary/node/group.ts: no real timers, no sleeps. Every response goes through the wire codec
 * on its way to the test, so each one is also one the codec takes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ConcordError } from "../../src/errors.js";
import { asPeerId } from "../../src/ids.js";
import { docKey, docView } from "../../src/kv/doc-keys.js";
import type { ReplicationNode } from "../../src/primary/replication-node.js";
import { PrimaryEngine } from "../../src/primary/primary-engine.js";
import type { ReadOptions, Request, Response, WireDurability, WriteOp } from "../../src/service/protocol.js";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from "../../src/service/protocol-codec.js";
import { ChangeFeed } from "../../src/service/change-feed.js";
import { ClientSession, type ClientSessionOptions } from "../../src/service/node-service.js";
import { Group } from "../primary/node/group.js";

let g: Group;

afterEach(async () => {
  await g.closeAll();
});

const READ: ReadOptions = { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: 1_000 };
/** The document the tests read and write; `k` is a key of it as the node's state holds it. */
const DOC = "d";
const k = (key: string): string => docKey(DOC, key);
const LOCAL: WireDurability = { level: "local" };
const set = (key: string, value: number): WriteOp => ({ kind: "set", key, value });

interface Client {
  readonly session: ClientSession;
  /** Every response sent, in order, as the client decodes it. */
  readonly sent: Response[];
  readonly log: { event: string; fields: Record<string, unknown> }[];
  /** The responses answering request `id`. */
  answers(id: number): Response[];
  /** The one answer to `id`, driving the clock until it comes; fails if it came more than once. */
  answer(id: number): Promise<Response>;
  pushes(): Extract<Response, { type: "changes" }>[];
}

function client(node: ReplicationNode, options: ClientSessionOptions = {}): Client {
  const sent: Response[] = [];
  const log: Client["log"] = [];
  const session = new ClientSession(new PrimaryEngine(node), (r) => sent.push(decodeResponse(encodeResponse(r))), {
    log: (event, fields) => log.push({ event, fields }),
    ...options,
  });
  const answers = (id: number) => sent.filter((r) => r.type !== "changes" && r.id === id);
  return {
    session,
    sent,
    log,
    answers,
    async answer(id) {
      await g.until(() => answers(id).length > 0, `an answer to request ${id}`);
      await g.run(0);
      expect(answers(id)).toHaveLength(1);
      return answers(id)[0]!;
    },
    pushes: () => sent.filter((r): r is Extract<Response, { type: "changes" }> => r.type === "changes"),
  };
}

/** Counts the change listeners `node` holds, by wrapping its `subscribe`. */
function listeners(node: ReplicationNode): { readonly count: number } {
  const live = { count: 0 };
  const subscribe = node.subscribe.bind(node);
  node.subscribe = (listener) => {
    const unsubscribe = subscribe(listener);
    live.count++;
    let done = false;
    return () => {
      if (!done) live.count--;
      done = true;
      unsubscribe();
    };
  };
  return live;
}

const write = (id: number, ops: WriteOp[], durability: WireDurability = LOCAL): Request => ({ type: "write", id, doc: DOC, conditions: [], ops, durability, session: null });

async function pair() {
  g = new Group();
  return g.pair();
}

describe("get and entries", () => {
  it("answer on the primary with the value (undefined when absent), sorted entries by prefix and the primary's info", async () => {
    const { p1 } = await pair();
    for (const [key, v] of [["k/b", 2], ["k/a", 1], ["other", 3]] as const) await g.drive(p1.write({ kind: "set", key: k(key), value: v }));
    const c = client(p1);
    c.session.handle({ type: "get", id: 1, doc: DOC, key: "k/a", read: READ });
    c.session.handle({ type: "get", id: 2, doc: DOC, key: "nope", read: READ });
    c.session.handle({ type: "entries", id: 3, doc: DOC, prefix: "k/", read: READ });
    const info = { role: "primary", position: { epoch: 1, lsn: 3 }, lagLsn: 0, silentMs: 0 };
    // Served from the state as it is: answered before handle returned.
    expect(c.sent).toStrictEqual([
      { type: "value", id: 1, value: 1, info },
      { type: "value", id: 2, value: undefined, info },
      {
        type: "entries",
        id: 3,
        entries: [
          ["k/a", 1],
          ["k/b", 2],
        ],
        info,
      },
    ]);
  });

  it("answer on a replica with its role, position, lag and whole ms of silence", async () => {
    const { p1, r1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    await g.until(() => r1.readInfo().lsn === 1, "r1 applies");
    await g.run(7);
    const c = client(r1);
    c.session.handle({ type: "get", id: 1, doc: DOC, key: "a", read: READ });
    // Network delays are fractional: the wire carries whole ms, rounded up (never understating).
    const silentMs = Math.ceil(r1.readInfo().silentMs);
    expect(c.sent).toStrictEqual([{ type: "value", id: 1, value: 1, info: { role: "replica", position: { epoch: 1, lsn: 1 }, lagLsn: 0, silentMs } }]);
  });

  it("report silentMs -1 on a replica that never heard its primary, and Stale for any maxStalenessMs", async () => {
    g = new Group();
    const r1 = await g.open("r1", { role: { replicaOf: asPeerId("nobody") } });
    const c = client(r1);
    c.session.handle({ type: "entries", id: 1, doc: DOC, prefix: "", read: READ });
    c.session.handle({ type: "entries", id: 2, doc: DOC, prefix: "", read: { ...READ, maxStalenessMs: 1_000_000 } });
    expect(c.sent).toStrictEqual([
      { type: "entries", id: 1, entries: [], info: { role: "replica", position: { epoch: 0, lsn: 0 }, lagLsn: 0, silentMs: -1 } },
      { type: "error", id: 2, code: "Stale", message: "replica r1 has never heard its primary (nobody); the read allows at most 1000000 ms", redirect: null },
    ]);
  });
});

describe("read-your-writes through `after`", () => {
  it("answers a read on a lagging replica only once it holds the position, with the written value", async () => {
    const { p1, r1 } = await pair();
    g.net.cut(p1.id, r1.id);
    const writer = client(p1);
    writer.session.handle(write(1, [set("a", 1)]));
    const written = await writer.answer(1);
    expect(written).toStrictEqual({ type: "written", id: 1, position: { epoch: 1, lsn: 1 }, replicas: [], succeeded: true });
    const after = written.type === "written" ? written.position : null;

    const reader = client(r1);
    reader.session.handle({ type: "get", id: 2, doc: DOC, key: "a", read: { ...READ, after, timeoutMs: 5_000 } });
    await g.run(500);
    expect(reader.sent).toStrictEqual([]); // r1 is behind: no answer yet, no stale value
    g.net.heal();
    const answer = await reader.answer(2);
    expect(answer).toMatchObject({ type: "value", id: 2, value: 1, info: { role: "replica", position: { epoch: 1, lsn: 1 } } });
  });

  it("answers at once when the node already holds the position", async () => {
    const { p1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    const c = client(p1);
    c.session.handle({ type: "entries", id: 1, doc: DOC, prefix: "", read: { ...READ, after: { epoch: 1, lsn: 1 } } });
    expect(c.sent).toMatchObject([{ type: "entries", id: 1, entries: [["a", 1]] }]);
  });

  it("answers Timeout after timeoutMs when the replica cannot catch up (cut off)", async () => {
    const { p1, r1 } = await pair();
    g.net.cut(p1.id, r1.id);
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    const c = client(r1);
    c.session.handle({ type: "get", id: 9, doc: DOC, key: "a", read: { ...READ, after: { epoch: 1, lsn: 1 }, timeoutMs: 250 } });
    await g.run(249);
    expect(c.sent).toStrictEqual([]);
    const answer = await c.answer(9);
    expect(answer).toMatchObject({ type: "error", id: 9, code: "Timeout", redirect: null });
    expect(answer.type === "error" && answer.message).toMatch(/does not hold LSN 1 of epoch 1 after 250 ms/);
  });
});

describe("maxStalenessMs", () => {
  it("answers Stale, giving the actual staleness, on a replica silent for longer; serves a read that allows it", async () => {
    const { p1, r1 } = await pair();
    await g.until(() => r1.readInfo().silentMs < 40, "r1 hears p1");
    g.net.cut(p1.id, r1.id);
    await g.run(500);
    const silentMs = Math.ceil(r1.readInfo().silentMs);
    expect(silentMs).toBeGreaterThan(480);
    const c = client(r1);
    c.session.handle({ type: "get", id: 1, doc: DOC, key: "a", read: { ...READ, maxStalenessMs: 200 } });
    c.session.handle({ type: "get", id: 2, doc: DOC, key: "a", read: { ...READ, maxStalenessMs: silentMs } });
    expect(c.sent).toHaveLength(2);
    expect(c.sent[0]).toMatchObject({ type: "error", id: 1, code: "Stale", redirect: null });
    expect(c.sent[0]!.type === "error" && c.sent[0]!.message).toContain(`last heard its primary ${silentMs} ms ago (p1); the read allows at most 200 ms`);
    expect(c.sent[1]).toMatchObject({ type: "value", id: 2, info: { silentMs } });
  });

  it("never refuses a read on the primary", async () => {
    const { p1 } = await pair();
    await g.run(1_000);
    const c = client(p1);
    c.session.handle({ type: "get", id: 1, doc: DOC, key: "a", read: { ...READ, maxStalenessMs: 0 } });
    expect(c.sent).toMatchObject([{ type: "value", id: 1 }]);
  });
});

describe("writes", () => {
  it("answer `written` at local durability with the position and no replicas", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle(write(1, [set("a", 1)]));
    c.session.handle(write(2, [{ kind: "delete", key: "a" }]));
    expect(await c.answer(1)).toStrictEqual({ type: "written", id: 1, position: { epoch: 1, lsn: 1 }, replicas: [], succeeded: true });
    expect(await c.answer(2)).toStrictEqual({ type: "written", id: 2, position: { epoch: 1, lsn: 2 }, replicas: [], succeeded: true });
    expect(p1.state.get(k("a"))).toBeUndefined();
  });

  it("apply several ops as one batch at one LSN", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle(write(1, [set("a", 1), set("b", 2), { kind: "delete", key: "a" }]));
    expect(await c.answer(1)).toMatchObject({ type: "written", position: { epoch: 1, lsn: 1 } });
    expect(docView(() => p1.state, DOC).entries("")).toStrictEqual([["b", 2]]);
  });

  it("answer { replicas: 1 } only once the replica holds the write, naming it", async () => {
    const { p1, r1 } = await pair();
    g.storages.get(r1.id)!.hold();
    const c = client(p1);
    c.session.handle(write(1, [set("a", 1)], { level: "replicas", n: 1 }));
    await g.run(150);
    expect(c.sent).toStrictEqual([]);
    g.storages.get(r1.id)!.release();
    expect(await c.answer(1)).toStrictEqual({ type: "written", id: 1, position: { epoch: 1, lsn: 1 }, replicas: ["r1"], succeeded: true });
    expect(r1.state.get(k("a"))).toBe(1);
  });

  it("refuse `committed` with InvalidArgument: it is strong mode's level", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle(write(1, [set("a", 1)], { level: "committed" }));
    expect(c.sent).toMatchObject([{ type: "error", id: 1, code: "InvalidArgument", message: expect.stringMatching(/strong mode's level/) }]);
    await g.run(100);
    expect(p1.readInfo().lsn).toBe(0);
  });

  it("on a replica answer ReadOnlyReplica redirecting to the primary", async () => {
    const { r1 } = await pair();
    const c = client(r1);
    c.session.handle(write(4, [set("a", 1)]));
    expect(await c.answer(4)).toMatchObject({ type: "error", id: 4, code: "ReadOnlyReplica", redirect: "p1", message: expect.stringMatching(/read replica/) });
  });

  it("answer Unavailable when too few replicas are connected", async () => {
    g = new Group();
    const p1 = await g.open("p1", { role: "primary" });
    const c = client(p1);
    c.session.handle(write(1, [set("a", 1)], { level: "replicas", n: 1 }));
    expect(await c.answer(1)).toMatchObject({ type: "error", id: 1, code: "Unavailable", redirect: null, message: expect.stringMatching(/asks for 1/) });
  });

  it("answer Fenced redirecting to the new primary when a promotion overtakes a waiting write", async () => {
    const { p1, r1 } = await pair();
    g.net.partition([[p1.id], [r1.id]]);
    const c = client(p1);
    c.session.handle(write(1, [set("lost?", 1)], { level: "replicas", n: 1 }));
    await g.run(100);
    await g.drive(r1.promote());
    g.net.heal();
    expect(await c.answer(1)).toMatchObject({ type: "error", id: 1, code: "Fenced", redirect: "r1" });
  });
});

describe("subscriptions", () => {
  it("push only changes under the prefix, with their positions, and nothing for a write that matches nothing", async () => {
    const { p1, r1 } = await pair();
    const c = client(r1);
    c.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "user/", from: null });
    expect(c.sent).toStrictEqual([{ type: "subscribed", id: 1, subscription: 1, position: { epoch: 0, lsn: 0 }, replayed: false }]);
    await g.drive(p1.write({ kind: "set", key: k("user/a"), value: 1 }));
    await g.drive(p1.write({ kind: "set", key: k("other"), value: 1 }));
    await g.drive(p1.write({ kind: "batch", ops: [{ kind: "set", key: k("user/b"), value: 2 }, { kind: "set", key: k("other"), value: 2 }] }));
    await g.drive(p1.write({ kind: "set", key: k("user/a"), value: 1 })); // no change
    await g.drive(p1.write({ kind: "delete", key: k("user/a" )}));
    await g.until(() => r1.readInfo().lsn === 5, "r1 applies");
    expect(c.pushes()).toStrictEqual([
      { type: "changes", subscription: 1, position: { epoch: 1, lsn: 1 }, changes: [{ key: "user/a", value: 1 }] },
      { type: "changes", subscription: 1, position: { epoch: 1, lsn: 3 }, changes: [{ key: "user/b", value: 2 }] },
      { type: "changes", subscription: 1, position: { epoch: 1, lsn: 5 }, changes: [{ key: "user/a", value: undefined }] },
    ]);
  });

  it("answer `subscribed` with the node's current position and number each subscription", async () => {
    const { p1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    const c = client(p1);
    c.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "a", from: null });
    c.session.handle({ type: "subscribe", id: 2, doc: DOC, prefix: "", from: null });
    expect(c.sent).toStrictEqual([
      { type: "subscribed", id: 1, subscription: 1, position: { epoch: 1, lsn: 1 }, replayed: false },
      { type: "subscribed", id: 2, subscription: 2, position: { epoch: 1, lsn: 1 }, replayed: false },
    ]);
    c.session.handle(write(3, [set("b", 1)]));
    await c.answer(3);
    expect(c.pushes()).toStrictEqual([{ type: "changes", subscription: 2, position: { epoch: 1, lsn: 2 }, changes: [{ key: "b", value: 1 }] }]);
  });

  it("stop after `unsubscribe`; an unknown subscription is refused with InvalidArgument", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    c.session.handle({ type: "unsubscribe", id: 2, subscription: 1 });
    c.session.handle({ type: "unsubscribe", id: 3, subscription: 1 });
    c.session.handle({ type: "unsubscribe", id: 4, subscription: 77 });
    expect(c.sent.slice(1)).toMatchObject([
      { type: "unsubscribed", id: 2 },
      { type: "error", id: 3, code: "InvalidArgument", message: expect.stringMatching(/no subscription 1/) },
      { type: "error", id: 4, code: "InvalidArgument", message: expect.stringMatching(/no subscription 77/) },
    ]);
    c.session.handle(write(5, [set("a", 1)]));
    await c.answer(5);
    expect(c.pushes()).toStrictEqual([]);
    expect(c.session.subscriptions).toBe(0);
  });

  it("refuse one past maxSubscriptions (default 64) with TooLarge, and take one again after an unsubscribe", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    for (let id = 1; id <= 65; id++) c.session.handle({ type: "subscribe", id, doc: DOC, prefix: "", from: null });
    expect(c.sent.filter((r) => r.type === "subscribed")).toHaveLength(64);
    expect(c.answers(65)).toMatchObject([{ type: "error", code: "TooLarge" }]);

    const small = client(p1, { maxSubscriptions: 2 });
    for (let id = 1; id <= 3; id++) small.session.handle({ type: "subscribe", id, doc: DOC, prefix: "", from: null });
    expect(small.answers(3)).toMatchObject([{ type: "error", code: "TooLarge", message: expect.stringMatching(/2 subscriptions/) }]);
    small.session.handle({ type: "unsubscribe", id: 4, subscription: 1 });
    small.session.handle({ type: "subscribe", id: 5, doc: DOC, prefix: "", from: null });
    // The refused one took no number.
    expect(small.answers(5)).toStrictEqual([{ type: "subscribed", id: 5, subscription: 3, position: { epoch: 0, lsn: 0 }, replayed: false }]);
  });
});

describe("status", () => {
  it("answers the node's status as JSON", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle({ type: "status", id: 1 });
    expect(c.sent).toStrictEqual([
      {
        type: "status",
        id: 1,
        status: {
          discarded: 0,
          dropped: 0,
          epoch: 1,
          fenced: false,
          id: "p1",
          lagLsn: 0,
          lsn: 0,
          position: { epoch: 0, lsn: 0 },
          primary: "p1",
          replicas: [{ applied: 0, fresh: true, id: "r1", received: 0 }],
          role: "primary",
          silentMs: 0,
        },
      },
    ]);
  });

  it("gives silentMs -1 for a replica that never heard its primary", async () => {
    g = new Group();
    const r1 = await g.open("r1", { role: { replicaOf: asPeerId("nobody") } });
    const c = client(r1);
    c.session.handle({ type: "status", id: 1 });
    expect(c.sent).toMatchObject([{ type: "status", id: 1, status: { role: "replica", primary: "nobody", silentMs: -1 } }]);
  });
});

describe("promote (admin)", () => {
  it("promotes a replica: answers `promoted` with the new epoch and the LSN it starts after; the old primary is fenced", async () => {
    const { p1, r1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }, { replicas: 1 }));
    const c = client(r1);
    c.session.handle({ type: "admin", id: 1, action: { type: "promote" } });
    expect(await c.answer(1)).toStrictEqual({ type: "admin-done", id: 1, position: { epoch: 2, lsn: 1 } });
    expect(r1.role).toBe("primary");
    await g.until(() => p1.role === "replica", "p1 hears of epoch 2 and follows r1");
    expect(p1.status().primary).toBe("r1");
  });

  it("refuses on the primary, and on a second promotion, with an error naming why", async () => {
    const { p1, r1 } = await pair();
    const c = client(p1);
    c.session.handle({ type: "admin", id: 1, action: { type: "promote" } });
    expect(await c.answer(1)).toStrictEqual({ type: "error", id: 1, code: "InvalidArgument", message: "node p1 is already the primary", redirect: null });
    const d = client(r1);
    d.session.handle({ type: "admin", id: 2, action: { type: "promote" } });
    d.session.handle({ type: "admin", id: 3, action: { type: "promote" } });
    expect(await d.answer(2)).toMatchObject({ type: "admin-done", id: 2 });
    expect(await d.answer(3)).toMatchObject({ type: "error", id: 3, code: "InvalidArgument", message: expect.stringMatching(/node r1 is already (changing role|the primary)/) });
  });
});

describe("frames and failures", () => {
  it("answers garbage bytes with an error of id 0 and the decoder's message, and keeps serving", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    const garbage = Uint8Array.of(2, 99, 0);
    const decoderError = (() => {
      try {
        decodeRequest(garbage);
      } catch (e) {
        return e as ConcordError;
      }
      throw new Error("garbage decoded");
    })();
    c.session.handleBytes(garbage);
    c.session.handleBytes(Uint8Array.of(7));
    c.session.handleBytes(encodeRequest({ type: "get", id: 2, doc: DOC, key: "a", read: READ }));
    expect(c.sent).toMatchObject([
      { type: "error", id: 0, code: "Protocol", message: decoderError.message, redirect: null },
      { type: "error", id: 0, code: "Protocol", message: expect.stringMatching(/version/) },
      { type: "value", id: 2, value: undefined },
    ]);
    expect(c.log.filter((l) => l.event === "session.bad_request")).toHaveLength(2);
  });

  it("answers a frame of Concord 0.1's protocol (version 1) with Protocol naming both versions and what to do", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    // A 0.1 client's `status` request: version 1, tag 6, id 12.
    c.session.handleBytes(Uint8Array.of(1, 6, 12));
    c.session.handleBytes(Uint8Array.of(9, 6, 12));
    expect(c.sent).toMatchObject([
      {
        type: "error",
        id: 0,
        code: "Protocol",
        message: expect.stringMatching(/version is 1, but this code reads only version 2.*The client speaks an older version \(1\) of Concord's client protocol than this node \(2\): use a concord-store release that matches the node's$/),
      },
      { type: "error", id: 0, code: "Protocol", message: expect.stringMatching(/The client speaks a newer version \(9\)/) },
    ]);
  });

  it("refuses what is strong mode's on a primary-mode node: conditions, sessions, membership actions", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    c.session.handle({ type: "write", id: 1, doc: DOC, conditions: [{ test: "absent", key: "a" }], ops: [set("a", 1)], durability: LOCAL, session: null });
    c.session.handle({ type: "write", id: 2, doc: DOC, conditions: [], ops: [set("a", 1)], durability: LOCAL, session: { id: 1, seq: 1, firstUnacked: 1 } });
    c.session.handle({ type: "open-session", id: 3 });
    c.session.handle({ type: "admin", id: 4, action: { type: "transfer", node: "r1" } });
    expect(await c.answer(1)).toMatchObject({ type: "error", code: "InvalidArgument", message: expect.stringMatching(/conditional writes .* are strong mode's/) });
    expect(await c.answer(2)).toMatchObject({ type: "error", code: "InvalidArgument", message: expect.stringMatching(/client sessions are strong mode's/) });
    expect(await c.answer(3)).toMatchObject({ type: "error", code: "InvalidArgument", message: expect.stringMatching(/client sessions are strong mode's/) });
    expect(await c.answer(4)).toMatchObject({ type: "error", code: "InvalidArgument", message: expect.stringMatching(/transfer is a strong-mode membership action/) });
    expect(p1.state.get(k("a"))).toBeUndefined();
  });

  it("answers hello with the node's id and position, and refuses admin on a connection that may not administer", async () => {
    const { p1, r1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    const c = client(p1);
    c.session.handle({ type: "hello", id: 1 });
    expect(c.sent).toStrictEqual([{ type: "welcome", id: 1, node: "p1", position: { epoch: 1, lsn: 1 } }]);
    const guest = client(r1, { grant: { docs: ["*"], access: "read-write" } });
    guest.session.handle({ type: "admin", id: 2, action: { type: "promote" } });
    expect(guest.sent).toMatchObject([{ type: "error", id: 2, code: "Unauthorized", message: expect.stringMatching(/promote: that is an admin action \(use a token with "access": "admin"\)/) }]);
    expect(r1.role).toBe("replica");
  });

  it("answers a frame over maxBytes with TooLarge", async () => {
    const { p1 } = await pair();
    const c = client(p1, { maxBytes: 8 });
    c.session.handleBytes(encodeRequest({ type: "subscribe", id: 1, doc: DOC, prefix: "a long prefix", from: null }));
    c.session.handleBytes(encodeRequest({ type: "status", id: 2 }));
    expect(c.sent).toMatchObject([
      { type: "error", id: 0, code: "TooLarge", message: expect.stringMatching(/exceeds the limit of 8 bytes/) },
      { type: "status", id: 2 },
    ]);
  });

  it("answers an unexpected exception as a server bug (Internal, not a refusal), logs it, and keeps serving", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    const real = p1.status.bind(p1);
    p1.status = () => {
      throw new TypeError("status exploded");
    };
    try {
      c.session.handle({ type: "status", id: 1 });
    } finally {
      p1.status = real;
    }
    c.session.handle({ type: "status", id: 2 });
    expect(c.sent).toMatchObject([
      { type: "error", id: 1, code: "Internal", message: expect.stringMatching(/bug in Concord.*TypeError: status exploded/) },
      { type: "status", id: 2 },
    ]);
    expect(c.log).toMatchObject([{ event: "session.bug", fields: { id: 1, node: "p1", error: "TypeError: status exploded" } }]);
  });

  it("answers an unexpected ConcordError with its own code", async () => {
    const { p1 } = await pair();
    const c = client(p1);
    p1.readInfo = () => {
      throw new ConcordError("Closed", "node p1 was closed");
    };
    c.session.handle({ type: "get", id: 1, doc: DOC, key: "a", read: READ });
    expect(c.sent).toStrictEqual([{ type: "error", id: 1, code: "Closed", message: "node p1 was closed", redirect: null }]);
  });

  it("answers `error` in place of an answer `send` threw on, and drops a subscription the client never heard of", async () => {
    const { p1 } = await pair();
    const sent: Response[] = [];
    let failNext = true;
    const session = new ClientSession(new PrimaryEngine(p1), (r) => {
      if (failNext) {
        failNext = false;
        throw new Error("socket hiccup");
      }
      sent.push(r);
    });
    session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    expect(sent).toMatchObject([{ type: "error", id: 1, code: "Internal" }]);
    expect(session.subscriptions).toBe(0);
  });
});

describe("close", () => {
  it("sends nothing after close: not pending writes, waiting reads, pushes or new requests", async () => {
    const { p1, r1 } = await pair();
    const listening = listeners(p1);
    const writer = client(p1);
    const reader = client(r1);
    writer.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    reader.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    g.net.cut(p1.id, r1.id);
    g.storages.get(p1.id)!.hold();
    writer.session.handle(write(2, [set("a", 1)]));
    reader.session.handle({ type: "get", id: 2, doc: DOC, key: "a", read: { ...READ, after: { epoch: 1, lsn: 1 }, timeoutMs: 5_000 } });
    reader.session.handle({ type: "get", id: 3, doc: DOC, key: "a", read: { ...READ, after: { epoch: 1, lsn: 1 }, timeoutMs: 100 } });
    await g.run(50);
    expect(writer.sent).toHaveLength(1);
    expect(reader.sent).toHaveLength(1);

    expect(listening.count).toBe(1);
    writer.session.close();
    reader.session.close();
    expect(listening.count).toBe(0); // the node no longer calls into the closed session
    g.storages.get(p1.id)!.release();
    g.net.heal();
    await g.until(() => r1.readInfo().lsn === 1, "r1 applies");
    await g.run(200); // past the short read's timeout
    writer.session.handle({ type: "status", id: 3 });
    writer.session.handle(write(4, [set("after close", 1)]));
    writer.session.handleBytes(Uint8Array.of(0));
    await g.run(100);
    expect(writer.sent).toHaveLength(1);
    expect(reader.sent).toHaveLength(1);
    expect(writer.log).toStrictEqual([]);
    expect(p1.state.get(k("a"))).toBe(1); // the write handed over before close went on
    expect(p1.state.get(k("after close"))).toBeUndefined(); // the one after close was never made
  });

  it("stops pushes at once when a session is closed while the node delivers a change", async () => {
    const { p1 } = await pair();
    // As on a server: the sessions share one feed, which tells its listeners in subscription order.
    const feed = new ChangeFeed(new PrimaryEngine(p1));
    const second = client(p1, { feed });
    const first = new ClientSession(
      new PrimaryEngine(p1),
      (r) => {
        if (r.type === "changes") second.session.close();
      },
      { feed },
    );
    first.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    second.session.handle({ type: "subscribe", id: 1, doc: DOC, prefix: "", from: null });
    await g.drive(p1.write({ kind: "set", key: k("a"), value: 1 }));
    expect(second.sent).toStrictEqual([{ type: "subscribed", id: 1, subscription: 1, position: { epoch: 0, lsn: 0 }, replayed: false }]);
  });
});
