/**
 * A small `primary`-mode group for the ReplicationNode tests: real nodes over in-memory storages
 * (which survive a node's close, so a reopen is a restart), one reliable simulated network (which
 * can cut links) and one virtual clock that only moves when a test drives it. No real timers.
 */
import { ConcordError } from "../../../src/errors.js";
import { asDocId, asPeerId, type PeerId } from "../../../src/ids.js";
import { ReplicationNode, type ReplicationNodeOptions } from "../../../src/primary/replication-node.js";
import { seededRng } from "../../../src/rng.js";
import { SimNetwork } from "../../../src/sim/sim-network.js";
import { VirtualClock } from "../../../src/sim/virtual-clock.js";
import { memoryStorage } from "../../../src/storage/memory-storage.js";
import type { DocStorage, LogStats, Persistence, StoredLog } from "../../../src/storage/storage.js";

export const DOC = asDocId("group");

/** Fast timers, so a test covers many heartbeats in little virtual time. */
export const FAST: Pick<ReplicationNodeOptions, "primary" | "replica"> = {
  primary: { heartbeatMs: 20, maxLagMs: 200 },
  replica: { ackMs: 20, helloMs: 100 },
};

/**
 * A storage whose appends and compactions can be held: while held they are queued, untouched, and
 * reach the inner storage in call order on {@link release} (a slow disk).
 */
export class GatedStorage implements DocStorage {
  #held: (() => void)[] | null = null;

  constructor(readonly inner: DocStorage) {}

  get maxRecordBytes(): number {
    return this.inner.maxRecordBytes;
  }

  hold(): void {
    this.#held ??= [];
  }

  /** Writes held so far. */
  get heldWrites(): number {
    return this.#held?.length ?? 0;
  }

  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const start of held) start();
  }

  append(record: Uint8Array): Promise<void> {
    return this.#gate(() => this.inner.append(record));
  }

  compact(snapshot: Uint8Array): Promise<void> {
    return this.#gate(() => this.inner.compact(snapshot));
  }

  #gate(write: () => Promise<void>): Promise<void> {
    const held = this.#held;
    if (held === null) return write();
    return new Promise<void>((resolve, reject) => held.push(() => void write().then(resolve, reject)));
  }

  load(): Promise<StoredLog> {
    return this.inner.load();
  }
  shouldCompact(): boolean {
    return this.inner.shouldCompact();
  }
  stats(): LogStats {
    return this.inner.stats();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface LogLine {
  readonly node: PeerId;
  readonly event: string;
  readonly fields: Record<string, unknown>;
}

export interface OpenOptions extends Partial<Omit<ReplicationNodeOptions, "id" | "storage" | "transport" | "clock">> {
  readonly role: ReplicationNodeOptions["role"];
}

export interface GroupOptions {
  /**
   * The persistence node `id` opens its storage from, called at every open (a reopen is a
   * restart). Default: one memoryStorage per node, kept across opens.
   */
  readonly persistence?: (id: PeerId) => Persistence;
}

export class Group {
  readonly clock = new VirtualClock({ settle: () => new Promise<void>((resolve) => setImmediate(resolve)) });
  readonly net = new SimNetwork({ clock: this.clock, rng: seededRng(7) });
  /** Each node's persistence: what it wrote survives its close and a reopen. */
  readonly #disks = new Map<PeerId, Persistence>();
  readonly nodes = new Map<PeerId, ReplicationNode>();
  /** The storage each node was last opened on. */
  readonly storages = new Map<PeerId, GatedStorage>();
  readonly log: LogLine[] = [];
  readonly #o: GroupOptions;

  constructor(o: GroupOptions = {}) {
    this.#o = o;
  }

  persistence(id: PeerId): Persistence {
    if (this.#o.persistence !== undefined) return this.#o.persistence(id);
    let disk = this.#disks.get(id);
    if (disk === undefined) {
      disk = memoryStorage();
      this.#disks.set(id, disk);
    }
    return disk;
  }

  /** Opens (or reopens, after `close`) node `id` over its persistence and a fresh transport. */
  async open(id: string, o: OpenOptions): Promise<ReplicationNode> {
    const peer = asPeerId(id);
    const storage = new GatedStorage(await this.drive(this.persistence(peer).open(DOC)));
    this.storages.set(peer, storage);
    const transport = this.net.join(peer);
    try {
      const node = await this.drive(
        ReplicationNode.open({
          ...FAST,
          log: (event, fields) => this.log.push({ node: peer, event, fields }),
          ...o,
          id: peer,
          storage,
          transport,
          clock: this.clock,
        }),
      );
      this.nodes.set(peer, node);
      return node;
    } catch (e) {
      transport.close();
      throw e;
    }
  }

  /** A clean shutdown of `node` (its storage keeps what it wrote). */
  async close(node: ReplicationNode): Promise<void> {
    await this.drive(node.close());
    this.nodes.delete(node.id);
  }

  /** Runs the virtual clock until `promise` settles (at most `maxMs` virtual ms), then returns its outcome. */
  async drive<T>(promise: Promise<T>, maxMs = 10_000): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => (settled = true));
    tracked.catch(() => undefined);
    await this.clock.runUntil(() => settled, { maxMs });
    if (!settled) throw new Error(`did not settle within ${maxMs} virtual ms`);
    return tracked;
  }

  /** Runs the virtual clock until `condition` holds; throws after `maxMs` virtual ms. */
  async until(condition: () => boolean, what: string, maxMs = 10_000): Promise<void> {
    if (!(await this.clock.runUntil(condition, { maxMs }))) throw new Error(`${what}: not within ${maxMs} virtual ms`);
  }

  /** Lets `ms` virtual ms pass. */
  async run(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /** A primary `p1` and its replica `r1` (each other's peers), connected and in step. */
  async pair(): Promise<{ p1: ReplicationNode; r1: ReplicationNode }> {
    const peers = [asPeerId("p1"), asPeerId("r1")];
    const p1 = await this.open("p1", { role: "primary", peers });
    const r1 = await this.open("r1", { role: { replicaOf: p1.id }, peers });
    await this.until(() => p1.status().replicas.some((r) => r.id === r1.id && r.fresh), "r1 connects");
    return { p1, r1 };
  }

  events(node: string, event: string): LogLine[] {
    return this.log.filter((l) => l.node === node && l.event === event);
  }

  async closeAll(): Promise<void> {
    for (const node of [...this.nodes.values()]) await this.close(node);
  }
}

/** The error `promise` rejects with (fails when it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<ConcordError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof ConcordError) return e;
    throw e;
  }
  throw new Error("expected a rejection, but the promise resolved");
}
