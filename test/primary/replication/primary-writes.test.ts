import { describe, expect, it } from "vitest";
import { InvariantError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { asEpoch, asLsn, type PrimaryDurability } from "../../../src/primary/replication/types.js";
import { bytes, hist, ofType, World } from "./world.js";

const r1 = asPeerId("r1");

describe("primary: writes", () => {
  it("a write gets the next LSN in the primary's epoch and is handed out to persist", () => {
    const w = new World({ manualDisk: true });
    const p = w.primary();
    expect(p.core.write(bytes("a"), "local", 0)).toEqual({ ok: true, epoch: 1, lsn: 1 });
    expect(p.core.write(bytes("b"), "local", 0)).toEqual({ ok: true, epoch: 1, lsn: 2 });
    const out = p.core.output();
    expect(out.persist.map((r) => [r.epoch, r.lsn])).toEqual([
      [1, 1],
      [1, 2],
    ]);
    expect(p.core.status(0)).toMatchObject({ lastLsn: 2, durableLsn: 0 });
  });

  it.each<[string, unknown]>([
    ["negative replicas", { replicas: -1 }],
    ["fractional replicas", { replicas: 1.5 }],
    ["replicas that are not a number", { replicas: "2" }],
    ["an unknown durability", "remote"],
    ["null", null],
  ])("a write asking for %s is refused as invalid", (_name, durability) => {
    const w = new World();
    const result = w.primary().core.write(bytes("x"), durability as PrimaryDurability, 0);
    expect(result).toMatchObject({ ok: false, reason: "invalid" });
    expect(w.primary().core.status(0).lastLsn).toBe(0);
  });

  it("a write is refused as unavailable while fewer replicas than minReplicas are fresh", () => {
    const w = new World({ replicas: ["r1"], primaryConfig: { minReplicas: 1 } });
    const refused = w.write("x");
    expect(refused).toMatchObject({ ok: false, reason: "unavailable" });
    expect(refused.ok ? "" : refused.detail).toMatch(/minReplicas is 1/);
    w.connectAll();
    w.settle();
    expect(w.write("x")).toMatchObject({ ok: true });
  });

  it("a replica not heard within maxLagMs stops counting as fresh", () => {
    const w = new World({ replicas: ["r1"], primaryConfig: { minReplicas: 1, maxLagMs: 500 } });
    w.connectAll();
    w.settle();
    w.now += 500;
    expect(w.write("x")).toMatchObject({ ok: true });
    w.now += 1;
    expect(w.write("y")).toMatchObject({ ok: false, reason: "unavailable" });
  });

  it("a { replicas: n } write is refused when fewer than n replicas are fresh, never downgraded", () => {
    const w = new World({ replicas: ["r1", "r2"] });
    w.connectAll();
    w.settle((e) => e.from === "r2"); // r2's hello is lost
    const refused = w.write("x", { replicas: 2 });
    expect(refused).toMatchObject({ ok: false, reason: "unavailable" });
    expect(refused.ok ? "" : refused.detail).toMatch(/asks for 2/);
    expect(w.primary().core.status(w.now).lastLsn).toBe(0);
    expect(w.write("y", { replicas: 1 })).toMatchObject({ ok: true, lsn: 1 });
  });

  it("a replica heard only in an older epoch is not fresh", () => {
    const w = new World({ primaryConfig: { epoch: asEpoch(2), history: hist([1, "old", 1], [2, "p", 1]), minReplicas: 1 } });
    w.primary().core.step(r1, { type: "hello", epoch: asEpoch(1), history: hist([1, "old", 1]), last: { epoch: asEpoch(0), lsn: asLsn(0) } }, 0);
    expect(w.primary().core.status(0).replicas).toMatchObject([{ id: "r1", fresh: false }]);
    expect(w.write("x")).toMatchObject({ ok: false, reason: "unavailable" });
  });

  it("persisted beyond the last assigned LSN is an invariant error", () => {
    const w = new World();
    expect(() => w.primary().core.persisted(asLsn(1), 0)).toThrow(InvariantError);
  });
});

describe("primary: resolving writes", () => {
  it("a local write resolves once the primary persisted it, with no replicas", () => {
    const w = new World({ replicas: ["r1"], manualDisk: true });
    w.write("a");
    w.write("b");
    expect(w.primary().done).toEqual([]);
    w.flushDisk("p");
    expect(w.primary().done).toEqual([
      { lsn: 1, replicas: [] },
      { lsn: 2, replicas: [] },
    ]);
  });

  it("a { replicas: n } write resolves only once the primary persisted it and n replicas acked it", () => {
    const w = new World({ replicas: ["r1", "r2"], manualDisk: true });
    w.connectAll();
    w.settle();
    expect(w.write("a", { replicas: 2 })).toMatchObject({ ok: true, lsn: 1 });
    w.flushDisk("p");
    w.settle();
    expect(w.primary().done).toEqual([]); // shipped, not yet durable on the replicas
    w.flushDisk("r1");
    w.settle();
    expect(w.primary().done).toEqual([]); // one of two
    w.flushDisk("r2");
    w.settle();
    expect(w.primary().done).toEqual([{ lsn: 1, replicas: ["r1", "r2"] }]);
  });

  it("an ack for records the primary has not persisted is dropped and resolves nothing", () => {
    const w = new World({ replicas: ["r1"], manualDisk: true });
    w.connectAll();
    w.settle();
    w.write("a", { replicas: 1 });
    w.primary().core.step(r1, { type: "ack", epoch: asEpoch(1), received: asLsn(1), applied: asLsn(1), gap: false }, w.now);
    w.drain(w.primary());
    expect(w.primary().done).toEqual([]);
    expect(w.primary().core.status(w.now).dropped).toBe(1);
  });

  it("a local write does not wait behind an earlier { replicas: n } write, and each batch is in LSN order", () => {
    const w = new World({ replicas: ["r1"], manualDisk: true });
    w.connectAll();
    w.settle();
    w.write("a", { replicas: 1 });
    w.write("b", "local");
    w.write("c", { replicas: 1 });
    w.write("d", "local");
    w.flushDisk("p");
    expect(w.primary().done.map((d) => d.lsn)).toEqual([2, 4]);
    w.settle();
    w.flushDisk("r1");
    w.settle();
    expect(w.primary().done.map((d) => d.lsn)).toEqual([2, 4, 1, 3]);
  });

  it("{ replicas: n } writes resolve in LSN order, each naming the replicas that hold it", () => {
    const w = new World({ replicas: ["r1", "r2"] });
    w.connectAll();
    w.settle();
    w.write("a", { replicas: 1 });
    w.write("b", { replicas: 1 });
    w.settle((e) => e.to === "r2" && e.msg.type === "records");
    expect(w.primary().done).toEqual([
      { lsn: 1, replicas: ["r1"] },
      { lsn: 2, replicas: ["r1"] },
    ]);
  });

  it("writes resolved by the same ack come out in LSN order", () => {
    const w = new World();
    const p = w.primary();
    const r2 = asPeerId("r2");
    for (const id of [r1, r2]) p.core.step(id, { type: "hello", epoch: asEpoch(1), history: hist([1, "p", 1]), last: { epoch: asEpoch(0), lsn: asLsn(0) } }, 0);
    w.write("a", { replicas: 1 });
    w.write("b", { replicas: 2 });
    w.write("c", { replicas: 1 });
    const ack = (received: number) => ({ type: "ack", epoch: asEpoch(1), received: asLsn(received), applied: asLsn(0), gap: false }) as const;
    p.core.step(r2, ack(2), 0);
    expect(p.core.output().done.map((d) => d.lsn)).toEqual([1]);
    p.core.step(r1, ack(3), 0); // resolves 3 (one holder) and 2 (two holders) at once
    expect(p.core.output().done.map((d) => d.lsn)).toEqual([2, 3]);
  });

  it("{ replicas: 0 } resolves like local once persisted", () => {
    const w = new World({ manualDisk: true });
    expect(w.write("a", { replicas: 0 })).toMatchObject({ ok: true });
    w.flushDisk("p");
    expect(w.primary().done).toEqual([{ lsn: 1, replicas: [] }]);
  });

  it("a write done at { replicas: n } was shipped in a records message before", () => {
    const w = new World({ replicas: ["r1"] });
    w.connectAll();
    w.settle();
    w.write("a", { replicas: 1 });
    w.settle();
    expect(ofType(w.delivered, "records").flatMap((e) => e.msg.records.map((r) => r.lsn))).toEqual([1]);
    expect(w.primary().done).toEqual([{ lsn: 1, replicas: ["r1"] }]);
  });
});
