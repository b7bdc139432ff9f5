/**
 * Strong mode end to end: real `concord node --mode strong` servers in this process on loopback
 * (test/strong/node/cluster.ts), real files, the real client. Linearizable writes and reads from
 * the leader and from followers, compare-and-set, documents as keyspaces, subscriptions that take
 * effect when `subscribe` returns, a leader that dies under load (acknowledged writes survive, each
 * applies once), the minority that refuses rather than answer, and a cluster restarted from disk.
 */
import { afterEach, describe, expect, it } from "vitest";
import { runCleanups, within } from "../../reliability/harness.js";
import { SubscriberView } from "../../primary/client-nodes.js";
import { FAST_RAFT, TestCluster } from "./cluster.js";

afterEach(runCleanups);

describe("strong mode: a 3-node cluster", { timeout: 60_000 }, () => {
  it("commits writes, reads them linearizably from the leader and from followers, and compares-and-sets", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    const a = await store.set("todo:1", { title: "milk" });
    expect(a).toMatchObject({ level: "committed", succeeded: true, position: { term: expect.any(Number), index: expect.any(Number) } });
    await store.set("todo:2", "bread");
    expect(await store.get("todo:1")).toStrictEqual({ title: "milk" });
    expect(await store.entries({ prefix: "todo:" })).toStrictEqual([
      ["todo:1", { title: "milk" }],
      ["todo:2", "bread"],
    ]);
    const leader = await cluster.leader();
    expect(store.readInfo()).toMatchObject({ role: "leader", node: cluster.node(leader).url });

    const fromFollowers = await cluster.open({ readFrom: "followers" });
    expect(await fromFollowers.get("todo:2")).toBe("bread");
    expect(fromFollowers.readInfo()).toMatchObject({ role: "follower" });
    await store.set("todo:2", "rye");
    // Linearizable: a follower read after an acknowledged write sees it.
    expect(await fromFollowers.get("todo:2")).toBe("rye");

    const cas = await store.transact((tx) => tx.set("todo:2", "spelt"), { when: [{ key: "todo:2", test: "equals", value: "rye" }] });
    const lost = await store.transact((tx) => tx.set("todo:2", "oat"), { when: [{ key: "todo:2", test: "equals", value: "rye" }] });
    expect(cas.succeeded).toBe(true);
    expect(lost.succeeded).toBe(false);
    expect(lost.position.index).toBeGreaterThan(cas.position.index);
    expect(await store.get("todo:2")).toBe("spelt");
    const created = await store.transact((tx) => tx.set("lock", "me"), { when: [{ key: "lock", test: "absent" }] });
    const again = await store.transact((tx) => tx.set("lock", "you"), { when: [{ key: "lock", test: "absent" }] });
    expect([created.succeeded, again.succeeded]).toStrictEqual([true, false]);
    expect(store.status()).toMatchObject({ mode: "strong", pendingWrites: 0, leader: { url: cluster.node(leader).url } });
  });

  // A read point the core hands out within the request itself (one voter, or a leader's lease)
  // was once lost: the node registered its waiter after asking, and the read timed out.
  it("answers linearizable reads on a one-node cluster and from a leader's lease, where the read point comes at once", async () => {
    for (const cluster of [await TestCluster.start(1), await TestCluster.start(3, { raft: { ...FAST_RAFT, readOnly: "lease" } })]) {
      const store = await cluster.open({ timeoutMs: 2_000 });
      await store.set("k", 1);
      expect(await store.get("k")).toBe(1);
      const leader = cluster.node(await cluster.leader()).server!.engine;
      await expect(leader.readable({ consistency: "linearizable", maxStalenessMs: null, after: null, timeoutMs: 2_000 })).resolves.toBeUndefined();
    }
  });

  it("keeps each document its own keyspace", async () => {
    const cluster = await TestCluster.start(3);
    const todos = await cluster.open({ doc: "todos" });
    const notes = await cluster.open({ doc: "notes" });
    await todos.set("k", "todo");
    await notes.set("k", "note");
    expect(await todos.get("k")).toBe("todo");
    expect(await notes.entries()).toStrictEqual([["k", "note"]]);
  });

  it("a store's first subscription hears a write another store makes right after subscribe returned (5 runs), each change once, in order", async () => {
    const cluster = await TestCluster.start(3);
    const writer = await cluster.open();
    for (let run = 0; run < 5; run++) {
      const subscriber = await cluster.open();
      const view = new SubscriberView();
      subscriber.subscribe({ prefix: `run${run}/` }, view.listener);
      await writer.set(`run${run}/k`, 1);
      await writer.set(`run${run}/k`, 2);
      await view.until(`run ${run}'s writes`, () => view.map.get(`run${run}/k`) === 2);
      expect(view.events.map((e) => e.changes)).toStrictEqual([[{ key: `run${run}/k`, value: 1 }], [{ key: `run${run}/k`, value: 2 }]]);
      await subscriber.close();
    }
  });

  it("survives the leader's death under load: every acknowledged write is there, each applied once", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open({ timeoutMs: 10_000 });
    // A counter incremented by compare-and-set: a write applied twice would skip a number.
    await store.set("count", 0);
    const leader = await cluster.leader();
    let count = 0;
    let fifth!: () => void;
    const fiveDone = new Promise<void>((resolve) => (fifth = resolve));
    const increments = (async () => {
      for (let i = 0; i < 30; i++) {
        const ack = await store.transact((tx) => tx.set("count", count + 1), { when: [{ key: "count", test: "equals", value: count }] });
        expect(ack.succeeded, `increment ${i} from ${count}`).toBe(true);
        count++;
        if (count === 5) fifth();
      }
    })();
    await within("five increments", fiveDone);
    await cluster.stop(leader);
    await increments;
    const next = await cluster.leader();
    expect(next).not.toBe(leader);
    expect(await store.get("count")).toBe(30);
    await cluster.restart(leader);
    const late = await cluster.open({ readFrom: "followers" });
    expect(await late.get("count")).toBe(30);
  });

  it("the minority refuses rather than answer: with one node of three left, reads and writes fail with Unavailable, at once once it stepped down", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    await store.set("before", 1);
    const leader = await cluster.leader();
    const others = cluster.nodes.filter((n) => n.id !== leader);
    await cluster.stop(others[0]!.id);
    await cluster.stop(others[1]!.id);
    // Proposed while the leader still leads, it cannot commit: when the leader steps down it fails
    // as of unknown outcome (it may commit under a later leader), with a code a client does not
    // take for a refusal before ordering (Unavailable), found by simulation.
    const ordered = cluster.node(leader).server!.engine.write({ doc: "d", conditions: [], ops: [{ kind: "set", key: "ordered", value: 1 }], durability: { level: "committed" }, session: null });
    await expect(ordered).rejects.toMatchObject({ code: "Timeout", details: { outcome: "unknown" }, message: expect.stringMatching(/lost its leader before the write committed; it may still apply/) });
    const alone = await cluster.open({ nodes: [cluster.node(leader).url], timeoutMs: 1_500 });
    await expect(alone.get("before")).rejects.toMatchObject({ code: "Unavailable" });
    await expect(alone.set("after", 1)).rejects.toMatchObject({ code: "Unavailable", details: { outcome: expect.stringMatching(/^(unknown|not-applied)$/) } });
    // Within an election timeout the lone leader steps down (check-quorum); then it refuses at once.
    await cluster.until("the lone node to step down", () => cluster.node(leader).server!.engine.node.status().leader === null);
    const engine = cluster.node(leader).server!.engine;
    const read = { consistency: "linearizable", maxStalenessMs: null, after: null, timeoutMs: 60_000 } as const;
    await expect(engine.readable(read)).rejects.toMatchObject({ code: "Unavailable", message: expect.stringMatching(/knows no leader/) });
    const write = { doc: "d", conditions: [], ops: [{ kind: "set", key: "after", value: 1 }], durability: { level: "committed" }, session: null } as const;
    await expect(engine.write(write)).rejects.toMatchObject({ code: "Unavailable", details: { reason: "no-leader" } });
    // A local read still answers, from this node's state, and says how long it has not heard a leader.
    expect(engine.readable({ ...read, consistency: "local" })).toBeUndefined();
    expect(engine.view("d").get("after")).toBeUndefined();
    expect(() => engine.readable({ ...read, consistency: "local", maxStalenessMs: 0 })).toThrow(expect.objectContaining({ code: "Stale" }));
  });

  it("comes back from disk: stopped and restarted, the cluster holds every acknowledged write", async () => {
    const cluster = await TestCluster.start(3);
    const store = await cluster.open();
    for (let i = 0; i < 10; i++) await store.set(`k${i}`, i);
    await store.close();
    await cluster.stopAll();
    for (const n of cluster.nodes) await cluster.restart(n.id);
    const after = await cluster.open();
    expect((await after.entries()).length).toBe(10);
    expect(await after.get("k9")).toBe(9);
  });
});
