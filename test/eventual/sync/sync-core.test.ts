import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import type { ConcordError } from "../../../src/errors.js";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import type { AwarenessCause } from "../../../src/eventual/sync/sync-core.js";
import { PeerOrigin, SyncCore, isRemoteOrigin, type SyncCoreOptions } from "../../../src/eventual/sync/sync-core.js";
import { decodeMessage, encodeMessage, type Message } from "../../../src/eventual/sync/protocol.js";
import { checkProperty } from "../../property/prop.js";
import { applyEdit, docContent, docEditArb, storableJson } from "./doc-edits.js";

const A = asPeerId("A");
const B = asPeerId("B");
const C = asPeerId("C");

/**
 * A tiny synchronous network of cores: `flush` delivers every outbox over the links that exist,
 * until nothing is left to send. Messages to a peer without a link are dropped.
 */
class Net {
  readonly cores = new Map<PeerId, SyncCore>();
  readonly errors: Array<{ at: PeerId; from: PeerId; error: ConcordError }> = [];
  readonly #links = new Set<string>();
  delivered = 0;

  constructor(ids: readonly PeerId[], options: SyncCoreOptions = {}) {
    ids.forEach((id, i) => {
      const doc = new Y.Doc();
      doc.clientID = i + 1;
      this.cores.set(id, new SyncCore(doc, options));
    });
  }

  core(id: PeerId): SyncCore {
    const core = this.cores.get(id);
    if (core === undefined) throw new Error(`no core ${id}`);
    return core;
  }

  doc(id: PeerId): Y.Doc {
    return this.core(id).doc;
  }

  linked(a: PeerId, b: PeerId): boolean {
    return this.#links.has(key(a, b));
  }

  link(a: PeerId, b: PeerId): void {
    this.#links.add(key(a, b));
    this.core(a).peerUp(b);
    this.core(b).peerUp(a);
  }

  unlink(a: PeerId, b: PeerId): void {
    this.#links.delete(key(a, b));
    this.core(a).peerDown(b);
    this.core(b).peerDown(a);
  }

  /** Delivers until quiet; `drop` may discard a message. Fails on a message storm. */
  flush(drop: (from: PeerId, to: PeerId, m: Message) => boolean = () => false): void {
    for (let round = 0; round < 1000; round++) {
      let sent = 0;
      for (const [from, core] of this.cores) {
        for (const { to, bytes } of core.takeOutbox()) {
          sent++;
          if (!this.#links.has(key(from, to)) || drop(from, to, decodeMessage(bytes))) continue;
          this.delivered++;
          const error = this.core(to).receive(from, bytes);
          if (error !== undefined) this.errors.push({ at: to, from, error });
        }
      }
      if (sent === 0) return;
    }
    throw new Error("the network never went quiet");
  }

  /** One lossy round: every queued message is lost, delivered, or delivered twice, in shuffled order. */
  deliverLossy(rng: Rng): void {
    const batch: Array<{ from: PeerId; to: PeerId; bytes: Uint8Array }> = [];
    for (const [from, core] of this.cores) for (const m of core.takeOutbox()) batch.push({ from, ...m });
    for (let i = batch.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [batch[i], batch[j]] = [batch[j]!, batch[i]!];
    }
    for (const { from, to, bytes } of batch) {
      if (!this.#links.has(key(from, to)) || rng.chance(0.3)) continue;
      const copies = rng.chance(0.2) ? 2 : 1;
      for (let c = 0; c < copies; c++) expect(this.core(to).receive(from, bytes)).toBeUndefined();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) for (const core of this.cores.values()) core.tick();
  }
}

function key(a: PeerId, b: PeerId): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function text(doc: Y.Doc): string {
  return doc.getText("t").toString();
}

function sortedStates(core: SyncCore): Array<[number, unknown]> {
  return [...core.awareness.states()].sort(([x], [y]) => x - y);
}

describe("SyncCore document sync", () => {
  it("syncs existing content both ways when two peers come up", () => {
    const net = new Net([A, B]);
    net.doc(A).getText("t").insert(0, "from A ");
    net.doc(B).getMap("m").set("from", "B");
    net.link(A, B);
    net.flush();
    for (const id of [A, B]) {
      expect(text(net.doc(id))).toBe("from A ");
      expect(net.doc(id).getMap("m").toJSON()).toEqual({ from: "B" });
    }
    expect(Y.encodeStateVector(net.doc(A))).toEqual(Y.encodeStateVector(net.doc(B)));
    expect(net.errors).toEqual([]);
  });

  it("sends live updates, from transactions and direct edits, to every peer but their source", () => {
    const net = new Net([A, B, C]);
    net.link(A, B);
    net.link(A, C);
    net.flush();
    net.doc(A).transact(() => net.doc(A).getText("t").insert(0, "x"));
    net.doc(B).getMap("m").set("k", 1);
    const outboxA = net.core(A).takeOutbox();
    expect(outboxA.map((m) => [m.to, decodeMessage(m.bytes).type])).toEqual([
      [B, "sync-update"],
      [C, "sync-update"],
    ]);
    expect(outboxA[0]!.bytes).toBe(outboxA[1]!.bytes); // encoded once
    for (const { to, bytes } of outboxA) net.core(to).receive(A, bytes);
    net.flush();
    for (const id of [A, B, C]) {
      expect(text(net.doc(id))).toBe("x");
      expect(net.doc(id).getMap("m").get("k")).toBe(1);
    }
  });

  it("does not echo an update back to the peer it came from", () => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.flush();
    net.doc(A).getText("t").insert(0, "hi");
    for (const { bytes } of net.core(A).takeOutbox()) net.core(B).receive(A, bytes);
    expect(net.core(B).takeOutbox()).toEqual([]);
  });

  it("forwards through a middle node: A—B—C with no A—C link converges", () => {
    const net = new Net([A, B, C]);
    net.doc(A).getText("t").insert(0, "a");
    net.doc(C).getText("t").insert(0, "c");
    net.link(A, B);
    net.link(B, C);
    net.flush();
    expect(text(net.doc(A))).toBe(text(net.doc(C)));
    expect(text(net.doc(A))).toHaveLength(2);

    net.doc(A).getText("t").insert(0, "live ");
    net.doc(C).getMap("m").set("c", true);
    net.flush();
    for (const id of [A, B, C]) {
      expect(text(net.doc(id))).toMatch(/^live /);
      expect(net.doc(id).getMap("m").get("c")).toBe(true);
    }
  });

  it("stops forwarding in a mesh with a cycle", () => {
    const net = new Net([A, B, C]);
    net.link(A, B);
    net.link(B, C);
    net.link(C, A);
    net.flush();
    const before = net.delivered;
    net.doc(A).getText("t").insert(0, "once");
    net.flush();
    // A sends to B and C; each forwards once to the other, where it is a duplicate.
    expect(net.delivered - before).toBe(4);
    for (const id of [A, B, C]) expect(text(net.doc(id))).toBe("once");
  });

  it("holds an update with missing dependencies until they arrive, then forwards both", () => {
    const net = new Net([A, B, C]);
    net.link(B, C);
    net.flush();
    const source = new Y.Doc();
    const updates: Uint8Array[] = [];
    source.on("update", (u: Uint8Array) => updates.push(u));
    source.getText("t").insert(0, "ab");
    source.getText("t").insert(2, "cd");
    const [first, second] = updates as [Uint8Array, Uint8Array];

    expect(net.core(B).receive(A, encodeMessage({ type: "sync-update", update: second }))).toBeUndefined();
    expect(net.doc(B).store.pendingStructs).not.toBeNull();
    expect(net.core(B).takeOutbox()).toEqual([]); // nothing integrated, nothing forwarded
    expect(net.core(B).receive(A, encodeMessage({ type: "sync-update", update: first }))).toBeUndefined();
    expect(net.doc(B).store.pendingStructs).toBeNull();
    net.flush();
    expect(text(net.doc(B))).toBe("abcd");
    expect(text(net.doc(C))).toBe("abcd");
  });

  it("converges after lost messages through the periodic resync", () => {
    const net = new Net([A, B], { resyncEveryTicks: 5 });
    net.link(A, B);
    net.flush(() => true); // the initial sync is lost
    net.doc(A).getText("t").insert(0, "lost");
    net.doc(B).getMap("m").set("lost", "too");
    net.flush(() => true); // and so are the live updates
    expect(text(net.doc(B))).toBe("");

    net.tickAll(4);
    net.flush();
    expect(text(net.doc(B))).toBe("");
    net.tickAll(1);
    net.flush();
    for (const id of [A, B]) {
      expect(text(net.doc(id))).toBe("lost");
      expect(net.doc(id).getMap("m").get("lost")).toBe("too");
    }
  });

  it("does not resync when resyncEveryTicks is 0", () => {
    const net = new Net([A, B], { resyncEveryTicks: 0 });
    net.link(A, B);
    net.flush();
    net.tickAll(100);
    expect(net.core(A).takeOutbox()).toEqual([]);
  });

  it("answers a step 1 from a peer that is not up with step 2 and its own step 1", () => {
    const net = new Net([A, B]);
    net.doc(A).getText("t").insert(0, "a");
    const step1 = encodeMessage({ type: "sync-step1", stateVector: Y.encodeStateVector(net.doc(B)) });
    expect(net.core(A).receive(B, step1)).toBeUndefined();
    const replies = net.core(A).takeOutbox().map((m) => [m.to, decodeMessage(m.bytes).type]);
    expect(replies).toEqual([
      [B, "sync-step2"],
      [B, "sync-step1"],
    ]);
    expect(net.core(A).peers()).toEqual([]);
  });

  it("answers a step 1 from an up peer with step 2 only", () => {
    const net = new Net([A, B]);
    net.core(A).peerUp(B);
    net.core(A).takeOutbox();
    net.core(A).receive(B, encodeMessage({ type: "sync-step1", stateVector: Y.encodeStateVector(net.doc(B)) }));
    expect(net.core(A).takeOutbox().map((m) => decodeMessage(m.bytes).type)).toEqual(["sync-step2"]);
  });

  it("applies remote updates with a recognisable, stable per-peer origin", () => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.flush();
    const origins: unknown[] = [];
    net.doc(B).on("update", (_u: Uint8Array, origin: unknown) => origins.push(origin));
    net.doc(A).getText("t").insert(0, "1");
    net.flush();
    net.doc(A).getText("t").insert(0, "2");
    net.flush();
    net.doc(B).getText("t").insert(0, "local");
    expect(origins).toHaveLength(3);
    const [first, second, local] = origins;
    expect(isRemoteOrigin(first)).toBe(true);
    expect((first as PeerOrigin).peer).toBe(A);
    expect(second).toBe(first);
    expect(isRemoteOrigin(local)).toBe(false);
  });

  it("forgets a peer on peerDown: no more messages to it, queued ones dropped", () => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.doc(A).getText("t").insert(0, "x");
    net.core(A).peerDown(B);
    expect(net.core(A).peers()).toEqual([]);
    expect(net.core(A).takeOutbox()).toEqual([]);
    net.doc(A).getText("t").insert(0, "y");
    expect(net.core(A).takeOutbox()).toEqual([]);
  });

  it("detaches from the doc on destroy", () => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.core(A).destroy();
    expect(net.core(A).takeOutbox()).toEqual([]);
    net.doc(A).getText("t").insert(0, "x");
    net.core(A).tick();
    expect(net.core(A).takeOutbox()).toEqual([]);
    expect(net.core(A).receive(B, encodeMessage({ type: "query-awareness" }))).toBeUndefined();
  });
});

describe("SyncCore convergence", () => {
  const nodes = [A, B, C];
  const stepArb = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant("edit" as const), node: fc.nat(2), edit: docEditArb }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant("deliver" as const) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant("tick" as const) }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant("cut" as const), a: fc.nat(2), b: fc.nat(2) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant("heal" as const), a: fc.nat(2), b: fc.nat(2) }), weight: 1 },
  );

  type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never;

  /** Runs `steps` on three replicas (a chain or a triangle), heals, resyncs once and checks they converged. */
  function checkConverges(steps: readonly Step[], seed: number, chain: boolean): void {
    const rng = seededRng(seed);
    const resyncEveryTicks = 3;
    const net = new Net(nodes, { resyncEveryTicks });
    const topology: Array<[PeerId, PeerId]> = chain ? [[A, B], [B, C]] : [[A, B], [B, C], [C, A]];
    for (const [a, b] of topology) net.link(a, b);
    for (const step of steps) {
      if (step.kind === "edit") applyEdit(net.doc(nodes[step.node]!), step.edit);
      else if (step.kind === "deliver") net.deliverLossy(rng);
      else if (step.kind === "tick") net.tickAll();
      else if (step.kind === "cut" && step.a !== step.b) net.unlink(nodes[step.a]!, nodes[step.b]!);
      else if (step.kind === "heal" && step.a !== step.b) net.link(nodes[step.a]!, nodes[step.b]!);
    }
    // Heal: links that stayed up lost messages too, and only the resync repairs those.
    for (const [a, b] of topology) if (!net.linked(a, b)) net.link(a, b);
    net.flush();
    for (let t = 0; t < resyncEveryTicks; t++) {
      net.tickAll();
      net.flush();
    }
    const [first, ...rest] = nodes.map((id) => net.doc(id));
    for (const doc of rest) {
      expect(Y.encodeStateVector(doc)).toEqual(Y.encodeStateVector(first!));
      expect(docContent(doc)).toEqual(docContent(first!));
      expect(doc.store.pendingStructs).toBeNull();
    }
    expect(net.errors).toEqual([]);
  }

  it("replicas on a lossy, duplicating, reordering, partitioned network converge after heal and one resync period", async () => {
    await checkProperty(fc.property(fc.array(stepArb, { maxLength: 40 }), fc.integer(), fc.boolean(), checkConverges));
  });

  // Found by the property above (seed 1311282676, counterexample: map-set "a" = {"__proto__": null}):
  // the edit generator made a map value with a "__proto__" key, which Yjs decodes as the object's
  // prototype, so the value every replica read differed from the one written. No Yjs document can
  // hold such a key faithfully (the store refuses it), so the generator no longer makes one.
  it("regression: a generated map value holds no __proto__ key, and survives the trip to every replica", () => {
    const value = storableJson(JSON.parse('{"__proto__":null,"b":{"__proto__":1,"c":2}}'));
    expect(value).toEqual({ b: { c: 2 } });
    checkConverges([{ kind: "edit", node: 0, edit: { kind: "map-set", key: "a", value } }], 0, false);
  });
});

describe("SyncCore input validation", () => {
  const garbage: Array<[string, Uint8Array]> = [
    ["an empty message", new Uint8Array()],
    ["a truncated update", encodeMessage({ type: "sync-update", update: new Uint8Array([1, 2, 3]) }).slice(0, 4)],
    ["an update that is not a Yjs update", encodeMessage({ type: "sync-update", update: new Uint8Array([5, 200, 1, 9, 9]) })],
    ["a step 2 that is not a Yjs update", encodeMessage({ type: "sync-step2", update: new Uint8Array([1, 1, 7, 0, 4]) })],
    ["a step 1 whose state vector does not parse", encodeMessage({ type: "sync-step1", stateVector: new Uint8Array([3, 1]) })],
    ["an unknown sync sub-type", new Uint8Array([0, 7, 0])],
    ["trailing bytes", new Uint8Array([3, 0])],
  ];

  it.each(garbage)("returns Protocol for %s and leaves the doc untouched", (_what, bytes) => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.flush();
    net.doc(A).getText("t").insert(0, "keep");
    net.core(A).takeOutbox();
    const stateBefore = Y.encodeStateAsUpdate(net.doc(A));
    let changes = 0;
    net.doc(A).on("update", () => changes++);

    const error = net.core(A).receive(B, bytes);
    expect(error?.code).toBe("Protocol");
    expect(changes).toBe(0);
    expect(Y.encodeStateAsUpdate(net.doc(A))).toEqual(stateBefore);
    expect(net.doc(A).store.pendingStructs).toBeNull();
    expect(net.core(A).takeOutbox()).toEqual([]);
  });

  it("refuses a message above maxMessageBytes with TooLarge", () => {
    const core = new SyncCore(new Y.Doc(), { maxMessageBytes: 16 });
    const error = core.receive(B, encodeMessage({ type: "sync-update", update: new Uint8Array(32) }));
    expect(error?.code).toBe("TooLarge");
  });

  it("ignores unknown message types, including Concord's extension range", () => {
    const net = new Net([A, B]);
    net.link(A, B);
    net.flush();
    for (const messageType of [4, 99, 103, 250]) {
      expect(net.core(A).receive(B, encodeMessage({ type: "unknown", messageType, payload: new Uint8Array([1, 2]) }))).toBeUndefined();
    }
    expect(net.core(A).takeOutbox()).toEqual([]);
  });

  it("reports a permission-denied message as Unauthorized", () => {
    const core = new SyncCore(new Y.Doc());
    core.peerUp(B);
    const error = core.receive(B, encodeMessage({ type: "auth-denied", reason: "read-only token" }));
    expect(error?.code).toBe("Unauthorized");
    expect(error?.message).toContain("read-only token");
  });

  it("rejects options out of range with InvalidArgument", () => {
    expect(() => new SyncCore(new Y.Doc(), { resyncEveryTicks: -1 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => new SyncCore(new Y.Doc(), { awarenessTimeoutTicks: 1 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    expect(() => new SyncCore(new Y.Doc(), { maxMessageBytes: 0.5 })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
  });
});

describe("SyncCore awareness", () => {
  it("sends known presence to a peer that comes up, and relays changes through a middle node", () => {
    const net = new Net([A, B, C]);
    net.core(A).setLocalAwareness({ name: "ann" });
    net.link(A, B);
    net.link(B, C);
    net.flush();
    const clientA = net.doc(A).clientID;
    expect(net.core(C).awareness.states().get(clientA)).toEqual({ name: "ann" });

    net.core(C).setLocalAwareness({ name: "cid" });
    net.core(A).setLocalAwareness({ name: "ann", typing: true });
    net.flush();
    expect(net.core(C).awareness.states().get(clientA)).toEqual({ name: "ann", typing: true });
    expect(sortedStates(net.core(A))).toEqual(sortedStates(net.core(C)));
    expect(sortedStates(net.core(A))).toHaveLength(2);
  });

  it("removes the presence a peer introduced when it goes down, and tells the others", () => {
    const net = new Net([A, B, C]);
    net.core(A).setLocalAwareness({ name: "ann" });
    net.link(A, B);
    net.link(B, C);
    net.flush();
    const causes: AwarenessCause[] = [];
    net.core(C).onAwarenessChange((change, cause) => {
      if (change.removed.length > 0) causes.push(cause);
    });
    net.unlink(A, B);
    net.flush();
    const clientA = net.doc(A).clientID;
    expect(net.core(B).awareness.states().has(clientA)).toBe(false);
    expect(net.core(C).awareness.states().has(clientA)).toBe(false);
    expect(causes).toEqual([{ kind: "remote", peer: B }]);
  });

  it("answers query-awareness with every known state", () => {
    const net = new Net([A, B]);
    net.core(A).setLocalAwareness({ here: true });
    net.core(A).peerUp(B);
    net.core(A).takeOutbox();
    net.core(A).receive(B, encodeMessage({ type: "query-awareness" }));
    const [reply] = net.core(A).takeOutbox();
    expect(decodeMessage(reply!.bytes)).toEqual({
      type: "awareness",
      // Clock 1 from the set, two more when B came up (see "re-announces its presence...").
      entries: [{ clientId: net.doc(A).clientID, clock: 3, state: { here: true } }],
    });
  });

  it("times out presence that is not renewed, and renews its own in time", () => {
    const timeout = 10;
    const net = new Net([A, B], { awarenessTimeoutTicks: timeout, resyncEveryTicks: 0 });
    net.core(A).setLocalAwareness({ name: "ann" });
    net.core(B).setLocalAwareness({ name: "bob" });
    net.link(A, B);
    net.flush();
    for (let i = 0; i < 3 * timeout; i++) {
      net.tickAll();
      net.flush();
    }
    expect(net.core(B).awareness.states().size).toBe(2);

    // A stops ticking (paused): B drops A after the timeout.
    const causes: string[] = [];
    net.core(B).onAwarenessChange((_c, cause) => causes.push(cause.kind));
    for (let i = 0; i < timeout; i++) net.core(B).tick();
    expect(net.core(B).awareness.states().has(net.doc(A).clientID)).toBe(false);
    expect(causes).toEqual(["timeout"]);
  });

  it("re-asserts its own presence when a peer removes it", () => {
    const net = new Net([A, B]);
    net.core(A).setLocalAwareness({ name: "ann" });
    net.link(A, B);
    net.flush();
    const clientA = net.doc(A).clientID;
    // A's clock is 3: 1 from the set, two more when B came up.
    net.core(A).receive(B, encodeMessage({ type: "awareness", entries: [{ clientId: clientA, clock: 3, state: null }] }));
    expect(net.core(A).awareness.getLocalState()).toEqual({ name: "ann" });
    const [reply] = net.core(A).takeOutbox();
    expect(reply?.to).toBe(B);
    expect(decodeMessage(reply!.bytes)).toEqual({ type: "awareness", entries: [{ clientId: clientA, clock: 4, state: { name: "ann" } }] });
  });

  it("re-announces its presence to a peer coming back, above the clock that peer kept when it lost us", () => {
    const net = new Net([A, B]);
    net.core(A).setLocalAwareness({ name: "ann" });
    net.link(A, B);
    net.flush();
    const clientA = net.doc(A).clientID;
    expect(net.core(B).awareness.states().has(clientA)).toBe(true);
    // B loses A: it drops A's presence but keeps its clock (a y-protocols server even records the
    // removal one past it), so A's state at the old clock would be ignored. Then A is back.
    net.unlink(A, B);
    expect(net.core(B).awareness.states().has(clientA)).toBe(false);
    net.link(A, B);
    net.flush();
    expect(net.core(B).awareness.states().get(clientA)).toEqual({ name: "ann" });
  });

  it("ignores presence from a peer that is not up", () => {
    const core = new SyncCore(new Y.Doc());
    core.receive(B, encodeMessage({ type: "awareness", entries: [{ clientId: 77, clock: 1, state: {} }] }));
    expect(core.awareness.states().size).toBe(0);
  });

  it("refuses a local state that is not JSON with InvalidValue", () => {
    const core = new SyncCore(new Y.Doc());
    expect(() => core.setLocalAwareness(Number.NaN)).toThrow(expect.objectContaining({ code: "InvalidValue" }));
    expect(core.takeOutbox()).toEqual([]);
  });
});
