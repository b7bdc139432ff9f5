/**
 * The lab's fault scenarios: each a schedule of fault events on the run's clock, the same for
 * every mode. Nodes are named `n1`..`nN`, or `leader`: the node that leads writes (the Raft
 * leader, the primary; `n1` in `eventual` mode) when the scenario first names it, the same node
 * for the rest of the run (so "pause the leader" and "resume the leader" are one node).
 *
 * A custom scenario is a JSON file `{ "events": [...] }` of the same events (see {@link FaultStep});
 * {@link parseScenario} refuses anything else with an `InvalidArgument` naming the field.
 */
import { ConcordError } from "../errors.js";

/** A node of the run: `n1`..`nN`, or `leader`. */
export type NodeRef = string;

/** One fault event; `at` in ms from the start of the run. */
export type FaultStep =
  /** Splits the network: nodes in different groups cannot talk (a node in no group is alone). */
  | { readonly at: number; readonly kind: "partition"; readonly groups: readonly (readonly NodeRef[])[] }
  /** `node` (with the clients that talk to it) is cut off from every other node. */
  | { readonly at: number; readonly kind: "isolate"; readonly node: NodeRef }
  /** Messages from `from` to each of `to` are dropped; the other direction still works. */
  | { readonly at: number; readonly kind: "one-way"; readonly from: NodeRef; readonly to: readonly NodeRef[] }
  /** The network is whole and reliable again. */
  | { readonly at: number; readonly kind: "heal" }
  /** Power cut: what was not synced is lost; the node is down until restarted. */
  | { readonly at: number; readonly kind: "crash"; readonly node: NodeRef }
  | { readonly at: number; readonly kind: "restart"; readonly node: NodeRef }
  /** The process freezes (timers and messages held) and later wakes up believing what it believed. */
  | { readonly at: number; readonly kind: "pause"; readonly node: NodeRef }
  | { readonly at: number; readonly kind: "resume"; readonly node: NodeRef }
  /** Every link loses, duplicates and delays messages (long tails) until `heal`. */
  | { readonly at: number; readonly kind: "flaky"; readonly loss: number; readonly duplicate: number; readonly maxDelayMs: number };

export interface Scenario {
  readonly name: string;
  /** What it shows, in one line (for `--help` and the report). */
  readonly summary: string;
  readonly steps: readonly FaultStep[];
}

/** Shape of a run: its length and the number of nodes. */
export interface RunShape {
  readonly durationMs: number;
  readonly nodes: number;
}

const node = (i: number): NodeRef => `n${i + 1}`;
const range = (from: number, to: number): NodeRef[] => Array.from({ length: to - from }, (_, i) => node(from + i));

/** The named scenarios: a line each, and the schedule for a run of `shape`. */
export const SCENARIOS: Readonly<Record<string, { readonly summary: string; readonly steps: (s: RunShape) => FaultStep[] }>> = {
  partition: {
    summary: "a minority of the nodes is cut off from the majority (the leader stays with the majority), then the network heals",
    steps: ({ durationMs: d, nodes: n }) => {
      const majority = Math.floor(n / 2) + 1;
      return [
        { at: d * 0.25, kind: "partition", groups: [range(0, majority), range(majority, n)] },
        { at: d * 0.65, kind: "heal" },
      ];
    },
  },
  "leader-isolated": {
    summary: "the node that leads writes is cut off from every other node, then the network heals",
    steps: ({ durationMs: d }) => [
      { at: d * 0.25, kind: "isolate", node: "leader" },
      { at: d * 0.65, kind: "heal" },
    ],
  },
  "leader-crash": {
    summary: "the node that leads writes loses power, then restarts from its disk",
    steps: ({ durationMs: d }) => [
      { at: d * 0.25, kind: "crash", node: "leader" },
      { at: d * 0.55, kind: "restart", node: "leader" },
    ],
  },
  flaky: {
    summary: "every link loses 20% of messages, duplicates 10% and delays some by up to a second, then recovers",
    steps: ({ durationMs: d }) => [
      { at: d * 0.25, kind: "flaky", loss: 0.2, duplicate: 0.1, maxDelayMs: 1_000 },
      { at: d * 0.65, kind: "heal" },
    ],
  },
  pause: {
    summary: "the node that leads writes freezes (a long GC, a stopped VM), the others move on, and it wakes up believing it still leads",
    steps: ({ durationMs: d }) => [
      { at: d * 0.25, kind: "pause", node: "leader" },
      { at: d * 0.6, kind: "resume", node: "leader" },
    ],
  },
  asymmetric: {
    summary: "the node that leads writes can still send to the others but hears nothing back, then the network heals",
    steps: ({ durationMs: d, nodes: n }) => [
      ...range(0, n).map((x): FaultStep => ({ at: d * 0.25, kind: "one-way", from: x, to: ["leader"] })),
      { at: d * 0.65, kind: "heal" },
    ],
  },
  "rolling-restarts": {
    summary: "every node in turn loses power and restarts from its disk, one at a time",
    steps: ({ durationMs: d, nodes: n }) =>
      range(0, n).flatMap((x, i): FaultStep[] => {
        const slot = (d * 0.5) / n;
        const at = d * 0.2 + i * slot;
        return [
          { at, kind: "crash", node: x },
          { at: at + slot * 0.6, kind: "restart", node: x },
        ];
      }),
  },
};

/** The named scenario `name` for a run of `shape`. @throws ConcordError `InvalidArgument` for an unknown name. */
export function namedScenario(name: string, shape: RunShape): Scenario {
  const s = SCENARIOS[name];
  if (s === undefined || !Object.hasOwn(SCENARIOS, name)) {
    throw new ConcordError("InvalidArgument", `unknown scenario ${JSON.stringify(name)}: use one of ${Object.keys(SCENARIOS).join(", ")}, or a JSON file`, { name });
  }
  return { name, summary: s.summary, steps: s.steps(shape).map((step) => ({ ...step, at: Math.round(step.at) })) };
}

/**
 * A custom scenario from parsed JSON `{ "summary"?: string, "events": FaultStep[] }`, checked
 * against a run of `shape`: times within the run, nodes among `n1`..`nN` or `leader`, rates in
 * [0, 1]. @throws ConcordError `InvalidArgument` naming the first bad field.
 */
export function parseScenario(json: unknown, name: string, shape: RunShape): Scenario {
  const fail = (where: string, why: string): never => {
    throw new ConcordError("InvalidArgument", `scenario ${name}: ${where} ${why}`, { where });
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) return fail("the file", 'must hold an object { "events": [...] }');
  const { events, summary } = json as Record<string, unknown>;
  if (summary !== undefined && typeof summary !== "string") fail("summary", "must be a string");
  if (!Array.isArray(events) || events.length === 0) return fail("events", "must be a non-empty array");
  const nodes = new Set([...range(0, shape.nodes), "leader"]);
  const steps = events.map((raw, i): FaultStep => {
    const at = `events[${i}]`;
    if (typeof raw !== "object" || raw === null) return fail(at, "is not an object");
    const e = raw as Record<string, unknown>;
    const time = e["at"];
    if (typeof time !== "number" || !Number.isFinite(time) || time < 0 || time >= shape.durationMs) {
      fail(`${at}.at`, `must be a time in ms within the run (0 to ${shape.durationMs - 1}), got ${JSON.stringify(time)}`);
    }
    const ref = (v: unknown, field: string): NodeRef => {
      if (typeof v !== "string" || !nodes.has(v)) fail(`${at}.${field}`, `must be one of ${[...nodes].join(", ")}, got ${JSON.stringify(v)}`);
      return v as NodeRef;
    };
    const refs = (v: unknown, field: string): NodeRef[] => {
      if (!Array.isArray(v) || v.length === 0) return fail(`${at}.${field}`, "must be a non-empty array of nodes");
      return v.map((x, j) => ref(x, `${field}[${j}]`));
    };
    const rate = (v: unknown, field: string): number => {
      if (typeof v !== "number" || !(v >= 0 && v <= 1)) fail(`${at}.${field}`, `must be a number from 0 to 1, got ${JSON.stringify(v)}`);
      return v as number;
    };
    const t = time as number;
    switch (e["kind"]) {
      case "partition": {
        const groups = e["groups"];
        if (!Array.isArray(groups) || groups.length < 2) return fail(`${at}.groups`, "must be an array of at least two groups of nodes");
        return { at: t, kind: "partition", groups: groups.map((g, j) => refs(g, `groups[${j}]`)) };
      }
      case "one-way":
        return { at: t, kind: "one-way", from: ref(e["from"], "from"), to: refs(e["to"], "to") };
      case "heal":
        return { at: t, kind: "heal" };
      case "isolate":
      case "crash":
      case "restart":
      case "pause":
      case "resume":
        return { at: t, kind: e["kind"], node: ref(e["node"], "node") };
      case "flaky": {
        const maxDelayMs = e["maxDelayMs"] ?? 0;
        if (typeof maxDelayMs !== "number" || !Number.isFinite(maxDelayMs) || maxDelayMs < 0) fail(`${at}.maxDelayMs`, "must be a number of ms >= 0");
        return { at: t, kind: "flaky", loss: rate(e["loss"] ?? 0, "loss"), duplicate: rate(e["duplicate"] ?? 0, "duplicate"), maxDelayMs: maxDelayMs as number };
      }
      default:
        return fail(`${at}.kind`, `must be one of partition, isolate, one-way, heal, crash, restart, pause, resume, flaky; got ${JSON.stringify(e["kind"])}`);
    }
  });
  return { name, summary: (summary as string | undefined) ?? `custom schedule from ${name}`, steps: [...steps].sort((a, b) => a.at - b.at) };
}
