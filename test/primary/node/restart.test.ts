/**
 * ReplicationNodes restarted from their storage (src/primary/replication-node.ts over
 * src/primary/wal.ts): the role comes from the write-ahead log, the state from its records and
 * snapshot; a damaged log is refused with `Corrupt`; garbage from the network is dropped and
 * logged; close() settles what is pending. Virtual clock only.
 */
import { afterEach, describe, expect, it } from "vitest";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import { encodeOp } from "../../../src/kv/ops.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { encodeWalEntry } from "../../../src/primary/wal-codec.js";
import { seededRng } from "../../../src/rng.js";
import { SimDisk } from "../../../src/sim/sim-disk.js";
import { fileStorage } from "../../../src/storage/file-storage.js";
import { memoryStorage } from "../../../src/storage/memory-storage.js";
import type { Persistence } from "../../../src/storage/storage.js";
import { DOC, Group, rejection } from "./group.js";

let g: Group;

afterEach(async () => {
  await g.closeAll();
});

const set = (key: string, value: number) => ({ kind: "set" as const, key, value });
const P1 = asPeerId("p1");
const R1 = asPeerId("r1");
const peers = [P1, R1];

describe("a node restarted from its storage", () => {
  it("comes back as the primary of the same epoch with the same state, and goes on from its last LSN", async () => {
    g = new Group();
    let { p1, r1 } = await g.pair();
    for (let i = 1; i <= 5; i++) await g.drive(p1.write(set(`k${i}`, i)));
    const before = p1.state.entries();
    await g.close(p1);
    p1 = await g.open("p1", { role: "primary", peers });
    expect(p1.role).toBe("primary");
    expect(p1.status()).toMatchObject({ epoch: 1, lsn: 5, primary: "p1" });
    expect(p1.state.entries()).toStrictEqual(before);
    expect(await g.drive(p1.write(set("after", 6)))).toMatchObject({ epoch: 1, lsn: 6 });
    await g.until(() => r1.readInfo().lsn === 6, "r1 follows the restarted primary");
    expect(r1.state.entries()).toStrictEqual(p1.state.entries());
  });

  it("comes back as a primary that streams its logged records to a replica that was behind, without a snapshot", async () => {
    g = new Group();
    let { p1, r1 } = await g.pair();
    g.net.partition([[P1], [R1]]);
    for (let i = 1; i <= 5; i++) await g.drive(p1.write(set(`k${i}`, i)));
    await g.close(p1);
    g.net.heal();
    p1 = await g.open("p1", { role: "primary", peers });
    await g.until(() => r1.readInfo().lsn === 5, "r1 catches up from the restarted primary");
    expect(g.events("r1", "replica.snapshot_installed")).toStrictEqual([]);
    expect(r1.state.entries()).toStrictEqual(p1.state.entries());
  });

  it("comes back as a replica of the same primary with the same state, and catches up", async () => {
    g = new Group();
    let { p1, r1 } = await g.pair();
    for (let i = 1; i <= 5; i++) await g.drive(p1.write(set(`k${i}`, i)));
    await g.until(() => r1.readInfo().lsn === 5, "r1 catches up");
    const before = r1.state.entries();
    await g.close(r1);
    for (let i = 6; i <= 8; i++) await g.drive(p1.write(set(`k${i}`, i)));
    r1 = await g.open("r1", { role: { replicaOf: P1 }, peers });
    expect(r1.role).toBe("replica");
    expect(r1.status()).toMatchObject({ primary: "p1", lsn: 5 });
    expect(r1.state.entries()).toStrictEqual(before);
    await g.until(() => r1.readInfo().lsn === 8, "r1 catches up after its restart");
    expect(r1.state.entries()).toStrictEqual(p1.state.entries());
  });

  it("comes back as a replica when its log holds records, whatever role the options name", async () => {
    // `role` only matters on the very first start, on an empty log (ReplicationNodeOptions.role).
    g = new Group();
    let { p1, r1 } = await g.pair();
    for (let i = 1; i <= 3; i++) await g.drive(p1.write(set(`k${i}`, i)));
    await g.until(() => r1.readInfo().lsn === 3, "r1 catches up");
    await g.close(r1);
    r1 = await g.open("r1", { role: "primary", peers });
    expect(r1.role).toBe("replica");
    expect(r1.status()).toMatchObject({ primary: "p1", epoch: 1, lsn: 3 });
    expect(p1.role).toBe("primary");
  });

  it("refuses to lead a log that holds records but names no primary", async () => {
    g = new Group();
    const storage = await g.persistence(R1).open(DOC);
    for (let lsn = 1; lsn <= 2; lsn++) {
      const record = { epoch: asEpoch(1), lsn: asLsn(lsn), data: encodeOp(set(`k${lsn}`, lsn)) };
      await storage.append(encodeWalEntry({ kind: "record", record }));
    }
    await storage.close();
    const error = await rejection(g.open("r1", { role: "primary", peers }));
    expect(error.code).toBe("InvalidArgument");
    expect(error.message).toMatch(/names no primary to follow/);
  });

  it("comes back as the primary of epoch 2 after its promotion, whatever role the options name", async () => {
    g = new Group();
    let { r1 } = await g.pair();
    await g.drive(r1.promote());
    await g.drive(r1.write(set("b", 1)));
    await g.close(r1);
    r1 = await g.open("r1", { role: { replicaOf: P1 }, peers });
    expect(r1.role).toBe("primary");
    expect(r1.status()).toMatchObject({ epoch: 2, lsn: 1, primary: "r1" });
    expect(r1.state.get("b")).toBe(1);
  });

  it("comes back as a replica of the new primary after it was fenced", async () => {
    g = new Group();
    let { p1, r1 } = await g.pair();
    await g.drive(p1.write(set("a", 1)));
    await g.until(() => r1.readInfo().lsn === 1, "r1 catches up");
    await g.drive(r1.promote());
    await g.until(() => p1.role === "replica", "p1 follows r1");
    await g.close(p1);
    await g.drive(r1.write(set("b", 2)));
    p1 = await g.open("p1", { role: "primary", peers });
    expect(p1.role).toBe("replica");
    expect(p1.status()).toMatchObject({ primary: "r1", epoch: 2 });
    await g.until(() => p1.readInfo().lsn === 2, "p1 catches up with r1");
    expect(p1.state.entries()).toStrictEqual(r1.state.entries());
  });

  it("recovers the same state from a compacted log (snapshot plus records)", async () => {
    const disks = new Map<PeerId, Persistence>();
    const small = (id: PeerId): Persistence => {
      if (!disks.has(id)) disks.set(id, memoryStorage({ compactAfterBytes: 100 }));
      return disks.get(id)!;
    };
    g = new Group({ persistence: small });
    let { p1, r1 } = await g.pair();
    for (let i = 1; i <= 30; i++) await g.drive(p1.write(set(`k${i % 8}`, i)));
    await g.until(() => r1.readInfo().lsn === 30, "r1 catches up");
    await g.run(50);
    for (const id of peers) expect(g.storages.get(id)!.stats().snapshotBytes, `${id} compacted`).toBeGreaterThan(0);
    const want = p1.state.entries();
    await g.close(p1);
    await g.close(r1);
    p1 = await g.open("p1", { role: "primary", peers });
    r1 = await g.open("r1", { role: { replicaOf: P1 }, peers });
    for (const node of [p1, r1]) {
      expect(node.readInfo().lsn).toBe(30);
      expect(node.state.entries()).toStrictEqual(want);
    }
    expect([p1.role, r1.role]).toStrictEqual(["primary", "replica"]);
  });
});

describe("a damaged write-ahead log", () => {
  it("makes open() reject with Corrupt, naming the record that does not decode", async () => {
    g = new Group();
    let { p1 } = await g.pair();
    await g.drive(p1.write(set("a", 1)));
    await g.close(p1);
    const storage = await g.persistence(P1).open(DOC);
    await storage.append(Uint8Array.of(1, 0xee, 0, 0));
    await storage.close();
    const error = await rejection(g.open("p1", { role: "primary", peers }));
    expect(error.code).toBe("Corrupt");
    expect(error.message).toMatch(/write-ahead log record on disk does not decode: .*kind has the unknown tag 238/);
    expect(error.details).toMatchObject({ record: 2 });
    expect(g.nodes.has(P1)).toBe(false);
  });

  it("makes open() reject with Corrupt when a record on a file storage fails its checksum", async () => {
    const disks = new Map<PeerId, SimDisk>();
    const onDisk = (id: PeerId): Persistence => {
      if (!disks.has(id)) disks.set(id, new SimDisk({ rng: seededRng(3) }));
      return fileStorage("/data", { fs: disks.get(id)!.mount(), fsync: "always" });
    };
    g = new Group({ persistence: onDisk });
    let { p1 } = await g.pair();
    for (let i = 1; i <= 3; i++) await g.drive(p1.write(set(`k${i}`, i)));
    await g.close(p1);
    const disk = disks.get(P1)!;
    const log = [...disk.files().keys()].find((path) => path.endsWith(".log"))!;
    expect(disk.files().get(log)!.length).toBeGreaterThan(60);
    disk.damage(log, 12 + 2, 0x40); // inside the first record's payload, with records after it
    const error = await rejection(g.open("p1", { role: "primary", peers }));
    expect(error.code).toBe("Corrupt");
    expect(g.nodes.has(P1)).toBe(false);
  });
});

describe("malformed bytes on the transport", () => {
  it("are dropped and logged, and the nodes keep serving", async () => {
    g = new Group();
    const { p1, r1 } = await g.pair();
    const mallory = g.net.join(asPeerId("mallory"));
    const up = new Set<string>();
    mallory.listen({ message: () => undefined, up: (peer) => up.add(peer), down: () => undefined });
    await g.until(() => up.has("p1") && up.has("r1"), "mallory connects");
    const garbage = [Uint8Array.of(), Uint8Array.of(1), Uint8Array.of(1, 99, 0), Uint8Array.of(7, 7, 7, 7), Uint8Array.of(1, 2, 1, 0xff)];
    for (const bytes of garbage) {
      mallory.send(P1, bytes);
      mallory.send(R1, bytes);
    }
    await g.run(20);
    for (const node of ["p1", "r1"]) {
      const dropped = g.events(node, "replication.bad_message");
      expect(dropped).toHaveLength(garbage.length);
      expect(dropped.every((l) => l.fields["from"] === "mallory" && typeof l.fields["error"] === "string")).toBe(true);
    }
    expect(g.events("p1", "replication.bad_message").some((l) => /type has the unknown tag 99/.test(String(l.fields["error"])))).toBe(true);
    await g.drive(p1.write(set("still", 1), { replicas: 1 }));
    expect(r1.state.get("still")).toBe(1);
    expect([p1.status().fenced, p1.role, r1.role]).toStrictEqual([false, "primary", "replica"]);
    mallory.close();
  });
});

describe("close()", () => {
  it("rejects pending writes and later calls with Closed", async () => {
    g = new Group();
    const { p1, r1 } = await g.pair();
    g.storages.get(r1.id)!.hold();
    const pending = rejection(p1.write(set("a", 1), { replicas: 1 }));
    await g.run(50);
    await g.close(p1);
    expect((await pending).code).toBe("Closed");
    expect((await rejection(p1.write(set("b", 1)))).code).toBe("Closed");
    g.storages.get(r1.id)!.release();
  });
});
