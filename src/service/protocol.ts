/**
 * The client protocol of Concord's node service, shared by `primary` mode and (later) `strong`
 * mode: what a client sends a node and what the node answers, as values. `protocol-codec.ts` puts
 * them on the wire (versioned, canonical binary, one message per WebSocket frame).
 *
 * Requests carry a client-chosen `id`; every request gets exactly one response with that id
 * (a result or an `error`), in any order. `changes` are pushed for a subscription, unprompted.
 */
import type { ErrorCode } from "../errors.js";
import type { Json } from "../json.js";

/** A position in a node's history: the term of office (epoch or Raft term) and the log index (LSN). */
export interface WirePosition {
  readonly epoch: number;
  readonly lsn: number;
}

/** How stale a read may be, and what it must include. */
export interface ReadOptions {
  /** Answer `Stale` rather than old data when the node last heard its primary longer ago. */
  readonly maxStalenessMs: number | null;
  /** Read-your-writes / monotonic reads: wait until the node's state includes this position. */
  readonly after: WirePosition | null;
  /** How long to wait for `after` before answering `Timeout`. */
  readonly timeoutMs: number;
}

/** Where a read was served and how fresh it is (see ReadInfo in primary/replication-node.ts). */
export interface WireReadInfo {
  readonly role: "primary" | "replica" | "leader" | "follower";
  readonly position: WirePosition;
  /** Records behind the primary as last heard (0 on the primary). */
  readonly lagLsn: number;
  /** ms since the primary was last heard (0 on the primary; -1 when never). */
  readonly silentMs: number;
}

/** What a write must reach: `local` (the primary's disk), `replicas` (n replicas' disks), `committed` (a Raft quorum). */
export type WireDurability = { readonly level: "local" } | { readonly level: "replicas"; readonly n: number } | { readonly level: "committed" };

export type WriteOp = { readonly kind: "set"; readonly key: string; readonly value: Json } | { readonly kind: "delete"; readonly key: string };

export type Request =
  | { readonly type: "get"; readonly id: number; readonly key: string; readonly read: ReadOptions }
  | { readonly type: "entries"; readonly id: number; readonly prefix: string; readonly read: ReadOptions }
  /** One or more writes applied atomically, in order. */
  | { readonly type: "write"; readonly id: number; readonly ops: readonly WriteOp[]; readonly durability: WireDurability }
  | { readonly type: "subscribe"; readonly id: number; readonly prefix: string }
  | { readonly type: "unsubscribe"; readonly id: number; readonly subscription: number }
  | { readonly type: "status"; readonly id: number }
  /**
   * Admin: make this node (a replica) the primary of a new epoch (ReplicationNode.promote). The
   * old primary is fenced once it hears of the new epoch. Refused (`error`) on a primary, during
   * another role change, or on a closed or failed node.
   */
  | { readonly type: "promote"; readonly id: number };

export type Response =
  | { readonly type: "value"; readonly id: number; readonly value: Json | undefined; readonly info: WireReadInfo }
  | { readonly type: "entries"; readonly id: number; readonly entries: readonly (readonly [string, Json])[]; readonly info: WireReadInfo }
  | { readonly type: "written"; readonly id: number; readonly position: WirePosition; readonly replicas: readonly string[] }
  | { readonly type: "subscribed"; readonly id: number; readonly subscription: number; readonly position: WirePosition }
  | { readonly type: "unsubscribed"; readonly id: number }
  /** The node's status as JSON (shape per mode; for people and dashboards). */
  | { readonly type: "status"; readonly id: number; readonly status: Json }
  /**
   * A promotion done: `position.epoch` is the new epoch this node now leads, `position.lsn` the
   * last record it held when promoted (the new epoch's first record is the next LSN).
   */
  | { readonly type: "promoted"; readonly id: number; readonly position: WirePosition }
  /**
   * A refusal or failure with a stable code. `redirect` names where to go instead (the primary
   * for `ReadOnlyReplica`/`Fenced`, the leader for `NotLeader`), when known.
   */
  | { readonly type: "error"; readonly id: number; readonly code: ErrorCode; readonly message: string; readonly redirect: string | null }
  /** Pushed: keys a subscription covers changed at `position` (value undefined = deleted). */
  | {
      readonly type: "changes";
      readonly subscription: number;
      readonly position: WirePosition;
      readonly changes: readonly { readonly key: string; readonly value: Json | undefined }[];
    };

export type RequestType = Request["type"];
export type ResponseType = Response["type"];
