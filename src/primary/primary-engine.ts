/**
 * A `primary`-mode node as the node service serves it ({@link ServedEngine}, `service/engine.ts`):
 * a {@link ReplicationNode} on the file storage of the node's data folder, its reads checked for
 * staleness and session positions, its writes mapped from the client protocol, `promote` as its
 * admin request, and its status projected into `/healthz` and `/metrics` (`node-projection.ts`).
 *
 * Each document is its own keyspace of the node's one replicated state (`kv/doc-keys.ts`). A
 * primary-mode write has no conditions and no session: those are strong mode's (`InvalidArgument`).
 *
 * The node's storage appends fsync on the event loop (`blockingAppends`), as Redis's
 * `appendfsync always` does: a node is a dedicated process, and the thread-pool hand-offs cost more
 * than they save (lag p50 1.0 -> 0.75 ms in `npm run bench -- primary`).
 */
import { ConcordError, assertNever, isConcordError } from "../errors.js";
import { asDocId, type PeerId } from "../ids.js";
import { changesByDoc, docKey, docView } from "../kv/doc-keys.js";
import type { KvOp, KvWrite } from "../kv/ops.js";
import type { LogLevel, ServerLog } from "../ops/log.js";
import type { MetricFamily } from "../ops/prometheus.js";
import type { EngineContext, EngineFactory, EngineHealth, EngineListener, EngineReceipt, EngineView, EngineWrite, ServedEngine } from "../service/engine.js";
import type { AdminAction, ReadOptions, WireDurability, WirePosition, WireReadInfo } from "../service/protocol.js";
import { docFolderName, joinPath } from "../storage/file-layout.js";
import { fileStorage } from "../storage/file-storage.js";
import type { DocStorage } from "../storage/storage.js";
import { primaryHealthFields, primaryMetricFamilies } from "./node-projection.js";
import type { PrimaryRoleOptions } from "./primary-driver.js";
import type { ReplicaRoleOptions } from "./replica-driver.js";
import { ReplicationNode, type ReadInfo } from "./replication-node.js";
import { asEpoch, asLsn, type PrimaryDurability, type Position } from "./replication/types.js";

/** The document a node keeps its write-ahead log in, under its data folder. */
export const NODE_DOC = asDocId("node");

/** How a primary-mode node starts (see `ReplicationNode`): its role on an empty log, its group, its role options. */
export interface PrimaryEngineOptions {
  /** First start only (empty log): lead, or follow this primary. */
  readonly role: "primary" | { readonly replicaOf: PeerId };
  /** The other nodes of the group, told of a new epoch when this node is promoted. */
  readonly peers: readonly PeerId[];
  /** Used whenever this node leads (now or once promoted): minReplicas, maxLagMs... */
  readonly primary?: PrimaryRoleOptions;
  /** Used whenever this node follows. */
  readonly replica?: ReplicaRoleOptions;
}

/**
 * Opens a primary-mode node on `<dataDir>/node` (see {@link PrimaryEngine}).
 * @throws ConcordError `Corrupt` naming the damaged file, or for a record that does not decode the
 *   log's folder, with what to do about it; `Io` when the folder can't be used.
 */
export function primaryEngine(options: PrimaryEngineOptions): EngineFactory<PrimaryEngine> {
  return async (ctx: EngineContext) => {
    const folder = joinPath(ctx.dataDir, docFolderName(NODE_DOC));
    let storage: DocStorage | undefined;
    try {
      storage = await fileStorage(ctx.dataDir, { fsync: "always", clock: ctx.clock, blockingAppends: true }).open(NODE_DOC);
      const node = await ReplicationNode.open({
        id: ctx.id,
        storage,
        transport: ctx.transport,
        clock: ctx.clock,
        role: options.role,
        peers: options.peers,
        ...(options.primary === undefined ? {} : { primary: options.primary }),
        ...(options.replica === undefined ? {} : { replica: options.replica }),
        log: (event, fields) => logAt(ctx.log, event, fields),
      });
      return new PrimaryEngine(node);
    } catch (e) {
      await storage?.close().catch(() => undefined); // the failure to report is `e`
      throw storage !== undefined && isConcordError(e, "Corrupt") ? damagedLog(e, folder) : e;
    }
  };
}

const EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  "node.failed": "error",
  "node.listener_error": "error",
  "node.fenced": "warn",
  "node.promoted": "warn",
  "replication.bad_message": "warn",
};

/** Logs a replication or node event at the level an operator needs it: a discard is a warning. */
function logAt(log: ServerLog, event: string, fields: Record<string, unknown>): void {
  const level = event === "replica.snapshot_installed" && fields["discarded"] !== 0 ? "warn" : (EVENT_LEVELS[event] ?? "info");
  log[level](event, fields);
}

/** A {@link ReplicationNode} behind the {@link ServedEngine} port. Owns the node. */
export class PrimaryEngine implements ServedEngine {
  readonly node: ReplicationNode;

  constructor(node: ReplicationNode) {
    this.node = node;
  }

  get id(): string {
    return this.node.id;
  }

  get failure(): ConcordError | null {
    return this.node.failure;
  }

  view(doc: string): EngineView {
    return docView(() => this.node.state, doc);
  }

  freshness(): WireReadInfo {
    return wireInfo(this.node.readInfo());
  }

  /** Waits for `after` (read-your-writes, monotonic reads), then refuses a replica staler than `maxStalenessMs` with `Stale`. */
  readable(read: ReadOptions): Promise<void> | undefined {
    const after = read.after;
    if (after === null || this.node.holds(toPosition(after))) {
      this.#checkStaleness(read.maxStalenessMs);
      return undefined;
    }
    return this.node.waitFor(toPosition(after), read.timeoutMs).then(() => this.#checkStaleness(read.maxStalenessMs));
  }

  write(w: EngineWrite): Promise<EngineReceipt> {
    if (w.conditions.length > 0) throw notPrimarys("conditional writes (compare-and-set)");
    if (w.session !== null) throw notPrimarys("client sessions");
    const durability = toDurability(w.durability);
    const writes: KvWrite[] = w.ops.map((op) => (op.kind === "set" ? { kind: "set", key: docKey(w.doc, op.key), value: op.value } : { kind: "delete", key: docKey(w.doc, op.key) }));
    // A single op goes as itself; none or several as a batch (an empty batch still takes an LSN).
    const op: KvOp = writes.length === 1 ? writes[0]! : { kind: "batch", ops: writes };
    return this.node.write(op, durability).then((r) => ({ position: { epoch: r.epoch, lsn: r.lsn }, replicas: r.replicas, succeeded: true }));
  }

  holds(position: WirePosition): boolean {
    return this.node.holds(toPosition(position));
  }

  subscribe(listener: EngineListener): () => void {
    return this.node.subscribe((changes, position, how) => {
      const byDoc = changesByDoc(changes);
      // A replacement resets every subscriber's history, even where it changed nothing.
      if (how.replaced && byDoc.size === 0) listener({ doc: "", changes: [], position, bytes: 0, replaced: true });
      for (const [doc, docChanges] of byDoc) listener({ doc, changes: docChanges, position, bytes: how.bytes, replaced: how.replaced });
    });
  }

  openSession(): Promise<number> {
    return Promise.reject(notPrimarys("client sessions"));
  }

  async admin(action: AdminAction): Promise<WirePosition> {
    if (action.type !== "promote") {
      throw new ConcordError("InvalidArgument", `${action.type} is a strong-mode membership action; a primary-mode node takes only promote`, { action: action.type });
    }
    const p = await this.node.promote();
    return { epoch: p.epoch, lsn: p.lsn };
  }

  status(): Readonly<Record<string, unknown>> {
    return { ...this.node.status() };
  }

  health(): EngineHealth {
    return { serving: this.node.failure === null, fields: primaryHealthFields(this.node.status()) };
  }

  metrics(): readonly MetricFamily[] {
    return primaryMetricFamilies(this.node.status(), this.node.failure !== null);
  }

  close(): Promise<void> {
    return this.node.close();
  }

  #checkStaleness(max: number | null): void {
    if (max === null) return;
    const info = this.node.readInfo();
    if (info.role !== "replica" || info.silentMs <= max) return;
    const primary = this.node.status().primary;
    const heard = info.silentMs === Number.POSITIVE_INFINITY ? "has never heard its primary" : `last heard its primary ${Math.ceil(info.silentMs)} ms ago`;
    throw new ConcordError("Stale", `replica ${this.node.id} ${heard} (${primary}); the read allows at most ${max} ms`, {
      silentMs: info.silentMs,
      maxStalenessMs: max,
      primary,
    });
  }
}

function notPrimarys(what: string): ConcordError {
  return new ConcordError("InvalidArgument", `${what} are strong mode's: a primary-mode node orders plain writes`, { what });
}

function toPosition(p: WirePosition): Position {
  return { epoch: asEpoch(p.epoch), lsn: asLsn(p.lsn) };
}

function toDurability(d: WireDurability): PrimaryDurability {
  switch (d.level) {
    case "local":
      return "local";
    case "replicas":
      return { replicas: d.n };
    case "committed":
      throw new ConcordError("InvalidArgument", `durability "committed" is strong mode's level; a primary-mode node takes "local" or { replicas: n }`, {
        durability: d.level,
      });
    default:
      return assertNever(d, "durability");
  }
}

/** `silentMs` on the wire: -1 for never heard, otherwise whole ms rounded up (a real clock has fractions). */
function wireInfo(info: ReadInfo): WireReadInfo {
  return {
    role: info.role,
    position: info.position,
    lagLsn: info.lagLsn,
    silentMs: info.silentMs === Number.POSITIVE_INFINITY ? -1 : Math.ceil(info.silentMs),
  };
}

/**
 * `e`, a record of the node's log that does not decode, with the folder it is in and what to do
 * about it. (A checksum failure is refused by the file storage, naming the file, before this.)
 */
function damagedLog(e: ConcordError, folder: string): ConcordError {
  return new ConcordError(
    "Corrupt",
    `${folder}: ${e.message}. The node's write-ahead log is damaged: restore the folder from a backup, or move it aside and start this node as a replica of the current primary (it copies the primary's state; writes only this node held are lost)`,
    { ...e.details, folder },
    { cause: e },
  );
}
