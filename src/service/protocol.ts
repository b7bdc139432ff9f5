/**
 * The client protocol of Concord's node service, shared by `primary` and `strong` mode: what a
 * client sends a node and what the node answers, as values. `protocol-codec.ts` puts them on the
 * wire (versioned, canonical binary, one message per WebSocket frame).
 *
 * Requests carry a client-chosen `id`; every request gets exactly one response with that id
 * (a result or an `error`), in any order. `changes` are pushed for a subscription, unprompted.
 *
 * Every document (`doc`, 1 to 255 UTF-16 code units) is its own keyspace on the nodes: a key
 * written in one document is never seen in another.
 */
import type { ErrorCode } from "../errors.js";
import type { Json } from "../json.js";

/** A position in a node's history: the term of office (epoch or Raft term) and the log index (LSN). */
export interface WirePosition {
  readonly epoch: number;
  readonly lsn: number;
}

/**
 * What a read must be:
 * - `linearizable`: it reflects every write acknowledged before it was sent (strong mode's
 *   ReadIndex; on a primary-mode node, every read is served from the node's state as it is);
 * - `local`: served from the node's state as it is, possibly stale (strong mode's "serializable"
 *   reads, etcd's `--consistency=s`; any node of the group answers).
 */
export type ReadConsistency = "linearizable" | "local";

/** How stale a read may be, and what it must include. */
export interface ReadOptions {
  readonly consistency: ReadConsistency;
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

/**
 * A test of a key's value at the moment a write applies (etcd's Txn compares): `absent` (no value),
 * `present` (any value), `equals` (a JSON-equal value). A write whose conditions all hold applies
 * its `ops`; otherwise it changes nothing and answers `succeeded: false`.
 */
export type WriteCondition =
  | { readonly test: "absent"; readonly key: string }
  | { readonly test: "present"; readonly key: string }
  | { readonly test: "equals"; readonly key: string; readonly value: Json };

/**
 * A write's place in a client session (strong mode, Raft thesis 6.3): the session the client opened
 * (`open-session`), the write's sequence number in it (from 1, one per write, retries keep theirs),
 * and the lowest sequence number whose answer the client still waits for (every write below it was
 * answered, so the node may forget their answers). A write sent again with the same `session` and
 * `seq` is applied at most once: a retry is answered with the first delivery's outcome.
 */
export interface WireSession {
  readonly id: number;
  readonly seq: number;
  readonly firstUnacked: number;
}

/**
 * An operator's request, refused unless the connection may administer the node:
 * - `promote` (primary mode): make this replica the primary of a new epoch; the old primary is
 *   fenced once it hears of it. Refused on a primary, during another role change, on a closed or
 *   failed node.
 * - `add-learner` (strong mode): add `node`, reachable at `url`, as a non-voting member that
 *   receives the log; `promote-learner`: make a caught-up learner a voter; `remove`: remove a
 *   member (the leader itself included); `transfer`: hand leadership to `node`. One membership
 *   change at a time.
 */
export type AdminAction =
  | { readonly type: "promote" }
  | { readonly type: "add-learner"; readonly node: string; readonly url: string }
  | { readonly type: "promote-learner"; readonly node: string }
  | { readonly type: "remove"; readonly node: string }
  | { readonly type: "transfer"; readonly node: string };

export type Request =
  | { readonly type: "get"; readonly id: number; readonly doc: string; readonly key: string; readonly read: ReadOptions }
  | { readonly type: "entries"; readonly id: number; readonly doc: string; readonly prefix: string; readonly read: ReadOptions }
  /** `ops` applied atomically, in order, when every one of `conditions` holds (none: always). */
  | {
      readonly type: "write";
      readonly id: number;
      readonly doc: string;
      readonly conditions: readonly WriteCondition[];
      readonly ops: readonly WriteOp[];
      readonly durability: WireDurability;
      readonly session: WireSession | null;
    }
  /**
   * Changes to keys of `doc` under `prefix` from now on; with `from`, every change after that
   * position too, when the node still holds them (`subscribed.replayed`).
   */
  | { readonly type: "subscribe"; readonly id: number; readonly doc: string; readonly prefix: string; readonly from: WirePosition | null }
  | { readonly type: "unsubscribe"; readonly id: number; readonly subscription: number }
  | { readonly type: "status"; readonly id: number }
  /** The first request of a connection: who the node is and where its state is. */
  | { readonly type: "hello"; readonly id: number }
  /** Opens a client session (strong mode) for exactly-once writes. */
  | { readonly type: "open-session"; readonly id: number }
  | { readonly type: "admin"; readonly id: number; readonly action: AdminAction };

export type Response =
  | { readonly type: "value"; readonly id: number; readonly value: Json | undefined; readonly info: WireReadInfo }
  | { readonly type: "entries"; readonly id: number; readonly entries: readonly (readonly [string, Json])[]; readonly info: WireReadInfo }
  /** `succeeded`: the write's conditions held and its ops were applied (always true without conditions). */
  | { readonly type: "written"; readonly id: number; readonly position: WirePosition; readonly replicas: readonly string[]; readonly succeeded: boolean }
  /**
   * A subscription in place, at `position` (the node's state when it took it). `replayed`: the
   * changes after the request's `from` up to `position` were pushed before this answer; false when
   * the node no longer holds them (or `from` was not on its history), so the client must catch up
   * another way (an `entries` read).
   */
  | { readonly type: "subscribed"; readonly id: number; readonly subscription: number; readonly position: WirePosition; readonly replayed: boolean }
  | { readonly type: "unsubscribed"; readonly id: number }
  /** The node's status as JSON (shape per mode; for people and dashboards). */
  | { readonly type: "status"; readonly id: number; readonly status: Json }
  /** The answer to `hello`: the node's id and the position its state is at. */
  | { readonly type: "welcome"; readonly id: number; readonly node: string; readonly position: WirePosition }
  | { readonly type: "session-opened"; readonly id: number; readonly session: number }
  /**
   * An admin action done. `position`: for `promote`, the new epoch and the last record the node
   * held when promoted (the new epoch's first record is the next LSN); for a membership change,
   * where it was committed; for `transfer`, the term the new leader leads.
   */
  | { readonly type: "admin-done"; readonly id: number; readonly position: WirePosition }
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
