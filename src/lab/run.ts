/**
 * One lab run: a scenario's faults and the workload's clients on one mode's simulated world, on
 * the virtual clock, recorded as a {@link LabRun}. The same seed, scenario and workload give the
 * same run, operation for operation, on every machine.
 *
 * A partition is a failed connection, as when a firewall resets it or TCP gives up on an
 * unreachable peer: both sides see their links go down (and come back at the heal). A one-way cut
 * is silent: messages are dropped, nobody sees a link go down.
 *
 * Order of a run: the nodes start; `clientsPerNode` clients connect to each node (their home: they
 * sit with it in the network); the clients loop on the workload while the scenario's steps fire at
 * their times and the nodes are sampled; at the end the clients finish what they are doing, every
 * fault is undone (network healed, nodes resumed and restarted), and the run waits until every
 * node holds the same state (convergence), at most `convergeWithinMs`.
 */
import { isConcordError } from "../errors.js";
import { seededRng, type Rng } from "../rng.js";
import type { FaultEvent, LabOp, LabRun, NodeSample } from "./lab-history.js";
import type { FaultStep, NodeRef, Scenario } from "./scenario.js";
import { planOp, type WorkloadSpec } from "./workload.js";
import { drive, type LabClient, type LabWorld, type NodeState } from "./world.js";

export interface RunOptions {
  readonly seed: number;
  /** Virtual ms the workload runs. */
  readonly durationMs: number;
  readonly workload: WorkloadSpec;
  /** Virtual ms between samples of the nodes. Default: a 200th of the run, at least 10. */
  readonly sampleMs?: number;
  /** How long to wait for convergence once every fault is undone. Default 30,000. */
  readonly convergeWithinMs?: number;
  /** Called at each sample with the share of the run done (0 to 1). */
  readonly onProgress?: (done: number) => void;
}

/** Keys on which running nodes disagree (a key missing on one node counts when another has it). */
export function divergentKeys(states: readonly NodeState[]): number {
  const up = states.filter((s): s is ReadonlyMap<string, string | null> => s !== null);
  if (up.length < 2) return 0;
  const keys = new Set(up.flatMap((s) => [...s.keys()]));
  let n = 0;
  for (const k of keys) {
    const first = up[0]!.get(k) ?? null;
    if (up.some((s) => (s.get(k) ?? null) !== first)) n++;
  }
  return n;
}

/** What an error tells about a write: refused before it was ordered (nothing happened), or unknown. */
function writeOutcome(e: unknown): "failed" | "unknown" {
  if (!isConcordError(e)) return "unknown";
  const outcome = e.details["outcome"];
  return outcome === "not-applied" || outcome === "refused" ? "failed" : "unknown";
}

/** Runs `scenario` with the workload on `world` (see the module comment). */
export async function runScenario(world: LabWorld, scenario: Scenario, o: RunOptions): Promise<LabRun> {
  const rng = seededRng(o.seed);
  const clock = world.clock;
  const sampleMs = o.sampleMs ?? Math.max(10, Math.round(o.durationMs / 200));
  const ops: LabOp[] = [];
  const samples: NodeSample[] = [];
  const events: FaultEvent[] = [];
  const n = world.nodes.length;
  const steps = [...scenario.steps].filter((s) => s.at < o.durationMs).sort((a, b) => a.at - b.at);
  // The fault's window as planned, then as done: its first and last steps' times once applied
  // (the same in the simulator; on real processes a timer fires a little late).
  const fault = steps.length === 0 ? null : { start: steps[0]!.at, end: steps[steps.length - 1]!.at };

  await world.start();
  // The run's time starts once every client is connected (below).
  let t0 = clock.now();
  const now = (): number => clock.now() - t0;

  // Where each node sits: its partition group's label, "" when the network is whole.
  let groups: number[][] = [];
  const sideOf = (node: number): string => {
    const g = groups.find((x) => x.includes(node));
    return g === undefined ? "" : g.map((i) => world.nodes[i]).join(",");
  };

  // The scenario's "leader": bound at its first mention, to whichever node leads then.
  let boundLeader: number | null = null;
  const resolve = (ref: NodeRef): number => {
    if (ref === "leader") {
      boundLeader ??= world.leader() ?? 0;
      return boundLeader;
    }
    return Number.parseInt(ref.slice(1), 10) - 1;
  };
  const apply = (step: FaultStep): void => {
    const note = (what: string): void => void events.push({ at: now(), what });
    switch (step.kind) {
      case "partition": {
        const placed = new Set<number>();
        groups = step.groups.map((g) => g.map(resolve).filter((i) => !placed.has(i) && (placed.add(i), true)));
        const rest = world.nodes.map((_, i) => i).filter((i) => !placed.has(i));
        if (rest.length > 0) groups.push(rest);
        world.setFaults({ disconnectOnPartition: true });
        world.partition(groups);
        note(`partition ${groups.map((g) => `[${g.map((i) => world.nodes[i]).join(",")}]`).join(" ")}`);
        return;
      }
      case "isolate": {
        const i = resolve(step.node);
        groups = [[i], world.nodes.map((_, j) => j).filter((j) => j !== i)];
        world.setFaults({ disconnectOnPartition: true });
        world.partition(groups);
        note(`isolate ${world.nodes[i]}`);
        return;
      }
      case "one-way": {
        const from = resolve(step.from);
        world.setFaults({ disconnectOnPartition: false });
        for (const to of step.to.map(resolve)) if (to !== from) world.cut(from, to);
        note(`${world.nodes[from]} -/-> ${step.to.map((r) => world.nodes[resolve(r)]).join(",")}`);
        return;
      }
      case "heal":
        groups = [];
        world.heal();
        note("heal");
        return;
      case "crash":
        world.crash(resolve(step.node));
        note(`crash ${world.nodes[resolve(step.node)]}`);
        return;
      case "restart": {
        const i = resolve(step.node);
        world.restart(i).catch((e: unknown) => events.push({ at: now(), what: `restart ${world.nodes[i]} failed: ${String(e)}` }));
        note(`restart ${world.nodes[i]}`);
        return;
      }
      case "pause":
        world.pause(resolve(step.node));
        note(`pause ${world.nodes[resolve(step.node)]}`);
        return;
      case "resume":
        world.resume(resolve(step.node));
        note(`resume ${world.nodes[resolve(step.node)]}`);
        return;
      case "flaky": {
        const median = Math.max(2, Math.round(step.maxDelayMs / 20));
        world.setFaults({
          loss: step.loss,
          duplicate: step.duplicate,
          delay: { minMs: 1, medianMs: Math.min(median, step.maxDelayMs), tailMs: Math.max(median, step.maxDelayMs / 4), maxMs: Math.max(median, step.maxDelayMs) },
        });
        note(`flaky: loss ${step.loss}, duplicates ${step.duplicate}, delays up to ${step.maxDelayMs} ms`);
        return;
      }
    }
  };

  const clients: { name: string; home: number; client: LabClient; rng: Rng }[] = [];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < o.workload.clientsPerNode; c++) {
      const name = `c${i + 1}.${c + 1}`;
      clients.push({ name, home: i, client: await world.connect(name, i), rng: rng.fork() });
    }
  }

  t0 = clock.now();
  const stateOf = (): NodeState[] => world.nodes.map((_, i) => world.state(i));
  const sample = (): void => {
    const lag = world.lagMs === undefined ? undefined : world.nodes.map((_, i) => world.lagMs!(i));
    samples.push({
      at: now(),
      roles: world.roles(),
      partition: groups.map((g) => g.map((i) => world.nodes[i]).join(",")),
      divergentKeys: divergentKeys(stateOf()),
      ...(lag === undefined ? {} : { lagMs: lag }),
    });
    o.onProgress?.(Math.min(1, now() / o.durationMs));
  };

  let stopping = false;
  const loops = clients.map(async ({ name, home, client, rng: r }) => {
    for (let seq = 1; !stopping; seq++) {
      const planned = planOp(o.workload, r, name, seq);
      const call = now();
      const base = { client: name, node: world.nodes[home]!, kind: planned.kind, key: planned.key, call, duringFault: false, side: sideOf(home) };
      try {
        if (planned.kind === "get") {
          const value = await client.get(planned.key);
          ops.push({ ...base, value, return: now(), outcome: "ok" });
        } else {
          await client.set(planned.key, planned.value);
          ops.push({ ...base, value: planned.value, return: now(), outcome: "ok" });
        }
      } catch (e) {
        const code = isConcordError(e) ? e.code : String(e);
        const outcome = planned.kind === "get" ? "failed" : writeOutcome(e);
        ops.push({ ...base, ...(planned.kind === "set" ? { value: planned.value } : {}), return: outcome === "unknown" ? null : now(), outcome, error: code });
      }
      await new Promise<void>((done) => clock.setTimer(r.int(0, o.workload.thinkMs), done));
    }
  });

  steps.forEach((step, k) =>
    clock.setTimer(step.at, () => {
      // Within float noise of the plan, the plan (the simulator's timers fire exactly on time).
      const at = Math.abs(now() - step.at) < 1e-6 ? step.at : now();
      if (k === 0) fault!.start = at;
      if (k === steps.length - 1) fault!.end = at;
      apply(step);
    }),
  );
  // From the end of the fault, watch for the first moment every node agrees (every 5 ms).
  let checkpoint: LabRun["checkpoint"] = null;
  const agree = (): boolean => {
    const states = stateOf();
    return states.every((s) => s !== null) && divergentKeys(states) === 0;
  };
  const watch = (): void => {
    if (checkpoint !== null) return;
    if (agree()) {
      const delivered = world.delivered?.();
      checkpoint = { at: now(), state: world.state(world.leader() ?? 0) ?? new Map(), ...(delivered === undefined ? {} : { delivered }) };
    } else clock.setTimer(5, watch);
  };
  if (fault !== null) clock.setTimer(fault.end, watch);
  let nextSample = 0;
  while (now() < o.durationMs) {
    sample();
    nextSample += sampleMs;
    await clock.advance(Math.min(nextSample, o.durationMs) - now());
  }
  stopping = true;
  await drive(clock, Promise.all(loops), 120_000, "the clients' last operations");
  const end = now();
  sample();

  // Undo every fault, then wait for every node to hold the same state.
  groups = [];
  world.heal();
  for (let i = 0; i < n; i++) {
    world.resume(i);
    await drive(clock, world.restart(i), 60_000, `restarting ${world.nodes[i]}`);
  }
  if (fault === null) clock.setTimer(0, watch);
  else if (checkpoint === null) watch();
  await clock.runUntil(() => checkpoint !== null, { maxMs: o.convergeWithinMs ?? 30_000 });
  // The final state: once every write made up to the end has reached every node (and, where the
  // world learns states by asking, once a fresh look at every node agrees).
  const deadline = clock.now() + (o.convergeWithinMs ?? 30_000);
  for (;;) {
    await clock.runUntil(agree, { maxMs: Math.max(0, deadline - clock.now()) });
    if (world.refresh === undefined || clock.now() >= deadline) break;
    await world.refresh();
    if (agree()) break;
  }
  const healedAt = fault?.end ?? end;
  const convergeMs = checkpoint === null ? null : Math.max(0, (checkpoint as { at: number }).at - healedAt);
  const reader = world.leader() ?? 0;
  const finalState = world.state(reader) ?? new Map<string, string | null>();
  const delivered = world.delivered?.();
  return {
    mode: world.mode,
    nodes: world.nodes,
    // Whether an operation was called during the fault: against the window as done (known now).
    ops: ops.map((op) => ({ ...op, duringFault: fault !== null && op.call >= fault.start && op.call < fault.end })).sort((a, b) => a.call - b.call || (a.client < b.client ? -1 : 1)),
    samples,
    events,
    fault,
    end,
    convergeMs,
    checkpoint,
    final: finalState,
    ...(delivered === undefined ? {} : { delivered }),
  };
}
