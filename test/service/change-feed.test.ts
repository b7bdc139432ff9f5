/**
 * The change feed of the node service (src/service/change-feed.ts) over real primary-mode nodes
 * (test/primary/node/group.ts: in-memory storage, a simulated network, a virtual clock): changes
 * fanned out by document, a subscription from a past position replayed from the bounded history,
 * and refused when the history no longer holds it, was replaced by a snapshot install, or never
 * held that position.
 */
import { afterEach, describe, expect, it } from "vitest";
import { docKey } from "../../src/kv/doc-keys.js";
import type { KvWrite } from "../../src/kv/ops.js";
import { PrimaryEngine } from "../../src/primary/primary-engine.js";
import { ChangeFeed } from "../../src/service/change-feed.js";
import type { EngineChange } from "../../src/service/engine.js";
import { Group } from "../primary/node/group.js";

let g: Group;

afterEach(async () => {
  await g.closeAll();
});

const set = (doc: string, key: string, value: number): KvWrite => ({ kind: "set", key: docKey(doc, key), value });
const keys = (changes: readonly EngineChange[]) => changes.map((c) => `${c.doc}:${c.changes.map((x) => x.key).join(",")}@${c.position.lsn}`);

describe("ChangeFeed", () => {
  it("tells each listener only its document's changes, with their positions, until unsubscribed", async () => {
    g = new Group();
    const { p1 } = await g.pair();
    const feed = new ChangeFeed(new PrimaryEngine(p1));
    const a: EngineChange[] = [];
    const b: EngineChange[] = [];
    const offA = feed.subscribe("a", null, (c) => a.push(c)).unsubscribe;
    feed.subscribe("b", null, (c) => b.push(c));
    await g.drive(p1.write(set("a", "x", 1)));
    await g.drive(p1.write(set("b", "x", 2)));
    await g.drive(p1.write({ kind: "batch", ops: [set("a", "y", 3), set("b", "y", 4)] }));
    offA();
    await g.drive(p1.write(set("a", "z", 5)));
    expect(keys(a)).toStrictEqual(["a:x@1", "a:y@3"]);
    expect(keys(b)).toStrictEqual(["b:x@2", "b:y@3"]);
    expect(b[0]).toMatchObject({ doc: "b", changes: [{ key: "x", value: 2 }], replaced: false });
    expect(b[0]!.bytes).toBeGreaterThan(0);
  });

  it("replays a document's changes after `from` when it holds them all; a listener hears only later ones", async () => {
    g = new Group();
    const { p1 } = await g.pair();
    const engine = new PrimaryEngine(p1);
    const feed = new ChangeFeed(engine);
    for (let i = 1; i <= 4; i++) await g.drive(p1.write(set(i % 2 === 0 ? "a" : "b", `k${i}`, i)));
    const heard: EngineChange[] = [];
    const sub = feed.subscribe("a", { epoch: 1, lsn: 1 }, (c) => heard.push(c));
    expect(sub.position).toStrictEqual({ epoch: 1, lsn: 4 });
    expect(keys(sub.replay!)).toStrictEqual(["a:k2@2", "a:k4@4"]);
    expect(heard).toStrictEqual([]);
    await g.drive(p1.write(set("a", "k5", 5)));
    expect(keys(heard)).toStrictEqual(["a:k5@5"]);
    // From the current position: nothing to replay, and replayed all the same.
    expect(feed.subscribe("a", { epoch: 1, lsn: 5 }, () => undefined).replay).toStrictEqual([]);
    // From a position the node never reached, or never held: no replay.
    expect(feed.subscribe("a", { epoch: 1, lsn: 6 }, () => undefined).replay).toBeNull();
    expect(feed.subscribe("a", { epoch: 7, lsn: 3 }, () => undefined).replay).toBeNull();
    expect(feed.subscribe("a", null, () => undefined).replay).toBeNull();
  });

  it("keeps at most maxHistoryBytes of writes: the start moves past what it evicted, and a subscription from before it is not replayed", async () => {
    g = new Group();
    const { p1 } = await g.pair();
    const feed = new ChangeFeed(new PrimaryEngine(p1), 64);
    for (let i = 1; i <= 20; i++) await g.drive(p1.write(set("a", `k${i}`, i)));
    expect(feed.start.lsn).toBeGreaterThan(0);
    expect(feed.size).toBeLessThan(20);
    expect(feed.subscribe("a", { epoch: 1, lsn: feed.start.lsn - 1 }, () => undefined).replay).toBeNull();
    const replay = feed.subscribe("a", feed.start, () => undefined).replay;
    expect(replay?.map((c) => c.position.lsn)).toStrictEqual(Array.from({ length: 20 - feed.start.lsn }, (_, i) => feed.start.lsn + 1 + i));
  });

  it("starts its history over at a snapshot install: what came before may not be this history any more", async () => {
    g = new Group();
    const { p1, r1 } = await g.pair();
    await g.drive(p1.write(set("a", "both", 1)));
    await g.until(() => r1.readInfo().lsn === 1, "r1 catches up");
    g.net.partition([[p1.id], [r1.id]]);
    await g.drive(p1.write(set("a", "old", 2))); // LSN 2 of epoch 1, only on p1
    const feed = new ChangeFeed(new PrimaryEngine(p1));
    // The feed began at LSN 2: it holds nothing from before, so it replays nothing from LSN 1.
    expect(feed.subscribe("a", { epoch: 1, lsn: 1 }, () => undefined).replay).toBeNull();
    expect(feed.subscribe("a", { epoch: 1, lsn: 2 }, () => undefined).replay).toStrictEqual([]);
    await g.drive(r1.promote());
    await g.drive(r1.write(set("a", "new", 3))); // LSN 2 of epoch 2
    const heard: EngineChange[] = [];
    feed.subscribe("a", null, (c) => heard.push(c));
    g.net.heal();
    await g.until(() => g.events("p1", "replica.snapshot_installed").length === 1, "p1 installs r1's state");
    expect(heard).toMatchObject([{ doc: "a", replaced: true, position: { epoch: 2, lsn: 2 } }]);
    expect(feed.start).toStrictEqual({ epoch: 2, lsn: 2 });
    // A position of the discarded history is not replayed, even at an LSN the node holds now.
    expect(feed.subscribe("a", { epoch: 1, lsn: 2 }, () => undefined).replay).toBeNull();
    expect(feed.subscribe("a", { epoch: 2, lsn: 2 }, () => undefined).replay).toStrictEqual([]);
  });
});
