/**
 * The port every mode's simulated world implements for the lab (and for the modes' own
 * simulation tests): N nodes on one simulated network and one virtual clock, clients that each
 * talk to one home node and sit where it sits in the network, and the faults of the fault model
 * (DESIGN.md section 4). The lab drives every mode through this port alone, so one scenario and
 * one workload run unchanged on all three.
 */
import type { Clock } from "../clock.js";
import type { NetworkFaults } from "../sim/sim-network.js";

/**
 * The time a world runs on: the simulator's virtual clock (`sim/virtual-clock.ts`), which these
 * calls drive, or the wall clock of a run on real processes (`wall-clock.ts`), on which they wait.
 */
export interface LabClock extends Clock {
  /** Lets `ms` pass, firing the timers due meanwhile. */
  advance(ms: number): Promise<void>;
  /** Lets time pass until `done()` holds (true) or `maxMs` passed (false). */
  runUntil(done: () => boolean, limits: { readonly maxMs: number }): Promise<boolean>;
}

/** The modes the lab compares. */
export type LabMode = "eventual" | "primary" | "strong";

/** One client of a world: the lab's workload reads and writes strings through it. */
export interface LabClient {
  /** The value of `key`, null when absent. Rejects with a ConcordError when it cannot answer. */
  get(key: string): Promise<string | null>;
  /** Writes `value` at `key`; resolves when the mode acknowledges it. Rejects with a ConcordError otherwise. */
  set(key: string, value: string): Promise<void>;
}

/** What the lab's clients need of a mode's store. */
export interface LabStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
}

/** `store` as a lab client: strings in and out (anything else read is absent). */
export function labClient(store: LabStore): LabClient {
  return {
    get: async (key) => {
      const v = await store.get(key);
      return typeof v === "string" ? v : null;
    },
    set: async (key, value) => {
      await store.set(key, value);
    },
  };
}

/** A node's key-value view of the lab's document; null while the node is down. */
export type NodeState = ReadonlyMap<string, string | null> | null;

export interface LabWorld {
  readonly mode: LabMode;
  readonly clock: LabClock;
  /** Node names, `n1`..`nN`. */
  readonly nodes: readonly string[];
  /** Opens every node (drives the clock until they are up). */
  start(): Promise<void>;
  /** A client named `name` at node `home` (index); drives the clock until it is open. */
  connect(name: string, home: number): Promise<LabClient>;
  /** Index of the node that leads writes now (Raft leader, newest primary; 0 in `eventual`), null when none. */
  leader(): number | null;
  /** Each node's role now: a mode's role name, `down` or `paused`. */
  roles(): string[];
  /** Splits the network into `groups` of node indexes; each client stays with its home node. */
  partition(groups: readonly (readonly number[])[]): void;
  /** Drops messages from node `from` to node `to` (and its clients), not the other way. */
  cut(from: number, to: number): void;
  /** Makes the network whole and reliable again. */
  heal(): void;
  /** Links lose, duplicate and delay messages. */
  setFaults(faults: Partial<NetworkFaults>): void;
  crash(node: number): void;
  /** Restarts a crashed node from its disk (not driven: the caller runs the clock). */
  restart(node: number): Promise<void>;
  pause(node: number): void;
  resume(node: number): void;
  /**
   * How far behind its writer node `node` says it is: ms since it last heard from it, 0 for the
   * writer, null when down or unknown. Absent for modes whose nodes report no lag.
   */
  lagMs?(node: number): number | null;
  /** Node `node`'s view of the keys. */
  state(node: number): NodeState;
  /**
   * Resolves once {@link state} shows what every running node holds now. For worlds that learn
   * their nodes' state by asking them (real processes); absent where `state` is always current.
   */
  refresh?(): Promise<void>;
  /**
   * Every write the world's nodes hold at all, overwritten or not (modes that merge: a write that
   * lost a merge is still there); undefined for modes that order writes.
   */
  delivered?(): ReadonlySet<string>;
  /** Closes every client and node. */
  close(): Promise<void>;
}

/** Runs `world.clock` until `promise` settles, at most `maxMs` of virtual time. */
export async function drive<T>(clock: LabClock, promise: Promise<T>, maxMs = 60_000, what = "an operation"): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => (settled = true));
  tracked.catch(() => undefined);
  await clock.runUntil(() => settled, { maxMs });
  if (!settled) throw new Error(`${what} did not settle within ${maxMs} virtual ms`);
  return tracked;
}
