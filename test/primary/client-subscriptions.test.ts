/**
 * Subscriptions of the primary-mode client catch up after a disconnect
 * (src/client/subscriptions.ts), against a real node server in process on loopback: the
 * client's sockets are cut (and kept cut) while the node applies writes and deletes, then
 * restored; the subscriber hears what it missed once, as one difference, then the pushes again.
 * The property: after any sequence of writes, deletes, cuts and restores, once the client has had
 * one round trip with the node, the subscriber's view equals the node's entries under its prefix
 * exactly, and no change it heard changed nothing in its view (none was heard twice). Every wait
 * is on an event, bounded: no sleeps. `PROP_RUNS` sets the cases (default 100); a failure prints
 * the `PROP_SEED=...` command that replays it.
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import type { KvOp } from "../../src/kv/ops.js";
import type { PrimaryStore } from "../../src/primary/primary-client.js";
import { checkProperty } from "../property/prop.js";
import { runCleanups } from "../reliability/harness.js";
import type { Response } from "../../src/service/protocol.js";
import { cuttableSockets, docEntries, inDoc, open, scriptedNode, start, SubscriberView, type Started } from "./client-nodes.js";

describe("primary-mode client: subscriptions catch up", { timeout: 120_000 }, () => {
  afterEach(runCleanups);

  /** A store subscribed to `todo:` that heard two todos, its link then cut while the node takes `missed`. */
  async function awayWhile(maxHistoryBytes: number | undefined) {
    const p = await start("p1", "primary", maxHistoryBytes === undefined ? {} : { maxHistoryBytes });
    const sockets = cuttableSockets();
    const store = await open({ nodes: { primary: p.url }, WebSocket: sockets.WebSocket });
    const view = new SubscriberView();
    store.subscribe({ prefix: "todo:" }, view.listener);
    await store.set("todo:1", "a");
    await store.set("todo:2", "b");
    await view.until("both todos", () => view.map.size === 2);

    sockets.cut();
    const write = (op: KvOp) => p.server.engine.node.write(inDoc(op));
    await write({ kind: "set", key: "todo:1", value: "A" });
    await write({ kind: "delete", key: "todo:2" });
    await write({ kind: "set", key: "todo:3", value: "c" });
    await write({ kind: "set", key: "todo:4", value: "gone again" });
    await write({ kind: "delete", key: "todo:4" });
    await write({ kind: "set", key: "other", value: 1 });
    sockets.restore();
    return { p, store, view };
  }

  it("a subscriber hears every change made while its link was down, once and in order (the node replays them), then the pushes again", async () => {
    const { p, store, view } = await awayWhile(undefined);
    await view.until("the replay", () => view.events.length === 7);
    const remote = (key: string, value: string | undefined) => ({ changes: [{ key, value }], origin: "remote" });
    expect(view.events.slice(2)).toStrictEqual([
      remote("todo:1", "A"),
      remote("todo:2", undefined),
      remote("todo:3", "c"),
      remote("todo:4", "gone again"),
      remote("todo:4", undefined),
    ]);
    await store.set("todo:5", "e");
    await view.until("the push after the catch-up", () => view.map.has("todo:5"));
    expect(view.events.slice(7)).toStrictEqual([remote("todo:5", "e")]);
    expect(view.entries()).toStrictEqual(docEntries(p.server.engine.node, "todo:"));
    expect(view.noOps).toStrictEqual([]);
  });

  it("when the node no longer holds what a subscriber missed, it hears the difference once, as one event, then the pushes again", async () => {
    const { p, store, view } = await awayWhile(0);
    await view.until("the catch-up", () => view.events.length === 3);
    expect(view.events[2]).toStrictEqual({
      changes: [
        { key: "todo:1", value: "A" },
        { key: "todo:2", value: undefined },
        { key: "todo:3", value: "c" },
      ],
      origin: "remote",
    });
    await store.set("todo:5", "e");
    await view.until("the push after the catch-up", () => view.map.has("todo:5"));
    expect(view.events.slice(3)).toStrictEqual([{ changes: [{ key: "todo:5", value: "e" }], origin: "remote" }]);
    expect(view.entries()).toStrictEqual(docEntries(p.server.engine.node, "todo:"));
    expect(view.noOps).toStrictEqual([]);
  });

  it("a push between the subscribed answer and the snapshot is heard once (the snapshot holds it); a push right after the snapshot is not counted into it", async () => {
    const info = (lsn: number) => ({ role: "primary" as const, position: { epoch: 1, lsn }, lagLsn: 0, silentMs: 0 });
    const push = (subscription: number, lsn: number, key: string, value: number): Response => ({ type: "changes", subscription, position: { epoch: 1, lsn }, changes: [{ key, value }] });
    // Connection 1: j=1 after the snapshot. While the client is away: m=1. Connection 2: k=1
    // between `subscribed` and the snapshot, k=2 right after it, frames back to back.
    const node = await scriptedNode((req, send, connection) => {
      const first = connection === 1;
      if (req.type === "subscribe") {
        send({ type: "subscribed", id: req.id, subscription: connection, position: { epoch: 1, lsn: first ? 0 : 3 }, replayed: false });
        if (!first) send(push(connection, 4, "k", 1));
      } else if (req.type === "entries") {
        const entries: [string, number][] = first ? [] : [["j", 1], ["k", 1], ["m", 1]];
        send({ type: "entries", id: req.id, entries, info: info(first ? 0 : 4) });
        send(first ? push(connection, 1, "j", 1) : push(connection, 5, "k", 2));
      }
    });
    const store = await open({ nodes: { primary: node.url } });
    const view = new SubscriberView();
    store.subscribe({ prefix: "" }, view.listener);
    await view.until("j", () => view.map.has("j"));
    node.drop();
    await view.until("four events", () => view.events.length >= 4);
    expect(view.events.map((e) => e.changes)).toStrictEqual([[{ key: "j", value: 1 }], [{ key: "k", value: 1 }], [{ key: "m", value: 1 }], [{ key: "k", value: 2 }]]);
    expect(view.entries()).toStrictEqual([
      ["j", 1],
      ["k", 2],
      ["m", 1],
    ]);
    expect(view.noOps).toStrictEqual([]);
  });

  it("a subscription made while its node is unreachable starts when the node first takes it, and catches up after later cuts", async () => {
    const p = await start("p1", "primary");
    const sockets = cuttableSockets();
    sockets.cut();
    const store = await open({ nodes: { primary: p.url }, WebSocket: sockets.WebSocket });
    const view = new SubscriberView();
    store.subscribe({ prefix: "" }, view.listener);
    await p.server.engine.node.write(inDoc({ kind: "set", key: "before", value: 0 }));
    sockets.restore();
    await store.whenConnected();
    await store.entries(); // after the subscription on the same connection: it is in place
    await store.set("after", 1);
    await view.until("after", () => view.map.has("after"));
    expect(view.events).toStrictEqual([{ changes: [{ key: "after", value: 1 }], origin: "remote" }]);
    sockets.cut();
    await p.server.engine.node.write(inDoc({ kind: "delete", key: "after" }));
    sockets.restore();
    await view.until("the delete", () => !view.map.has("after"));
    expect(view.noOps).toStrictEqual([]);
  });
});

type Step =
  | { readonly kind: "set"; readonly key: string; readonly value: number }
  | { readonly kind: "delete"; readonly key: string }
  | { readonly kind: "outside"; readonly value: number }
  | { readonly kind: "cut" }
  | { readonly kind: "restore" }
  | { readonly kind: "settle" };

const keyArb = fc.constantFrom("a", "b", "c", "d/1");
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("set" as const), key: keyArb, value: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("outside" as const), value: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: "cut" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "restore" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "settle" as const }) },
);

/**
 * Resolves once `store` has read `prefix` on a connection open after every cut so far: the read
 * is sent after the subscription's `subscribe` and `entries` on that connection, and the node
 * pushed every change it applied before answering it, so the subscriber has heard all of them.
 */
async function roundTrip(store: PrimaryStore, prefix: string): Promise<void> {
  for (;;) {
    await store.whenConnected();
    try {
      await store.entries({ prefix });
      return;
    } catch (e) {
      if (!isConcordError(e, "Unavailable")) throw e; // the link went down after `whenConnected`
    }
  }
}

describe("primary-mode client: subscriptions catch up (property)", { timeout: 300_000 }, () => {
  // One node for every case; each case has its own prefix and its own client.
  let p: Started;
  let run = 0;
  beforeAll(async () => {
    p = await start("p1", "primary");
  });
  afterAll(runCleanups);

  it("after any writes, deletes, cuts and restores, a subscriber's view equals the node's entries under its prefix once the client has a round trip with the node, each change heard once", async () => {
    await checkProperty(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 16 }), async (steps) => {
        const prefix = `run${++run}/`;
        const sockets = cuttableSockets();
        const store: PrimaryStore = await open({ nodes: { primary: p.url }, WebSocket: sockets.WebSocket });
        const view = new SubscriberView();
        const off = store.subscribe({ prefix }, view.listener);
        await roundTrip(store, prefix);
        const node = p.server.engine.node;
        const settled = async (): Promise<void> => {
          sockets.restore();
          await roundTrip(store, prefix);
          expect(view.entries()).toStrictEqual(docEntries(node, prefix));
        };
        for (const step of steps) {
          switch (step.kind) {
            case "set":
              await node.write(inDoc({ kind: "set", key: prefix + step.key, value: step.value }));
              break;
            case "delete":
              await node.write(inDoc({ kind: "delete", key: prefix + step.key }));
              break;
            case "outside":
              await node.write(inDoc({ kind: "set", key: `${prefix.slice(0, -1)}-outside`, value: step.value }));
              break;
            case "cut":
              sockets.cut();
              break;
            case "restore":
              sockets.restore();
              break;
            case "settle":
              await settled();
              break;
          }
        }
        await settled();
        expect(view.noOps).toStrictEqual([]);
        expect(view.events.every((e) => e.changes.length > 0 && e.changes.every((c) => c.key.startsWith(prefix)))).toBe(true);
        off();
        await store.close();
      }),
    );
  });
});
