/**
 * The lab's figures (src/lab/metrics.ts) on histories built by hand, where the answer is known,
 * and a property: a history of one register that applies every operation at an instant inside
 * its call (linearizable by construction) has no stale read and no lost write, whatever the
 * overlap of its operations.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LabOp, LabRun } from "../../src/lab/lab-history.js";
import { toHistory } from "../../src/lab/lab-history.js";
import { measure, percentiles } from "../../src/lab/metrics.js";
import { checkProperty } from "../property/prop.js";

let seq = 0;
function op(o: Partial<LabOp> & Pick<LabOp, "kind" | "call">): LabOp {
  return { client: `c${seq++}`, node: "n1", key: "k", return: o.call + 1, outcome: "ok", duringFault: false, side: "", ...o };
}
const set = (value: string, call: number, ret: number | null, more: Partial<LabOp> = {}): LabOp =>
  op({ kind: "set", value, call, return: ret, outcome: ret === null ? "unknown" : "ok", ...more });
const get = (value: string | null, call: number, ret: number, more: Partial<LabOp> = {}): LabOp => op({ kind: "get", value, call, return: ret, ...more });

function run(ops: LabOp[], final: Record<string, string | null>, more: Partial<LabRun> = {}): LabRun {
  return { mode: "test", nodes: ["n1"], ops, samples: [], events: [], fault: null, end: 100, convergeMs: 0, checkpoint: null, final: new Map(Object.entries(final)), ...more };
}

describe("stale reads", () => {
  it("a read of a value overwritten before it began is stale, aged from the overwrite's answer", () => {
    const m = measure(run([set("v1", 0, 10), set("v2", 20, 30), get("v1", 45, 46), get("v1", 25, 26), get("v2", 50, 51)], { k: "v2" }));
    expect(m.staleReads).toEqual({ count: 1, reads: 3, maxAgeMs: 15, p50AgeMs: 15 });
  });

  it("reading absent after a write was answered is stale; reading a write still in flight is not", () => {
    const m = measure(run([set("v1", 0, 10), get(null, 40, 41), set("v2", 50, 70), get("v1", 60, 61)], { k: "v2" }));
    expect(m.staleReads).toMatchObject({ count: 1, maxAgeMs: 30 });
  });

  it("a value whose write overlapped the overwrite is not stale: either order was possible", () => {
    const m = measure(run([set("v1", 0, 30), set("v2", 10, 20), get("v1", 40, 41)], { k: "v1" }));
    expect(m.staleReads.count).toBe(0);
  });
});

describe("lost and merged writes", () => {
  it("an acknowledged write whose key ends with a value written before it is lost", () => {
    const m = measure(run([set("v1", 0, 10), set("v2", 20, 30), set("v3", 40, null)], { k: "v1" }));
    expect(m.lostWrites).toEqual({ count: 1, examples: ["v2"] });
    expect(m.mergedOver).toBe(0);
  });

  it("a key that ends absent lost every acknowledged write", () => {
    expect(measure(run([set("v1", 0, 10), set("v2", 20, 30)], {})).lostWrites.count).toBe(2);
  });

  it("in a merging mode, a later write that reached the final state but lost to an earlier one is overwritten by a merge, not lost", () => {
    const ops = [set("v1", 0, 10), set("v2", 20, 30), set("v3", 40, 50)];
    const m = measure(run(ops, { k: "v1" }, { delivered: new Set(["v1", "v2"]) }));
    expect([m.mergedOver, m.lostWrites.examples]).toEqual([1, ["v3"]]);
  });

  it("writes answered before the fault ended are judged against the state the sides merged into, later ones against the final state", () => {
    const ops = [set("v1", 0, 10), set("v2", 20, 30), set("v3", 60, 70)];
    const checkpoint = { at: 55, state: new Map([["k", "v1"]]), delivered: new Set(["v1", "v2"]) };
    const m = measure(run(ops, { k: "v3" }, { fault: { start: 5, end: 50 }, checkpoint, delivered: new Set(["v1", "v2", "v3"]) }));
    expect([m.mergedOver, m.lostWrites.count]).toEqual([1, 0]);
    const lost = measure(run(ops, { k: "v3" }, { fault: { start: 5, end: 50 }, checkpoint: { at: 55, state: new Map([["k", "v1"]]) } }));
    expect(lost.lostWrites.examples).toEqual(["v2"]);
  });

  it("concurrent writes may end either way: neither is lost", () => {
    const m = measure(run([set("v1", 0, 30), set("v2", 10, 20)], { k: "v1" }));
    expect([m.lostWrites.count, m.mergedOver]).toEqual([0, 0]);
  });
});

describe("availability, latency and the time line", () => {
  it("counts successes in and out of the fault, per side and per kind", () => {
    const ops = [
      set("a", 0, 5),
      get("a", 10, 12, { duringFault: true, side: "n1,n2" }),
      set("b", 14, 20, { duringFault: true, side: "n1,n2" }),
      op({ kind: "get", call: 11, return: 13, outcome: "failed", error: "Unavailable", duringFault: true, side: "n3" }),
      op({ kind: "set", value: "c", call: 12, return: 15, outcome: "failed", error: "Unavailable", duringFault: true, side: "n3" }),
      set("d", 16, null, { duringFault: true, side: "n3" }),
      get("b", 90, 99),
    ];
    const m = measure(run(ops, { k: "b" }, { fault: { start: 10, end: 30 } }));
    expect(m.ops).toEqual({ total: 7, ok: 4, failed: 2, unknown: 1 });
    expect(m.availability.outside).toEqual({ ok: 2, of: 2 });
    expect(m.availability.during).toEqual({ ok: 2, of: 5 });
    expect(m.availability.bySide).toEqual([
      { side: "n1,n2", during: { ok: 2, of: 2 }, reads: { ok: 1, of: 1 }, writes: { ok: 1, of: 1 } },
      { side: "n3", during: { ok: 0, of: 3 }, reads: { ok: 0, of: 1 }, writes: { ok: 0, of: 2 } },
    ]);
    expect(m.latencyMs.writes).toEqual({ count: 2, p50: 5, p90: 6, p99: 6, max: 6 });
    expect(m.latencyMs.reads).toEqual({ count: 2, p50: 2, p90: 9, p99: 9, max: 9 });
    expect(m.series.binMs).toBe(2);
    expect(m.series.bins).toHaveLength(50);
    expect(m.series.bins[5]).toEqual({ at: 10, ok: 1, failed: 1, unknown: 0, stale: 0 });
    expect(m.series.bins[6]).toEqual({ at: 12, ok: 0, failed: 1, unknown: 0, stale: 0 });
  });

  it("nearest-rank percentiles", () => {
    expect(percentiles([])).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, max: 0 });
    expect(percentiles([5, 1, 4, 2, 3, 10, 9, 8, 7, 6])).toEqual({ count: 10, p50: 5, p90: 9, p99: 10, max: 10 });
  });

  it("divergence is the largest over the samples; convergence comes from the run", () => {
    const samples = [0, 3, 1].map((d, i) => ({ at: i, roles: [], partition: [], divergentKeys: d }));
    const m = measure(run([], {}, { samples, convergeMs: 42 }));
    expect([m.maxDivergentKeys, m.convergeMs]).toEqual([3, 42]);
  });
});

describe("the checker's view", () => {
  it("failed operations did nothing; unknown writes may have", () => {
    const h = toHistory([set("v1", 0, null), op({ kind: "get", call: 1, outcome: "failed" }), op({ kind: "set", value: "x", call: 2, outcome: "failed" }), get(null, 3, 4)]);
    expect(h.map((o) => [o.input.kind, o.output.kind, o.return])).toEqual([
      ["set", "unknown", null],
      ["get", "value", 4],
    ]);
  });

  it("a stale read makes the history non-linearizable, with the read in the counterexample", () => {
    const m = measure(run([set("v1", 0, 10), set("v2", 20, 30), get("v1", 45, 46)], { k: "v2" }));
    expect(m.linearizable.verdict).toBe("violation");
    expect(m.linearizable.counterexample?.some((o) => o.input.kind === "get")).toBe(true);
  });
});

describe("property: a linearizable register history", () => {
  it("has no stale read, no lost write and passes the checker", async () => {
    // Each operation: [call offset, effect delay, return delay, is a write]. Applied in effect order.
    const opArb = fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 10 }), fc.boolean());
    await checkProperty(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), (spec) => {
        let t = 0;
        const planned = spec.map(([gap, effect, ret, write], i) => {
          t += gap;
          return { i, call: t, at: t + effect + i / 100, ret: t + effect + ret + i / 100, write };
        });
        let value: string | null = null;
        const ops: LabOp[] = [];
        for (const p of [...planned].sort((a, b) => a.at - b.at)) {
          if (p.write) {
            value = `v${p.i}`;
            ops.push({ client: `c${p.i}`, node: "n1", kind: "set", key: "k", value, call: p.call, return: p.ret, outcome: "ok", duringFault: false, side: "" });
          } else {
            ops.push({ client: `c${p.i}`, node: "n1", kind: "get", key: "k", value, call: p.call, return: p.ret, outcome: "ok", duringFault: false, side: "" });
          }
        }
        const m = measure(run(ops, { k: value }));
        expect([m.staleReads.count, m.lostWrites.count, m.linearizable.verdict]).toEqual([0, 0, "ok"]);
      }),
    );
  });
});
