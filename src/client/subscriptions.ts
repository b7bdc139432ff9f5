/**
 * The subscriptions of a node-backed client. They are served by one node at a time (the writer,
 * which may change, or one node the mode's face names) and converge to that node's state across
 * disconnects and changes of node, each change heard once, in order.
 *
 * A subscription takes effect when `subscribe` returns: it starts from the newest position the
 * client knew of its group then (`from`; a connection's `hello`, a write's acknowledgement, a
 * read), and the node replays every change after it that it still holds (`service/change-feed.ts`,
 * like an etcd watch from a revision), so a write another client makes once `subscribe` returned is
 * heard, whenever the subscription reaches the node. Each placement on a connection sends
 * `subscribe` from the position the subscriber has heard up to (the last change told, or the
 * position the node answered the previous placement with), so a reconnect replays what the
 * subscriber missed while away.
 *
 * When the node no longer holds that past (its history is bounded; a failover discarded it), the
 * subscription catches up by difference: each subscription keeps what its subscriber knows (the
 * entries under its prefix as of the last change it heard), and each placement sends, back to back,
 * `subscribe` then `entries(prefix)`. The node answers them in that order and pushes every change
 * through the same connection as it applies it, so the `entries` answer holds exactly the changes
 * pushed before it (`node-service.ts`). The subscriber hears the difference between what it knew
 * and the snapshot (a set for each new or changed key, a delete for each removed one; one event,
 * in key order): what changed while it was away, its intermediate values lost. When the replay
 * worked the difference is empty. The link hands over each answer and push synchronously, in frame
 * order (`node-link.ts`), so a push that follows the snapshot on the wire is never counted into it.
 *
 * The snapshot is the serving node's state as it is, not `after` a position the subscription saw:
 * a position seen on an old primary may have been discarded in a failover, and the subscriber must
 * then hear that those changes are gone rather than wait for them forever.
 *
 * Memory: each subscription holds a copy of the entries under its prefix (the values are the
 * decoded, frozen ones of the answers, shared with what the subscriber was handed), and each
 * placement reads them all once: a subscription to the whole store costs the whole store, on
 * every reconnect.
 *
 * Not guaranteed: a subscription made while its node was never reached starts from where the node
 * is when it is first reached (no position was known); the intermediate values of keys changed
 * while the link was down are lost when the node no longer holds them; a subscription whose
 * snapshot read fails other than by its link going down is reported to `onError` and goes on with
 * the pushes alone until its next placement.
 */
import { isConcordError } from "../errors.js";
import type { Json } from "../json.js";
import { KvState } from "../kv/kv-state.js";
import type { KvWrite } from "../kv/ops.js";
import type { WirePosition } from "../service/protocol.js";
import type { Change, ChangeListener } from "../store.js";
import type { Changes, NodeLink } from "./node-link.js";
import { newer } from "./session.js";

interface Subscription {
  readonly prefix: string;
  readonly listener: ChangeListener;
  active: boolean;
  /** Bumped at each placement: answers to an older placement are ignored. */
  placement: number;
  /** The node's id for it on the current connection, once subscribed. */
  serverId: number | undefined;
  /**
   * `placing` until the node answers `subscribed`; `syncing` until the snapshot; `live` after.
   * `unplaced` while the serving link is not open or the node refused it.
   */
  phase: "unplaced" | "placing" | "syncing" | "live";
  /** What the subscriber knows; undefined until a first snapshot. */
  known: KvState | undefined;
  /** The position the subscriber has heard every change up to (where the next placement starts from); null when none was known. */
  heard: WirePosition | null;
  /** The node's position when it took the current placement; the subscriber has heard up to it once the placement's snapshot came. */
  placedAt: WirePosition | null;
}

/** Options of {@link Subscriptions}. */
export interface SubscriptionsOptions {
  /** The document subscribed to. */
  readonly doc: string;
  /** The link that serves subscriptions at first. */
  readonly link: NodeLink;
  /** The newest position the client knows of its group (where a new subscription starts), or null. */
  readonly known: () => WirePosition | null;
  /** Bound of each request, ms. */
  readonly timeoutMs: number;
  /** Hears a throwing subscriber and a subscription that could not be placed or caught up. */
  readonly onError: (error: unknown) => void;
}

/** Every subscription of one client (see the module comment). */
export class Subscriptions {
  readonly #o: SubscriptionsOptions;
  readonly #all = new Set<Subscription>();
  /** Subscriptions by the serving node's id for them, on the current connection. */
  readonly #byServerId = new Map<number, Subscription>();
  #link: NodeLink;

  constructor(o: SubscriptionsOptions) {
    this.#o = o;
    this.#link = o.link;
  }

  /** The link that serves the subscriptions now. */
  get link(): NodeLink {
    return this.#link;
  }

  /** Adds a subscription, placed now if the serving link is open (else on its next connection). Returns its unsubscribe function. */
  add(prefix: string, listener: ChangeListener): () => void {
    const sub: Subscription = { prefix, listener, active: true, placement: 0, serverId: undefined, phase: "unplaced", known: undefined, heard: this.#o.known(), placedAt: null };
    this.#all.add(sub);
    if (this.#link.state === "open") this.#place(sub);
    return () => {
      if (!sub.active) return;
      sub.active = false;
      this.#all.delete(sub);
      this.#release(sub, this.#link);
    };
  }

  /** A connection of `url` opened (its node knows none of our subscriptions). Runs before the requests queued for it. */
  connected(url: string): void {
    if (url !== this.#link.url) return;
    this.#byServerId.clear();
    for (const sub of this.#all) this.#place(sub);
  }

  /** A push from `url`: dropped unless from the serving link, for a subscription it serves. Never throws. */
  pushed(url: string, c: Changes): void {
    if (url !== this.#link.url) return;
    const sub = this.#byServerId.get(c.subscription);
    if (sub === undefined || !sub.active) return;
    if (sub.phase !== "syncing" && sub.phase !== "live") return;
    // While syncing, the snapshot to come holds this change too: counted as known now, it is not
    // in the difference the snapshot tells.
    this.#guard(() => sub.known?.apply({ kind: "batch", ops: c.changes.map(asWrite) }));
    sub.heard = newer(sub.heard ?? undefined, c.position);
    this.#tell(sub, c.changes);
  }

  /** Serves every subscription from `link` from now on: released at the old node, placed (and caught up) at the new one. */
  moveTo(link: NodeLink): void {
    const old = this.#link;
    if (link === old) return;
    for (const sub of this.#all) this.#release(sub, old);
    this.#byServerId.clear();
    this.#link = link;
    for (const sub of this.#all) {
      sub.placement++;
      sub.phase = "unplaced";
      if (link.state === "open") this.#place(sub);
    }
  }

  /** Drops every subscription, telling no node (the links are closing). */
  clear(): void {
    for (const sub of this.#all) sub.active = false;
    this.#all.clear();
    this.#byServerId.clear();
  }

  #place(sub: Subscription): void {
    const link = this.#link;
    const placement = ++sub.placement;
    const current = (): boolean => sub.active && sub.placement === placement && this.#link === link;
    sub.serverId = undefined;
    sub.phase = "placing";
    sub.placedAt = null;
    const t = this.#o.timeoutMs;
    link
      .request({ type: "subscribe", doc: this.#o.doc, prefix: sub.prefix, from: sub.heard }, t, (a) => {
        if (a.type !== "subscribed") return;
        if (!current()) {
          void link.request({ type: "unsubscribe", subscription: a.subscription }, t).catch(() => undefined);
          return;
        }
        sub.serverId = a.subscription;
        sub.phase = "syncing";
        // Replayed or not, the subscriber has heard up to this position once the snapshot that
        // follows the replayed pushes came (the difference tells what a replay could not).
        sub.placedAt = a.position;
        this.#byServerId.set(a.subscription, sub);
      })
      .catch((e: unknown) => {
        if (!current()) return;
        sub.phase = "unplaced";
        // Down or closed: the next connection places it again. Anything else is worth reporting.
        if (!linkGone(e)) this.#o.onError(e);
      });
    link
      .request({ type: "entries", doc: this.#o.doc, prefix: sub.prefix, read: { consistency: "local", maxStalenessMs: null, after: null, timeoutMs: t } }, t, (a) => {
        if (a.type !== "entries" || !current() || sub.phase !== "syncing") return;
        this.#guard(() => this.#caughtUp(sub, a.entries));
      })
      .catch((e: unknown) => {
        if (!current() || sub.phase !== "syncing" || linkGone(e)) return;
        sub.phase = "live";
        this.#o.onError(e);
      });
  }

  /** The snapshot of a placement: the subscriber hears what changed since what it knew. */
  #caughtUp(sub: Subscription, entries: readonly (readonly [string, Json])[]): void {
    const next = new KvState();
    next.apply({ kind: "batch", ops: entries.map(([key, value]): KvWrite => ({ kind: "set", key, value })) });
    const before = sub.known;
    sub.known = next;
    sub.phase = "live";
    if (sub.placedAt !== null) sub.heard = newer(sub.heard ?? undefined, sub.placedAt);
    if (before === undefined) return;
    const missed = before.diff(next);
    if (missed.length > 0) this.#tell(sub, missed);
  }

  /** Unsubscribes `sub` at the node of `link`, if it holds it. */
  #release(sub: Subscription, link: NodeLink): void {
    const id = sub.serverId;
    sub.serverId = undefined;
    if (id === undefined) return;
    this.#byServerId.delete(id);
    void link.request({ type: "unsubscribe", subscription: id }, this.#o.timeoutMs).catch(() => undefined);
  }

  #tell(sub: Subscription, changes: readonly Change[]): void {
    this.#guard(() => sub.listener({ changes, origin: "remote" }));
  }

  /** Runs `f`, reporting what it throws: the link's callbacks MUST NOT throw. */
  #guard(f: () => unknown): void {
    try {
      f();
    } catch (e) {
      this.#o.onError(e);
    }
  }
}

function asWrite(c: Change): KvWrite {
  return c.value === undefined ? { kind: "delete", key: c.key } : { kind: "set", key: c.key, value: c.value };
}

function linkGone(e: unknown): boolean {
  return isConcordError(e, "Unavailable") || isConcordError(e, "Closed");
}
