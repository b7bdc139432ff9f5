/**
 * One simulated run of the Raft core: build the world a {@link Scenario} describes, play its
 * schedule (the checker throws at the first broken safety property, after any event), then heal
 * everything and require liveness: within {@link LIVENESS_TICKS} ticks a leader is elected and a
 * fresh proposal is applied by every member of its configuration (with neither pre-vote nor
 * check-quorum, servers removed from the committed configuration are stopped on the way: see
 * {@link stopRemoved}). Shared by the property test and the named regression tests.
 */
import { DELAYS, DISKS, applyStep, type Outcomes, type Scenario } from "./raft-schedule.js";
import { RaftWorld, TICK_MS, type SimNode } from "./raft-world.js";
import { asIndex, asNodeId } from "../../../src/strong/raft/types.js";
import type { CheckerStats } from "./raft-invariants.js";

/**
 * Ticks after the heal within which a leader must commit and spread a fresh proposal. Generous:
 * it includes catching up lagging members, which with the smallest message and in-flight limits
 * and reordered appends (each drops the leader back to probing) runs at ~1 entry per tick; the
 * slowest of 3 000 runs needed 450.
 */
export const LIVENESS_TICKS = 2_000;
/** Ticks before the schedule starts: time for a first leader (most schedules want one). */
export const WARM_UP_TICKS = 30;
/** Ticks between two looks at the cluster during the liveness phase. */
const LOOK_EVERY = 5;
/** A proposal not applied after this many ticks (lost with a leadership change) is made again. */
const REPROPOSE_AFTER = 100;

/** What a run did, for determinism checks and coverage reports. */
export interface RunReport {
  readonly eventHash: number;
  readonly stats: CheckerStats;
  readonly outcomes: Outcomes;
  /** Virtual ticks the schedule ran, and ticks until liveness after the heal. */
  readonly scheduleTicks: number;
  readonly livenessTicks: number;
  readonly finalConf: { readonly voters: readonly string[]; readonly learners: readonly string[] };
}

/** Runs `scenario`; throws a SafetyViolation, a liveness failure or a core error on a bug. */
export async function runScenario(scenario: Scenario): Promise<RunReport> {
  const world = new RaftWorld({
    seed: scenario.seed,
    size: scenario.size,
    spares: 1,
    tuning: scenario.tuning,
    disk: DISKS[scenario.disk]!,
    delay: DELAYS[scenario.delay]!,
    loss: scenario.loss,
    duplicate: scenario.duplicate,
    durableStateMachine: scenario.durableStateMachine ?? false,
    disconnectOnPartition: scenario.disconnectOnPartition ?? false,
  });
  world.start();
  await world.advance(WARM_UP_TICKS);
  const outcomes: Outcomes = new Map();
  let value = 0;
  // Payloads of varied sizes (deterministic), so message and flow-control limits split batches.
  const nextValue = (): string => `v${++value}`.padEnd(2 + ((value * 7) % 23), ".");
  for (const s of scenario.steps) await applyStep(world, s, nextValue, outcomes);
  const scheduleTicks = world.clock.now() / TICK_MS;
  world.check.checkDurableLogs(world.nodes);

  healAll(world);
  const livenessTicks = await awaitLiveness(world, "final", !scenario.tuning.preVote && !scenario.tuning.checkQuorum);
  world.check.checkDurableLogs(world.nodes);
  const conf = world.leader()?.inc?.core.status().conf ?? { voters: [], learners: [] };
  return { eventHash: world.eventHash, stats: world.check.stats, outcomes, scheduleTicks, livenessTicks, finalConf: conf };
}

/** Heals every link, makes the network reliable, wakes frozen processes, restarts crashed ones. */
export function healAll(world: RaftWorld): void {
  world.net.heal();
  world.net.setFaults({ loss: 0, duplicate: 0, delay: DELAYS[0]! });
  world.resumeAll();
  for (const n of world.nodes) world.restart(n);
}

/**
 * Stops the voters outside `leader`'s configuration, as an operator does once a removal
 * committed; does nothing unless that configuration is known committed (no entry of the leader
 * waits to be persisted, and no change follows its commit index in its log). Needed only with
 * neither pre-vote nor check-quorum: a removed server that never learned of its removal then
 * campaigns with ever higher terms and deposes every leader (thesis 4.2.3, "disruptive servers";
 * pre-vote and check-quorum are the remedies).
 */
export function stopRemoved(world: RaftWorld, leader: SimNode): void {
  const st = leader.inc?.core.status();
  const s = leader.storage;
  if (st === undefined || st.lastIndex !== s.lastIndex()) return;
  const lo = Math.max(st.commit + 1, s.firstIndex());
  const tail = lo <= s.lastIndex() ? s.entries(asIndex(lo), asIndex(s.lastIndex() + 1), Number.POSITIVE_INFINITY) : [];
  if (typeof tail === "string" || tail.some((e) => e.kind === "conf-change")) return;
  const members = new Set<string>([...st.conf.voters, ...st.conf.learners]);
  for (const n of world.nodes) {
    // A spare that never joined holds nothing and can't campaign; it must keep running, since a
    // proposal adding it may still be on its way (found by the 100 000-schedule hunt).
    const own = n.inc?.core.status();
    if (own === undefined || members.has(n.id) || own.lastIndex === 0 || own.conf.learners.includes(asNodeId(n.id))) continue;
    world.crash(n);
  }
}

const applied = (node: SimNode | undefined, value: string): boolean => node?.inc?.sm.values.includes(value) ?? false;

/**
 * Proposes `value` at the leader (again when leadership changes or it stalls) until every member
 * of the leader's configuration applied it. Returns the ticks it took; throws after
 * {@link LIVENESS_TICKS}. With `stopRemovedServers`, servers outside a committed configuration
 * are stopped on the way ({@link stopRemoved}).
 */
export async function awaitLiveness(world: RaftWorld, value: string, stopRemovedServers = false): Promise<number> {
  let proposedTerm = -1;
  let proposedAt = 0;
  for (let t = 0; t <= LIVENESS_TICKS; t += LOOK_EVERY) {
    const leader = world.leader();
    if (leader !== null && stopRemovedServers) stopRemoved(world, leader);
    const st = leader?.inc?.core.status();
    // A member that is down was stopped as removed and has been added again since: an operator
    // adding a server starts it (found by the 100 000-schedule hunt).
    for (const id of st === undefined ? [] : [...st.conf.voters, ...st.conf.learners]) {
      const n = world.node(id);
      if (n !== undefined && n.inc === null) world.restart(n);
    }
    if (leader !== null && st !== undefined) {
      const members = [...st.conf.voters, ...st.conf.learners];
      if (members.every((id) => applied(world.node(id), value))) return t;
      if (st.term !== proposedTerm || t - proposedAt >= REPROPOSE_AFTER) {
        const r = world.propose(leader, [value]);
        if (r?.ok === true) {
          proposedTerm = st.term;
          proposedAt = t;
        }
      }
    }
    await world.advance(LOOK_EVERY);
  }
  const status = world.nodes
    .map((n) => {
      if (n.inc === null) return `${n.id} down`;
      const st = n.inc.core.status();
      const conf = `voters [${st.conf.voters.join(",")}] learners [${st.conf.learners.join(",")}]`;
      return `${n.id} ${st.role} term ${st.term} leader ${st.leader} commit ${st.commit} applied ${n.inc.sm.index} last ${st.lastIndex} ${conf} has-final ${applied(n, value)}`;
    })
    .join("\n");
  throw new Error(`liveness: no leader committed and spread a fresh proposal within ${LIVENESS_TICKS} ticks of the heal\n${status}\n--- last events ---\n${world.describeTrace()}`);
}
