/**
 * ReplicationNode (src/primary/replication-node.ts) serving writes and reads: a primary orders
 * writes and its replicas follow; durability levels and minReplicas; reads that wait for an LSN;
 * how fresh a replica says it is; change subscriptions and the observe hooks. Everything runs on a
 * virtual clock (group.ts): no real timers, no sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ReplRecord } from "../../../src/primary/replication/types.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import type { Change } from "../../../src/store.js";
import { Group, rejection } from "./group.js";

let g: Group;

afterEach(async () => {
  await g.closeAll();
});

async function pair() {
  g = new Group();
  return g.pair();
}

describe("a fresh group", () => {
  it("opens a node started as primary as the primary of epoch 1", async () => {
    g = new Group();
    const p1 = await g.open("p1", { role: "primary" });
    expect(p1.role).toBe("primary");
    expect(p1.status()).toMatchObject({ id: "p1", primary: "p1", epoch: 1, lsn: 0, fenced: false, discarded: 0 });
  });

  it("replicates every write of the primary to the replica, which ends with an equal state", async () => {
    const { p1, r1 } = await pair();
    let last = 0;
    for (let i = 1; i <= 20; i++) {
      const receipt = await g.drive(p1.write({ kind: "set", key: `k${i % 7}`, value: i }));
      expect(receipt.lsn).toBe(last + 1);
      last = receipt.lsn;
    }
    await g.drive(p1.write({ kind: "batch", ops: [{ kind: "delete", key: "k1" }, { kind: "set", key: "b", value: [true] }] }));
    await g.until(() => r1.readInfo().lsn === 21, "r1 catches up");
    expect(r1.state.entries()).toStrictEqual(p1.state.entries());
    expect(r1.state.get("k1")).toBeUndefined();
    expect(r1.readInfo()).toMatchObject({ role: "replica", epoch: 1, lsn: 21, lagLsn: 0 });
  });

  it("resolves a local write with the epoch, LSN and no replicas, its value readable on the primary", async () => {
    const { p1 } = await pair();
    const receipt = await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    expect(receipt).toStrictEqual({ epoch: 1, lsn: 1, replicas: [] });
    expect(p1.state.get("a")).toBe(1);
    expect(p1.readInfo()).toMatchObject({ role: "primary", lsn: 1, lagLsn: 0, silentMs: 0 });
  });
});

describe("writes to a replica", () => {
  it("reject with ReadOnlyReplica naming the primary in details.primary", async () => {
    const { p1, r1 } = await pair();
    const error = await rejection(r1.write({ kind: "set", key: "a", value: 1 }));
    expect(error.code).toBe("ReadOnlyReplica");
    expect(error.details["primary"]).toBe(p1.id);
    expect(error.message).toContain("p1");
    expect(r1.state.size).toBe(0);
  });
});

describe("durability", () => {
  it("resolves { replicas: 1 } only once the replica holds the write, naming it in receipt.replicas", async () => {
    const { p1, r1 } = await pair();
    g.storages.get(r1.id)!.hold(); // r1's disk stalls: it receives the record but cannot make it durable
    let resolved = false;
    let replicaHeldIt: boolean | undefined;
    const write = p1.write({ kind: "set", key: "a", value: 1 }, { replicas: 1 }).then((receipt) => {
      resolved = true;
      replicaHeldIt = r1.state.get("a") === 1;
      return receipt;
    });
    await g.run(150);
    expect(resolved).toBe(false);
    expect(p1.state.get("a")).toBe(1); // durable on the primary all along
    expect(g.storages.get(r1.id)!.heldWrites).toBeGreaterThan(0);
    g.storages.get(r1.id)!.release();
    const receipt = await g.drive(write);
    expect(receipt).toMatchObject({ epoch: 1, lsn: 1, replicas: [r1.id] });
    expect(replicaHeldIt).toBe(true);
  });

  it("refuses every write with Unavailable under minReplicas while no replica is connected", async () => {
    g = new Group();
    const p1 = await g.open("p1", { role: "primary", primary: { heartbeatMs: 20, maxLagMs: 200, minReplicas: 1 } });
    const error = await rejection(p1.write({ kind: "set", key: "a", value: 1 }));
    expect(error.code).toBe("Unavailable");
    expect(error.message).toMatch(/0 replica\(s\) heard within 200 ms and minReplicas is 1/);
    expect(p1.state.size).toBe(0);
    const r1 = await g.open("r1", { role: { replicaOf: p1.id } });
    await g.until(() => p1.status().replicas.some((r) => r.id === r1.id && r.fresh), "r1 connects");
    await expect(g.drive(p1.write({ kind: "set", key: "a", value: 1 }))).resolves.toMatchObject({ lsn: 1 });
  });

  it("refuses { replicas: 1 } with Unavailable when no replica is connected", async () => {
    g = new Group();
    const p1 = await g.open("p1", { role: "primary" });
    const error = await rejection(p1.write({ kind: "set", key: "a", value: 1 }, { replicas: 1 }));
    expect(error.code).toBe("Unavailable");
    expect(error.message).toMatch(/the write asks for 1/);
  });
});

describe("waitFor", () => {
  it("resolves once the replica has applied the LSN, its value then readable there", async () => {
    const { p1, r1 } = await pair();
    g.net.cut(p1.id, r1.id);
    const receipt = await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    let seen: unknown = "not yet";
    const waited = r1.waitFor(receipt, 5_000).then(() => {
      seen = r1.state.get("a");
    });
    await g.run(300);
    expect(seen).toBe("not yet");
    g.net.heal();
    await g.drive(waited);
    expect(seen).toBe(1);
    expect(r1.readInfo().lsn).toBeGreaterThanOrEqual(receipt.lsn);
  });

  it("resolves at once for an LSN already reached", async () => {
    const { p1, r1 } = await pair();
    const receipt = await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    await g.until(() => r1.readInfo().lsn === receipt.lsn, "r1 applies");
    let done = false;
    void r1.waitFor(receipt, 1).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(true);
  });

  it("rejects with Timeout after timeoutMs when the replica does not reach the LSN", async () => {
    const { p1, r1 } = await pair();
    g.net.cut(p1.id, r1.id);
    const receipt = await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    const start = g.clock.now();
    const error = await rejection(g.drive(r1.waitFor(receipt, 250)));
    expect(error.code).toBe("Timeout");
    expect(error.details).toMatchObject({ pos: { epoch: 1, lsn: 1 }, at: 0 });
    expect(error.message).toMatch(/does not hold LSN 1 of epoch 1 after 250 ms \(it is at LSN 0, epoch 1\)/);
    expect(g.clock.now() - start).toBe(250);
  });

  it("rejects with Closed when the node closes while waiting", async () => {
    const { r1 } = await pair();
    const waiting = rejection(r1.waitFor({ epoch: asEpoch(1), lsn: asLsn(5) }, 5_000));
    await g.close(r1);
    expect((await waiting).code).toBe("Closed");
  });
});

describe("readInfo on a replica", () => {
  it("reports silentMs growing while the primary is cut off, and 0 lag again once it hears it", async () => {
    const { p1, r1 } = await pair();
    await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    await g.until(() => r1.readInfo().lsn === 1, "r1 applies");
    expect(r1.readInfo().silentMs).toBeLessThan(40);
    g.net.cut(p1.id, r1.id);
    await g.run(500);
    const cut = r1.readInfo().silentMs;
    expect(cut).toBeGreaterThanOrEqual(480);
    await g.run(500);
    expect(r1.readInfo().silentMs).toBe(cut + 500);
    // What it reports as lag is as last heard: the writes made since are unknown to it.
    await g.drive(p1.write({ kind: "set", key: "b", value: 2 }));
    expect(r1.readInfo()).toMatchObject({ lsn: 1, lagLsn: 0 });
    g.net.heal();
    await g.until(() => r1.readInfo().lsn === 2, "r1 catches up");
    expect(r1.readInfo().lagLsn).toBe(0);
    expect(r1.readInfo().silentMs).toBeLessThan(40);
  });

  it("reports lagLsn as the records it heard of but has not applied", async () => {
    const { p1, r1 } = await pair();
    g.storages.get(r1.id)!.hold(); // r1 hears every record and heartbeat, but its disk stalls
    for (let i = 0; i < 5; i++) await g.drive(p1.write({ kind: "set", key: `k${i}`, value: i }));
    await g.run(100);
    expect(r1.readInfo()).toMatchObject({ lsn: 0, lagLsn: 5 });
    expect(r1.readInfo().silentMs).toBeLessThan(40);
    g.storages.get(r1.id)!.release();
    await g.until(() => r1.readInfo().lsn === 5, "r1 applies");
    expect(r1.readInfo().lagLsn).toBe(0);
  });
});

describe("change subscriptions and observe hooks", () => {
  it("tell a replica's subscribers every change with its position (epoch, LSN), in order", async () => {
    const { p1, r1 } = await pair();
    const heard: [readonly Change[], number][] = [];
    const unsubscribe = r1.subscribe((changes, pos) => {
      expect(pos.epoch).toBe(1);
      heard.push([changes, pos.lsn]);
    });
    await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    await g.drive(p1.write({ kind: "set", key: "a", value: 1 })); // no change: not heard
    await g.drive(p1.write({ kind: "delete", key: "a" }));
    await g.until(() => r1.readInfo().lsn === 3, "r1 applies");
    expect(heard).toStrictEqual([
      [[{ key: "a", value: 1 }], 1],
      [[{ key: "a", value: undefined }], 3],
    ]);
    unsubscribe();
    await g.drive(p1.write({ kind: "set", key: "b", value: 2 }));
    await g.until(() => r1.readInfo().lsn === 4, "r1 applies");
    expect(heard).toHaveLength(2);
  });

  it("keep serving when a subscriber throws, logging it", async () => {
    const { p1 } = await pair();
    p1.subscribe(() => {
      throw new Error("listener bug");
    });
    const after: number[] = [];
    p1.subscribe((_changes, pos) => after.push(pos.lsn));
    await g.drive(p1.write({ kind: "set", key: "a", value: 1 }));
    await g.drive(p1.write({ kind: "set", key: "b", value: 2 }));
    expect(after).toStrictEqual([1, 2]);
    expect(g.events("p1", "node.listener_error").map((l) => l.fields["error"])).toStrictEqual(["listener bug", "listener bug"]);
  });

  it("observe.record hears every record once, in LSN order, on the primary and on the replica", async () => {
    g = new Group();
    const seen = new Map<string, ReplRecord[]>([
      ["p1", []],
      ["r1", []],
    ]);
    const observe = (id: string) => ({ record: (r: ReplRecord) => seen.get(id)!.push(r), install: () => undefined });
    const p1 = await g.open("p1", { role: "primary", observe: observe("p1") });
    const r1 = await g.open("r1", { role: { replicaOf: p1.id }, observe: observe("r1") });
    for (let i = 1; i <= 10; i++) void p1.write({ kind: "set", key: "k", value: i });
    await g.until(() => r1.readInfo().lsn === 10, "r1 applies");
    for (const records of seen.values()) {
      expect(records.map((r) => r.lsn)).toStrictEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }
    expect(seen.get("r1")).toStrictEqual(seen.get("p1"));
  });
});
