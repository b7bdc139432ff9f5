/**
 * The lab's scenarios (src/lab/scenario.ts) and workload (src/lab/workload.ts): every named
 * scenario fits the run it is made for, custom schedules are checked field by field, and the
 * workload draws what its spec says with values that name their write.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.js";
import { seededRng } from "../../src/rng.js";
import { namedScenario, parseScenario, SCENARIOS } from "../../src/lab/scenario.js";
import { DEFAULT_WORKLOAD, planOp, resolveWorkload } from "../../src/lab/workload.js";

const shape3 = { durationMs: 20_000, nodes: 3 };
const shape5 = { durationMs: 20_000, nodes: 5 };

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConcordError(e, "InvalidArgument")) return e.message;
    throw e;
  }
  return "accepted";
}

describe("named scenarios", () => {
  it("every one schedules its steps inside the run, in order, and names only nodes of the run", () => {
    for (const shape of [shape3, shape5]) {
      for (const name of Object.keys(SCENARIOS)) {
        const s = namedScenario(name, shape);
        expect(s.steps.length).toBeGreaterThan(0);
        const nodes = new Set(["leader", ...Array.from({ length: shape.nodes }, (_, i) => `n${i + 1}`)]);
        for (const step of s.steps) {
          expect([name, step.at >= 0 && step.at < shape.durationMs && Number.isInteger(step.at)]).toEqual([name, true]);
          const named = "node" in step ? [step.node] : "groups" in step ? step.groups.flat() : "from" in step ? [step.from, ...step.to] : [];
          for (const n of named) expect([name, nodes.has(n)]).toEqual([name, true]);
        }
        expect(s.steps.map((x) => x.at)).toEqual([...s.steps.map((x) => x.at)].sort((a, b) => a - b));
      }
    }
  });

  it("a partition puts a strict majority with n1 and the rest apart, then heals", () => {
    expect(namedScenario("partition", shape3).steps).toEqual([
      { at: 5_000, kind: "partition", groups: [["n1", "n2"], ["n3"]] },
      { at: 13_000, kind: "heal" },
    ]);
    expect(namedScenario("partition", shape5).steps[0]).toMatchObject({ groups: [["n1", "n2", "n3"], ["n4", "n5"]] });
  });

  it("rolling restarts take each node down once, one at a time", () => {
    const steps = namedScenario("rolling-restarts", shape3).steps;
    expect(steps.map((s) => `${s.kind} ${"node" in s ? s.node : ""}`)).toEqual(["crash n1", "restart n1", "crash n2", "restart n2", "crash n3", "restart n3"]);
  });

  it("an unknown name is refused with the names there are", () => {
    expect(refusal(() => namedScenario("toString", shape3))).toMatch(/unknown scenario "toString": use one of partition, /);
  });
});

describe("custom scenarios", () => {
  it("takes every kind of step, fills defaults and sorts by time", () => {
    const s = parseScenario(
      {
        summary: "mine",
        events: [
          { at: 9_000, kind: "heal" },
          { at: 1_000, kind: "flaky", loss: 0.1 },
          { at: 2_000, kind: "one-way", from: "n1", to: ["n2", "leader"] },
          { at: 3_000, kind: "isolate", node: "leader" },
          { at: 4_000, kind: "partition", groups: [["n1"], ["n2", "n3"]] },
          { at: 5_000, kind: "pause", node: "n2" },
        ],
      },
      "mine.json",
      shape3,
    );
    expect(s.summary).toBe("mine");
    expect(s.steps.map((x) => x.kind)).toEqual(["flaky", "one-way", "isolate", "partition", "pause", "heal"]);
    expect(s.steps[0]).toEqual({ at: 1_000, kind: "flaky", loss: 0.1, duplicate: 0, maxDelayMs: 0 });
  });

  it("refuses each bad field, naming it", () => {
    const cases: [unknown, RegExp][] = [
      [[], /the file must hold an object/],
      [{ events: [] }, /events must be a non-empty array/],
      [{ summary: 3, events: [{ at: 0, kind: "heal" }] }, /summary must be a string/],
      [{ events: [7] }, /events\[0\] is not an object/],
      [{ events: [{ at: -1, kind: "heal" }] }, /events\[0\]\.at must be a time in ms within the run \(0 to 19999\), got -1/],
      [{ events: [{ at: 20_000, kind: "heal" }] }, /events\[0\]\.at must be a time/],
      [{ events: [{ at: 0, kind: "explode" }] }, /events\[0\]\.kind must be one of partition, isolate, one-way/],
      [{ events: [{ at: 0, kind: "crash", node: "n4" }] }, /events\[0\]\.node must be one of n1, n2, n3, leader, got "n4"/],
      [{ events: [{ at: 0, kind: "partition", groups: [["n1"]] }] }, /groups must be an array of at least two groups/],
      [{ events: [{ at: 0, kind: "partition", groups: [["n1"], []] }] }, /groups\[1\] must be a non-empty array of nodes/],
      [{ events: [{ at: 0, kind: "one-way", from: "n1", to: "n2" }] }, /events\[0\]\.to must be a non-empty array/],
      [{ events: [{ at: 0, kind: "flaky", loss: 2 }] }, /events\[0\]\.loss must be a number from 0 to 1, got 2/],
      [{ events: [{ at: 0, kind: "flaky", maxDelayMs: -5 }] }, /maxDelayMs must be a number of ms >= 0/],
    ];
    for (const [json, message] of cases) expect([json, refusal(() => parseScenario(json, "s.json", shape3))]).toEqual([json, expect.stringMatching(message)]);
  });
});

describe("the workload", () => {
  it("fills defaults and refuses each bad field", () => {
    expect(resolveWorkload()).toEqual(DEFAULT_WORKLOAD);
    for (const [spec, message] of [
      [{ clientsPerNode: 0 }, /clientsPerNode must be an integer from 1 to 50, got 0/],
      [{ readRatio: 1.2 }, /readRatio must be a number from 0 to 1/],
      [{ keys: 0 }, /keys must be an integer from 1 to 10000/],
      [{ conflict: -0.1 }, /conflict must be a number from 0 to 1/],
      [{ valueBytes: 0 }, /valueBytes must be an integer from 1 to 65536/],
      [{ thinkMs: 1.5 }, /thinkMs must be an integer of ms/],
    ] as const) {
      expect(refusal(() => resolveWorkload(spec))).toMatch(message);
    }
  });

  it("draws reads and writes in the ratio asked, on shared keys as often as asked, with unique padded values", () => {
    const spec = resolveWorkload({ readRatio: 0.25, conflict: 0.75, keys: 4, valueBytes: 12 });
    const rng = seededRng(5);
    const ops = Array.from({ length: 4_000 }, (_, i) => planOp(spec, rng, "c1.1", i + 1));
    const reads = ops.filter((o) => o.kind === "get").length / ops.length;
    const shared = ops.filter((o) => /^k\d$/.test(o.key)).length / ops.length;
    expect(Math.abs(reads - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(shared - 0.75)).toBeLessThan(0.03);
    expect(new Set(ops.filter((o) => /^k\d$/.test(o.key)).map((o) => o.key))).toEqual(new Set(["k0", "k1", "k2", "k3"]));
    expect(new Set(ops.filter((o) => !/^k\d$/.test(o.key)).map((o) => o.key))).toEqual(new Set(["c1.1/k0", "c1.1/k1"]));
    const values = ops.flatMap((o) => (o.kind === "set" ? [o.value] : []));
    expect(new Set(values).size).toBe(values.length);
    expect(values.every((v) => v.length >= 12 && v.startsWith("c1.1."))).toBe(true);
    expect(planOp(resolveWorkload({ readRatio: 0, valueBytes: 1 }), seededRng(1), "c", 7)).toMatchObject({ kind: "set", value: "c.7" });
  });
});
