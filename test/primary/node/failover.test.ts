/**
 * Failover of ReplicationNodes (src/primary/replication-node.ts): promote() makes a replica the
 * primary of a new epoch; the old primary, fenced when it hears of it, refuses writes, follows the
 * new primary, discards what the new primary never had and converges. Virtual clock only.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Change } from "../../../src/store.js";
import { Group, rejection } from "./group.js";

let g: Group;

afterEach(async () => {
  await g.closeAll();
});

const set = (key: string, value: number) => ({ kind: "set" as const, key, value });

/** p1 and r1 in step after `n` writes at p1. */
async function inStep(n: number) {
  g = new Group();
  const { p1, r1 } = await g.pair();
  for (let i = 1; i <= n; i++) await g.drive(p1.write(set(`a${i}`, i)));
  await g.until(() => r1.readInfo().lsn === n, "r1 catches up");
  return { p1, r1 };
}

describe("promote()", () => {
  it("makes the replica the primary of epoch 2 from everything it holds", async () => {
    const { r1 } = await inStep(3);
    const result = await g.drive(r1.promote());
    expect(result).toStrictEqual({ epoch: 2, lsn: 3 });
    expect(r1.role).toBe("primary");
    expect(r1.status()).toMatchObject({ primary: "r1", epoch: 2, lsn: 3, fenced: false });
    const receipt = await g.drive(r1.write(set("b", 1)));
    expect(receipt).toMatchObject({ epoch: 2, lsn: 4 });
  });

  it("reports positions by the epoch that wrote the record, so a session's position survives the promotion", async () => {
    const { p1, r1 } = await inStep(3);
    const before = p1.readInfo().position;
    expect(before).toStrictEqual({ epoch: 1, lsn: 3 });
    await g.drive(r1.promote());
    // r1 now leads epoch 2 but its state is still at epoch 1's record 3.
    expect(r1.readInfo()).toMatchObject({ epoch: 2, lsn: 3, position: { epoch: 1, lsn: 3 } });
    expect(r1.holds(before)).toBe(true);
    await g.drive(r1.waitFor(before, 10));
    await g.drive(r1.write(set("b", 1)));
    expect(r1.readInfo().position).toStrictEqual({ epoch: 2, lsn: 4 });
  });

  it("refuses to promote the primary", async () => {
    const { p1 } = await inStep(1);
    const error = await rejection(p1.promote());
    expect(error.code).toBe("InvalidArgument");
    expect(p1.role).toBe("primary");
  });

  it("turns the old primary into a replica of the new one once it hears the notice", async () => {
    const { p1, r1 } = await inStep(3);
    await g.drive(r1.promote());
    await g.until(() => p1.role === "replica", "p1 follows r1");
    expect(p1.status()).toMatchObject({ role: "replica", primary: "r1", epoch: 2, discarded: 0 });
    expect(g.events("p1", "node.fenced")).toHaveLength(1);
    await g.until(() => r1.status().replicas.some((r) => r.id === p1.id && r.fresh), "p1 connects to r1 as its replica");
    const receipt = await g.drive(r1.write(set("b", 1), { replicas: 1 }));
    expect(receipt.replicas).toStrictEqual([p1.id]);
    expect(p1.state.entries()).toStrictEqual(r1.state.entries());
  });
});

describe("the fenced old primary", () => {
  it("rejects a write still waiting for its replicas with Fenced when it hears of epoch 2", async () => {
    const { p1, r1 } = await inStep(1);
    g.net.partition([[p1.id], [r1.id]]);
    // r1 was heard within maxLagMs: the write is accepted, and waits for an ack that cannot come.
    const waiting = rejection(p1.write(set("lost?", 1), { replicas: 1 }));
    await g.run(100);
    await g.drive(r1.promote());
    g.net.heal();
    const error = await g.drive(waiting);
    expect(error.code).toBe("Fenced");
    expect(error.details).toMatchObject({ primary: "r1", epoch: 2, lsn: 2 });
    expect(error.message).toMatch(/may or may not survive/);
  });

  it("refuses new writes with Fenced, naming the new primary, while it switches to follow it", async () => {
    const { p1, r1 } = await inStep(1);
    g.net.partition([[p1.id], [r1.id]]);
    await g.drive(r1.promote());
    g.storages.get(p1.id)!.hold(); // p1's disk stalls: it cannot log the new epoch yet
    g.net.heal();
    await g.until(() => g.events("p1", "node.fenced").length === 1, "p1 hears of epoch 2");
    const fenced = await rejection(p1.write(set("b", 1)));
    expect(fenced.code).toBe("Fenced");
    expect(fenced.details).toMatchObject({ primary: "r1", epoch: 2 });
    g.storages.get(p1.id)!.release();
    await g.until(() => p1.role === "replica", "p1 follows r1");
    const readOnly = await rejection(p1.write(set("b", 1)));
    expect(readOnly.code).toBe("ReadOnlyReplica");
    expect(readOnly.details["primary"]).toBe("r1");
  });

  it("reports itself fenced in status() from the notice until it follows the new primary", async () => {
    const { p1, r1 } = await inStep(1);
    g.net.partition([[p1.id], [r1.id]]);
    await g.drive(r1.promote());
    expect(p1.status().fenced).toBe(false);
    g.storages.get(p1.id)!.hold(); // p1's disk stalls: it cannot log the new epoch yet
    g.net.heal();
    await g.until(() => g.events("p1", "node.fenced").length === 1, "p1 hears of epoch 2");
    expect(p1.status()).toMatchObject({ role: "primary", fenced: true });
    g.storages.get(p1.id)!.release();
    await g.until(() => p1.role === "replica", "p1 follows r1");
    expect(p1.status()).toMatchObject({ role: "replica", primary: "r1", fenced: false });
  });

  it("discards the writes the new primary never had, counts them in status().discarded, and converges", async () => {
    g = new Group();
    const { p1, r1 } = await g.pair();
    await g.drive(p1.write(set("both", 1)));
    await g.until(() => r1.readInfo().lsn === 1, "r1 catches up");
    g.net.partition([[p1.id], [r1.id]]);
    for (let i = 1; i <= 4; i++) await g.drive(p1.write(set(`old${i}`, i))); // LSNs 2..5, only on p1
    await g.drive(r1.promote());
    for (let i = 1; i <= 2; i++) await g.drive(r1.write(set(`new${i}`, i))); // LSNs 2..3 of epoch 2
    expect(p1.readInfo().lsn).toBe(5);
    g.net.heal();
    await g.until(() => p1.role === "replica" && p1.readInfo().lsn === 3, "p1 converges");
    expect(p1.status().discarded).toBe(4);
    expect(p1.state.entries()).toStrictEqual(r1.state.entries());
    expect(p1.state.get("old1")).toBeUndefined();
    expect(p1.state.get("new2")).toBe(2);
    expect(g.events("p1", "replica.snapshot_installed").map((l) => l.fields["discarded"])).toStrictEqual([4]);
  });

  it("tells its subscribers the changes a snapshot install makes to its state", async () => {
    g = new Group();
    const { p1, r1 } = await g.pair();
    await g.drive(p1.write(set("both", 1)));
    await g.until(() => r1.readInfo().lsn === 1, "r1 catches up");
    g.net.partition([[p1.id], [r1.id]]);
    await g.drive(p1.write(set("old", 1)));
    await g.drive(r1.promote());
    await g.drive(r1.write(set("new", 2)));
    const heard: Change[] = [];
    p1.subscribe((changes) => heard.push(...changes));
    g.net.heal();
    await g.until(() => g.events("p1", "replica.snapshot_installed").length === 1, "p1 installs r1's state");
    expect(p1.state.entries()).toStrictEqual([
      ["both", 1],
      ["new", 2],
    ]);
    // A subscriber mirroring the state must hear that "old" went and "new" came.
    expect(heard).toEqual(expect.arrayContaining([{ key: "old", value: undefined }, { key: "new", value: 2 }]));
  });
});
