/**
 * What every mode's world of real processes (`concord lab --real`) shares: a {@link ProcessGroup}
 * of node processes behind loopback proxies, the wall clock, the lab port's faults done to them,
 * and the clients' stores closed at the end. A mode's world says how to start its nodes, how to
 * open a client, and how to read roles from the nodes' `/healthz`.
 */
import { isConcordError } from "../errors.js";
import type { NetworkFaults } from "../sim/sim-network.js";
import { ProcessGroup, type ProcessGroupOptions } from "./process-group.js";
import { WallClock } from "./wall-clock.js";
import { labClient, type LabClient, type LabMode, type LabStore, type LabWorld, type NodeState } from "./world.js";

/** A store as the lab's clients use it, closed with the world. */
export interface KeyValueStore extends LabStore {
  close(): Promise<void>;
}

export abstract class ProcessWorld implements LabWorld {
  abstract readonly mode: LabMode;
  readonly clock = new WallClock();
  readonly nodes: readonly string[];
  #group: ProcessGroup | null = null;
  readonly #stores: KeyValueStore[] = [];
  #dropOnPartition = true;

  constructor(size: number) {
    this.nodes = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  }

  abstract start(): Promise<void>;
  abstract connect(name: string, home: number): Promise<LabClient>;
  abstract leader(): number | null;
  /** A running node's role, from its `/healthz` body. */
  protected abstract roleOf(health: Readonly<Record<string, unknown>>): string;

  protected get group(): ProcessGroup {
    if (this.#group === null) throw new Error(`the ${this.mode} world is not started`);
    return this.#group;
  }

  /** Starts the nodes (see {@link ProcessGroup}). */
  protected async startGroup(o: Omit<ProcessGroupOptions, "size">): Promise<void> {
    this.#group = await ProcessGroup.create({ ...o, size: this.nodes.length });
    await this.#group.start();
  }

  /** `store`, closed with the world, as a lab client. */
  protected client(store: KeyValueStore): LabClient {
    this.#stores.push(store);
    return labClient(store);
  }

  /** Node `i`'s `/healthz` body as last read, while it runs and is awake. */
  protected health(i: number): Readonly<Record<string, unknown>> | undefined {
    return this.#group?.condition(i) === null ? this.#group.seen(i).health : undefined;
  }

  roles(): string[] {
    return this.nodes.map((_, i) => {
      const h = this.health(i);
      return this.group.condition(i) ?? (h === undefined ? "starting" : this.roleOf(h));
    });
  }

  partition(groups: readonly (readonly number[])[]): void {
    this.group.partition(groups, this.#dropOnPartition ? "drop" : "hold");
  }

  cut(from: number, to: number): void {
    this.group.cut(from, to);
  }

  heal(): void {
    this.group.heal();
  }

  setFaults(faults: Partial<NetworkFaults>): void {
    if (faults.disconnectOnPartition !== undefined) this.#dropOnPartition = faults.disconnectOnPartition;
    this.group.flaky(faults);
  }

  crash(i: number): void {
    this.group.crash(i);
  }

  restart(i: number): Promise<void> {
    return this.group.restart(i);
  }

  pause(i: number): void {
    this.group.pause(i);
  }

  resume(i: number): void {
    this.group.resume(i);
  }

  state(i: number): NodeState {
    return this.group.state(i);
  }

  refresh(): Promise<void> {
    return this.group.refresh();
  }

  async close(): Promise<void> {
    for (const s of this.#stores.splice(0)) {
      await s.close().catch((e: unknown) => {
        if (!isConcordError(e)) throw e;
      });
    }
    await this.#group?.close();
  }
}
