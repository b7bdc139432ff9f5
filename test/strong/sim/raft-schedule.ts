/**
 * The workload and fault schedule of the Raft simulation, as fast-check arbitraries (so failures
 * shrink), and how each step acts on a {@link RaftWorld}.
 *
 * Steps name nodes by small numbers resolved when the step runs, against the list that makes
 * sense then (a crash picks among running nodes, a restart among crashed ones, a promotion among
 * the leader's learners...), so a step stays meaningful when shrinking removes the ones before it.
 */
import fc from "fast-check";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import type { DelayDistribution } from "../../../src/sim/sim-network.js";
import type { ConfChange, NodeId } from "../../../src/strong/raft/types.js";
import { seededRng, type Rng } from "../../../src/rng.js";
import { TICK_MS, type DiskProfile, type RaftTuning, type RaftWorld, type SimNode } from "./raft-world.js";

/** Delay profiles: a LAN, a WAN with long tails (some copies arrive after an election timeout). */
export const DELAYS: readonly DelayDistribution[] = [
  { minMs: 0.2, medianMs: 1, tailMs: 4, maxMs: 10 },
  { minMs: 0.5, medianMs: 3, tailMs: 40, maxMs: 400 },
  { minMs: 1, medianMs: 8, tailMs: 120, maxMs: 1_500 },
];

/** Disk profiles: fast SSD with rare stalls; slow disk with frequent stalls longer than a tick. */
export const DISKS: readonly DiskProfile[] = [
  { minMs: 0.05, maxMs: 1, slowChance: 0.02, slowMs: 15 },
  { minMs: 1, maxMs: 8, slowChance: 0.1, slowMs: 60 },
];

/** A server: a small number resolved when the step runs, or null for the current leader. */
type Via = number | null;
/** One step of a schedule. `at`/`via`/`pick` are resolved when the step runs (see the file comment). */
export type Step =
  | { readonly kind: "run"; readonly ticks: number }
  | { readonly kind: "propose"; readonly via: Via; readonly count: number }
  | { readonly kind: "read"; readonly via: Via }
  | { readonly kind: "split"; readonly groups: readonly number[] }
  | { readonly kind: "isolate"; readonly at: Via }
  | { readonly kind: "ring"; readonly shift: number }
  | { readonly kind: "bridge"; readonly at: number }
  | { readonly kind: "one-way"; readonly mode: "link" | "deaf" | "mute"; readonly at: Via; readonly to: number }
  | { readonly kind: "heal" }
  | { readonly kind: "faults"; readonly loss: number; readonly duplicate: number; readonly delay: number }
  /** Crashes a running server (or the leader) `afterMs` virtual ms from now: maybe mid-write. */
  | { readonly kind: "crash"; readonly at: Via; readonly afterMs: number }
  | { readonly kind: "restart"; readonly at: number }
  | { readonly kind: "pause"; readonly at: Via; readonly ticks: number }
  | { readonly kind: "conf"; readonly change: ConfChange["type"]; readonly pick: number; readonly via: Via }
  /** Adds a non-member as a learner, runs `ticks` ticks for it to catch up, then promotes it (thesis 4.2.1). */
  | { readonly kind: "join"; readonly pick: number; readonly ticks: number }
  | { readonly kind: "transfer"; readonly pick: number; readonly via: Via }
  | { readonly kind: "campaign"; readonly at: number }
  /**
   * `ticks` ticks of churn driven by a seeded rng: each tick, at a random instant within it, the
   * leader (or any server) may crash, a crashed server may restart, any server may bounce (crash
   * and restart at once), a leader may be proposed to,
   * any server may be asked for a read or snapshot and compact its log, the leader may be
   * isolated or cut one way, and the network may heal. And an adversary reacts: with
   * probability `ambush`, a leader that just won an election or just advanced its commit index is
   * crashed or isolated a few ms later, before its new entries or commit index reach a majority.
   * Leaders then live briefly and replicate to few: the shapes of paper figure 8.
   */
  | {
      readonly kind: "storm";
      readonly ticks: number;
      readonly seed: number;
      readonly crash: number;
      readonly propose: number;
      readonly partition: number;
      readonly ambush: number;
    }
  /** Snapshot and compact one server, or every server (`at` null). */
  | { readonly kind: "snapshot"; readonly at: number | null; readonly keep: number };

/** A whole simulated run: the world's options and the schedule. */
export interface Scenario {
  readonly seed: number;
  readonly size: number;
  readonly tuning: RaftTuning;
  readonly disk: number;
  readonly delay: number;
  readonly loss: number;
  readonly duplicate: number;
  /** See WorldOptions; absent means false. */
  readonly durableStateMachine?: boolean;
  readonly disconnectOnPartition?: boolean;
  readonly steps: readonly Step[];
}

const node = fc.nat({ max: 7 });
const via: fc.Arbitrary<Via> = fc.option(node, { nil: null, freq: 2 });
const loss = fc.constantFrom(0, 0, 0.02, 0.1, 0.3);
const duplicate = fc.constantFrom(0, 0.05, 0.2);

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({ kind: fc.constant("run" as const), ticks: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 10, max: 150 })) }),
  },
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("propose" as const), via, count: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("read" as const), via }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("split" as const), groups: fc.array(fc.nat({ max: 2 }), { minLength: 6, maxLength: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("isolate" as const), at: via }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("ring" as const), shift: node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("bridge" as const), at: node }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("one-way" as const), mode: fc.constantFrom("link" as const, "deaf" as const, "mute" as const), at: via, to: node }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("heal" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("faults" as const), loss, duplicate, delay: fc.nat({ max: DELAYS.length - 1 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant("crash" as const), at: via, afterMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }).map((n) => n / 4)) }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("restart" as const), at: node }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("pause" as const), at: via, ticks: fc.integer({ min: 1, max: 40 }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("conf" as const),
      change: fc.constantFrom("add-learner" as const, "promote" as const, "remove" as const, "add-voter" as const),
      pick: node,
      via,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("join" as const), pick: node, ticks: fc.integer({ min: 5, max: 60 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("transfer" as const), pick: node, via }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("campaign" as const), at: node }) },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant("storm" as const),
      ticks: fc.integer({ min: 30, max: 400 }),
      seed: fc.noShrink(fc.integer()),
      crash: fc.constantFrom(0.02, 0.05, 0.15),
      propose: fc.constantFrom(0.2, 0.6, 1),
      partition: fc.constantFrom(0, 0.05, 0.2),
      ambush: fc.constantFrom(0.3, 0.6, 0.9),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("snapshot" as const), at: fc.option(node, { nil: null }), keep: fc.nat({ max: 4 }) }) },
);

const tuning: fc.Arbitrary<RaftTuning> = fc
  .record({
    preVote: fc.constantFrom(true, true, true, false),
    checkQuorum: fc.constantFrom(true, true, true, false),
    heartbeatTicks: fc.integer({ min: 1, max: 3 }),
    maxMessageBytes: fc.constantFrom(1, 16, 32, 128, 1 << 20),
    maxInflightMessages: fc.constantFrom(1, 2, 4, 256),
    snapshotChunkBytes: fc.constantFrom(16, 64, 1024),
    maxCommittedBytesPerReady: fc.constantFrom(0, 1, 16, 1 << 26),
    lease: fc.constantFrom(false, false, true),
  })
  // Lease reads require check-quorum (the core refuses the config otherwise).
  .map(({ lease, ...t }): RaftTuning => ({ ...t, readOnly: lease && t.checkQuorum ? "lease" : "safe" }));

/** Scenarios for a cluster of `size` founding voters (plus one spare), up to `maxSteps` steps. */
export function scenarioArb(size: number, maxSteps = 60): fc.Arbitrary<Scenario> {
  return fc.record({
    seed: fc.noShrink(fc.integer()),
    size: fc.constant(size),
    tuning,
    disk: fc.nat({ max: DISKS.length - 1 }),
    delay: fc.nat({ max: DELAYS.length - 1 }),
    loss,
    duplicate,
    durableStateMachine: fc.boolean(),
    disconnectOnPartition: fc.constantFrom(false, false, true),
    steps: fc.array(step, { minLength: 1, maxLength: maxSteps, size: "max" }),
  });
}

/** Counts what the schedule did (its requests' outcomes), for coverage reports. */
export type Outcomes = Map<string, number>;

function bump(outcomes: Outcomes, key: string): void {
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
}

/** Applies `s` to `world`. `nextValue` names proposals (unique payloads). */
export async function applyStep(world: RaftWorld, s: Step, nextValue: () => string, outcomes: Outcomes): Promise<void> {
  const nodes = world.nodes;
  const at = (i: number): SimNode => nodes[i % nodes.length]!;
  const pickFrom = <T>(items: readonly T[], i: number): T | undefined => items[i % Math.max(1, items.length)];
  const requester = (v: Via): SimNode | null => (v === null ? world.leader() : at(v));
  const target = (v: Via): SimNode => requester(v) ?? at(0);
  const net = world.net;
  const peer = (n: SimNode): PeerId => asPeerId(n.id);
  switch (s.kind) {
    case "run":
      return world.advance(s.ticks);
    case "propose": {
      const n = requester(s.via) ?? at(0);
      const values = Array.from({ length: s.count }, nextValue);
      const r = world.propose(n, values);
      bump(outcomes, `propose ${r === undefined ? "down" : r.ok ? "ok" : r.reason}`);
      return;
    }
    case "read": {
      const n = requester(s.via) ?? at(0);
      const r = world.read(n, `read-${nextValue()}`);
      bump(outcomes, `read ${r === undefined ? "down" : r.ok ? "ok" : r.reason}`);
      return;
    }
    case "split": {
      const groups: PeerId[][] = [[], [], []];
      nodes.forEach((n, i) => groups[s.groups[i] ?? 0]!.push(peer(n)));
      net.partition(groups.filter((g) => g.length > 0));
      bump(outcomes, "split");
      return;
    }
    case "isolate":
      net.isolate(peer(target(s.at)));
      bump(outcomes, "isolate");
      return;
    case "ring": {
      // Majority ring: each server reaches only its two neighbours (a majority of 5 with itself).
      const ring = world.options.size >= 5 ? nodes.slice(0, world.options.size) : [...nodes];
      const k = ring.length;
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          const d = Math.abs(i - j);
          if (i !== j && Math.min(d, k - d) > 1) net.cut(peer(ring[(i + s.shift) % k]!), peer(ring[(j + s.shift) % k]!));
        }
      }
      bump(outcomes, "ring");
      return;
    }
    case "bridge": {
      // Two halves that only the bridge server connects.
      const bridge = at(s.at);
      const rest = nodes.filter((n) => n !== bridge);
      const half = Math.ceil(rest.length / 2);
      for (const a of rest.slice(0, half)) {
        for (const b of rest.slice(half)) {
          net.cut(peer(a), peer(b));
          net.cut(peer(b), peer(a));
        }
      }
      bump(outcomes, "bridge");
      return;
    }
    case "one-way": {
      const a = target(s.at);
      if (s.mode === "link") {
        const b = at(s.to);
        if (a !== b) net.cut(peer(a), peer(b));
      } else {
        for (const b of nodes) if (b !== a) (s.mode === "deaf" ? net.cut(peer(b), peer(a)) : net.cut(peer(a), peer(b)));
      }
      bump(outcomes, `one-way ${s.mode}`);
      return;
    }
    case "heal":
      net.heal();
      return;
    case "faults":
      net.setFaults({ loss: s.loss, duplicate: s.duplicate, delay: DELAYS[s.delay]! });
      return;
    case "crash": {
      if (s.afterMs > 0) await world.clock.advance(s.afterMs);
      const n = s.at === null ? world.leader() : pickFrom(nodes.filter((x) => x.inc !== null), s.at);
      if (n === null || n === undefined) return;
      const torn = world.crash(n);
      bump(outcomes, torn === null ? "crash" : `crash mid-write (${torn.kept === 0 ? "nothing" : torn.kept === torn.items ? "all" : "a prefix"} kept)`);
      return;
    }
    case "restart": {
      const n = pickFrom(nodes.filter((x) => x.inc === null), s.at);
      if (n !== undefined) world.restart(n);
      return;
    }
    case "pause":
      if (world.pause(target(s.at), s.ticks)) bump(outcomes, "pause");
      return;
    case "conf": {
      const leader = world.leader();
      const conf = leader?.inc?.core.status().conf ?? { voters: [], learners: [] };
      const members = new Set<NodeId>([...conf.voters, ...conf.learners]);
      const candidates: NodeId[] =
        leader === null
          ? nodes.map((n) => n.id)
          : s.change === "promote"
            ? [...conf.learners]
            : s.change === "remove"
              ? [...(conf.voters.length > 1 ? conf.voters : []), ...conf.learners]
              : nodes.map((n) => n.id).filter((id) => !members.has(id));
      const target = pickFrom(candidates, s.pick);
      const n = requester(s.via) ?? at(0);
      if (target === undefined) return;
      const r = world.changeMembership(n, { type: s.change, node: target });
      bump(outcomes, `conf ${s.change} ${r === undefined ? "down" : r.ok ? "ok" : r.reason}`);
      return;
    }
    case "join": {
      const leader = world.leader();
      const conf = leader?.inc?.core.status().conf;
      if (leader === null || conf === undefined) return;
      const members = new Set<NodeId>([...conf.voters, ...conf.learners]);
      const joiner = pickFrom(nodes.map((n) => n.id).filter((id) => !members.has(id)), s.pick);
      if (joiner === undefined) return;
      const added = world.changeMembership(leader, { type: "add-learner", node: joiner });
      bump(outcomes, `join add-learner ${added === undefined ? "down" : added.ok ? "ok" : added.reason}`);
      if (added?.ok !== true) return;
      await world.advance(s.ticks);
      const now = world.leader();
      if (now === null) return;
      const promoted = world.changeMembership(now, { type: "promote", node: joiner });
      bump(outcomes, `join promote ${promoted === undefined ? "down" : promoted.ok ? "ok" : promoted.reason}`);
      return;
    }
    case "transfer": {
      const leader = world.leader();
      const voters = leader?.inc?.core.status().conf.voters ?? nodes.map((n) => n.id);
      const target = pickFrom(voters, s.pick);
      const n = requester(s.via) ?? at(0);
      if (target === undefined) return;
      const r = world.transfer(n, target);
      bump(outcomes, `transfer ${r === undefined ? "down" : r.ok ? "ok" : r.reason}`);
      return;
    }
    case "campaign":
      world.campaign(at(s.at));
      return;
    case "snapshot":
      for (const n of s.at === null ? nodes : [at(s.at)]) world.snapshot(n, s.keep);
      return;
    case "storm":
      return storm(world, s, nextValue, outcomes);
  }
}

async function storm(world: RaftWorld, s: Extract<Step, { kind: "storm" }>, nextValue: () => string, outcomes: Outcomes): Promise<void> {
  const rng = seededRng(s.seed);
  const nodes = world.nodes;
  const peer = (n: SimNode): PeerId => asPeerId(n.id);
  // Ambushes still pending when the storm ends are cancelled: the storm's faults end with it.
  const pending = new Set<() => void>();
  world.onLeaderEvent = (node, event) => {
    if (!rng.chance(s.ambush)) return;
    const crash = rng.chance(0.5);
    const inc = node.inc;
    const cancel = world.clock.setTimer(rng.next() * (event === "elected" ? 8 : 3), () => {
      pending.delete(cancel);
      if (node.inc !== inc) return;
      if (crash) world.crash(node);
      else world.net.isolate(peer(node));
      bump(outcomes, `storm ambush (${event}): ${crash ? "crash" : "isolate"}`);
    });
    pending.add(cancel);
  };
  try {
    await stormTicks(world, s, rng, nextValue, outcomes);
  } finally {
    world.onLeaderEvent = null;
    for (const cancel of pending) cancel();
  }
}

async function stormTicks(
  world: RaftWorld,
  s: Extract<Step, { kind: "storm" }>,
  rng: Rng,
  nextValue: () => string,
  outcomes: Outcomes,
): Promise<void> {
  const nodes = world.nodes;
  const peer = (n: SimNode): PeerId => asPeerId(n.id);
  for (let t = 0; t < s.ticks; t++) {
    const offset = rng.next() * TICK_MS;
    await world.clock.advance(offset);
    const leader = world.leader();
    // Clients may still talk to a deposed leader that doesn't know it yet.
    const leaders = nodes.filter((n) => n.inc?.core.status().role === "leader");
    if (leaders.length > 0 && rng.chance(s.propose)) {
      const r = world.propose(rng.pick(leaders), Array.from({ length: rng.int(1, 3) }, nextValue));
      bump(outcomes, `storm propose ${r?.ok === true ? "ok" : "refused"}`);
    }
    if (rng.chance(s.crash)) {
      const running = nodes.filter((n) => n.inc !== null);
      const victim = leader !== null && rng.chance(0.7) ? leader : running.length > 0 ? rng.pick(running) : null;
      if (victim !== null) {
        const torn = world.crash(victim);
        bump(outcomes, torn === null ? "storm crash" : "storm crash mid-write");
      }
    }
    if (rng.chance(s.propose / 3)) {
      // Half the reads go to a server that believes it leads (maybe deposed): lease reads are served there.
      const r = world.read(leaders.length > 0 && rng.chance(0.5) ? rng.pick(leaders) : rng.pick(nodes), `read-${nextValue()}`);
      bump(outcomes, `storm read ${r?.ok === true ? "ok" : "refused"}`);
    }
    if (rng.chance(0.03)) world.snapshot(rng.pick(nodes), rng.int(0, 2));
    const down = nodes.filter((n) => n.inc === null);
    if (down.length > 0 && rng.chance(0.25)) world.restart(rng.pick(down));
    // A bounce: a process restarts at once (an operator's restart, a crash loop), losing its memory.
    if (rng.chance(s.crash)) {
      const running = nodes.filter((n) => n.inc !== null);
      if (running.length > 0) {
        const n = rng.pick(running);
        world.crash(n);
        world.restart(n);
        bump(outcomes, "storm bounce");
      }
    }
    if (rng.chance(s.partition)) {
      const l = world.leader();
      const r = rng.next();
      if (r < 0.3) world.net.heal();
      else if (l !== null && r < 0.6) world.net.isolate(peer(l));
      else if (l !== null) {
        const other = rng.pick(nodes.filter((n) => n !== l));
        world.net.cut(peer(l), peer(other));
      }
      bump(outcomes, "storm partition");
    }
    await world.clock.advance(TICK_MS - offset);
  }
}
