/**
 * The pure sync core of `eventual` mode: the y-websocket protocol over one `Y.Doc`, for any
 * datagram transport. The same code runs on every replica (mesh peer, client, server): every
 * replica answers sync requests and forwards each update and presence change it learns to its
 * other peers, as the y-websocket server does.
 *
 * Inputs: {@link SyncCore.peerUp}, {@link SyncCore.peerDown}, {@link SyncCore.receive},
 * {@link SyncCore.tick}, {@link SyncCore.setLocalAwareness}, and edits to the doc itself.
 * Output: {@link SyncCore.takeOutbox}, which the driver drains and sends after every input.
 * No I/O, no clock: time is the number of `tick()` calls.
 */
import * as Y from "yjs";
import { ConcordError, assertNever, isConcordError } from "../../errors.js";
import type { PeerId } from "../../ids.js";
import { AwarenessState, changedClients, type AwarenessChange, type AwarenessView } from "./awareness.js";
import type { Json } from "../../json.js";
import { CONCORD_PROTOCOL_VERSION, decodeMessage, encodeMessage } from "./protocol.js";

/** Re-send sync step 1 to every peer this often, in ticks (anti-entropy). */
export const DEFAULT_RESYNC_EVERY_TICKS = 10;
/** Drop remote presence not renewed for this many ticks (y-protocols' 30 s at 100 ms per tick). */
export const DEFAULT_AWARENESS_TIMEOUT_TICKS = 300;
/** Refuse incoming messages above this size (the `ws` library's default `maxPayload`, 100 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024;

/** Options of a {@link SyncCore}. Ticks are whatever period the driver calls `tick()` with. */
export interface SyncCoreOptions {
  /**
   * Re-send sync step 1 to every up peer every this many ticks; convergence over a lossy network
   * (after a heal, after lost messages) relies on it. `0` disables it (for a reliable transport).
   * Default {@link DEFAULT_RESYNC_EVERY_TICKS}.
   */
  readonly resyncEveryTicks?: number;
  /**
   * Remote presence not renewed within this many ticks is dropped; our own is renewed after half of
   * it. At least 2. Default {@link DEFAULT_AWARENESS_TIMEOUT_TICKS}.
   */
  readonly awarenessTimeoutTicks?: number;
  /** Incoming messages larger than this are refused with `TooLarge`. Default {@link DEFAULT_MAX_MESSAGE_BYTES}. */
  readonly maxMessageBytes?: number;
  /**
   * Concord's durability acks (extension messages, see `protocol.ts`):
   * - `"off"` (default): never sends or answers extension messages;
   * - `"initiate"` (a client): greets every peer that comes up with `concord-hello`;
   * - `"reply"` (a server): greets only peers that greeted it, so stock clients never see extensions.
   * A peer that greeted gets `concord-ack(n)` after each update-bearing message it sent, queued right
   * after the update was applied: a driver that holds each ack ({@link OutboundMessage.ack}) until
   * what was appended before it is durable (ours does) thus acks only what is durable. Acks count messages, so they are sound only over a transport that delivers each
   * connection's messages in order and without loss (a WebSocket), never over a lossy one.
   */
  readonly acks?: "off" | "initiate" | "reply";
  /**
   * Called with an update from a peer that left content parked in Yjs (missing dependencies: in
   * `doc.store.pendingStructs` / `pendingDs`). Parked content integrates only when what it depends
   * on arrives, so it emits no doc `update` event now: a driver that persists what it acknowledges
   * MUST persist `update` itself (as received; applying it again later is idempotent). Called
   * synchronously, after the update was applied and before any ack for it is queued.
   */
  readonly onParked?: (update: Uint8Array, peer: PeerId) => void;
}

/** What the core knows of the current connection to a peer. A new one starts at every `peerUp`. */
export interface LinkView {
  /** Increases at every `peerUp` of any peer: tells connections apart. */
  readonly epoch: number;
  /** The peer greeted us with `concord-hello`: it acks what it stores. */
  readonly greeted: boolean;
  /** Update-bearing messages (sync step 2, updates) queued to the peer on this connection. */
  readonly sent: number;
  /** The number (1-based, in `sent`) of our first step 2 on this connection: it carries everything made before it. */
  readonly firstStep2: number | undefined;
  /** The peer durably holds our first `acked` update-bearing messages of this connection. */
  readonly acked: number;
  /** We received the peer's sync step 2 on this connection: the initial handshake is done. */
  readonly synced: boolean;
}

/**
 * Called when a connection advanced: the peer acked more, or its handshake completed (`synced`).
 * MUST NOT throw or call back into the core.
 */
export type LinkListener = (peer: PeerId, link: LinkView) => void;

interface Link {
  readonly epoch: number;
  greeted: boolean;
  helloSent: boolean;
  sent: number;
  firstStep2: number | undefined;
  acked: number;
  synced: boolean;
  /** Update-bearing messages received from the peer on this connection and applied. */
  received: number;
}

/** One datagram to send. `bytes` may be shared between messages to several peers: do not mutate. */
export interface OutboundMessage {
  readonly to: PeerId;
  readonly bytes: Uint8Array;
  /**
   * The connection (link epoch) it was queued for; `undefined` for a peer that is not up. A driver
   * that holds messages (persist before send) MUST drop one whose connection is gone by the time
   * it sends: on the next connection it would break the acks' message count, and that connection's
   * handshake resends everything anyway.
   */
  readonly epoch: number | undefined;
  /**
   * A `concord-ack`: it tells the peer that what it sent is stored here, so a driver MUST NOT send
   * it before everything applied when it was queued is durable (whatever else it holds back).
   */
  readonly ack?: true;
}

/**
 * The transaction origin of every update the core applies from a peer. The object is the same for
 * as long as the peer stays up, so a driver can compare it; {@link isRemoteOrigin} recognises it.
 */
export class PeerOrigin {
  constructor(readonly peer: PeerId) {}
}

/** True when a Yjs transaction origin marks an update a {@link SyncCore} received from a peer. */
export function isRemoteOrigin(origin: unknown): origin is PeerOrigin {
  return origin instanceof PeerOrigin;
}

/** Why presence changed. */
export type AwarenessCause =
  | { readonly kind: "local" }
  | { readonly kind: "remote"; readonly peer: PeerId }
  | { readonly kind: "peer-down"; readonly peer: PeerId }
  | { readonly kind: "timeout" };

/**
 * Called after presence visibly changed (something added, updated or removed; pure renewals are not
 * reported). MUST NOT throw and MUST NOT call back into the core.
 */
export type AwarenessListener = (change: AwarenessChange, cause: AwarenessCause) => void;

/**
 * The sync state machine of one replica of one document.
 *
 * Every update of the doc (a local transaction, a direct `Y.Doc` edit by the app, an update
 * integrated from a peer) is queued as a sync `update` to every up peer except the one it came from.
 * Yjs emits an update only when something new was integrated, so forwarding stops by itself in
 * meshes with cycles; likewise presence is forwarded only when it advanced. Updates with missing
 * dependencies wait in Yjs (`doc.store.pendingStructs`) and integrate when those arrive.
 *
 * Not guaranteed: delivery. Messages may be lost; periodic step-1 resyncs repair that. One core per
 * doc: the core treats every {@link PeerOrigin} as "came from that peer".
 */
export class SyncCore {
  readonly doc: Y.Doc;
  readonly #awareness: AwarenessState;
  readonly #resyncEveryTicks: number;
  readonly #awarenessTimeoutTicks: number;
  readonly #maxMessageBytes: number;
  readonly #acks: "off" | "initiate" | "reply";
  readonly #onParked: ((update: Uint8Array, peer: PeerId) => void) | undefined;
  /** Up peers and the origin used for their updates. */
  readonly #peers = new Map<PeerId, PeerOrigin>();
  /** The current connection to each up peer. */
  readonly #links = new Map<PeerId, Link>();
  #epoch = 0;
  readonly #listeners = new Set<AwarenessListener>();
  readonly #linkListeners = new Set<LinkListener>();
  #outbox: OutboundMessage[] = [];
  #now = 0;
  #destroyed = false;

  /**
   * Attaches to `doc` (listens to its updates until {@link destroy}). Our presence client id is
   * `doc.clientID` at this moment. Throws `InvalidArgument` for options out of range.
   */
  constructor(doc: Y.Doc, options: SyncCoreOptions = {}) {
    this.doc = doc;
    this.#resyncEveryTicks = option("resyncEveryTicks", options.resyncEveryTicks, DEFAULT_RESYNC_EVERY_TICKS, 0);
    this.#awarenessTimeoutTicks = option("awarenessTimeoutTicks", options.awarenessTimeoutTicks, DEFAULT_AWARENESS_TIMEOUT_TICKS, 2);
    this.#maxMessageBytes = option("maxMessageBytes", options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 1);
    const acks = options.acks ?? "off";
    if (acks !== "off" && acks !== "initiate" && acks !== "reply") {
      throw new ConcordError("InvalidArgument", `SyncCore option acks must be "off", "initiate" or "reply", got ${String(acks)}`);
    }
    this.#acks = acks;
    this.#onParked = options.onParked;
    this.#awareness = new AwarenessState(doc.clientID);
    doc.on("update", this.#onDocUpdate);
  }

  /** Presence as known here (read-only; change ours with {@link setLocalAwareness}). */
  get awareness(): AwarenessView {
    return this.#awareness;
  }

  /** Peers currently up, in the order they came up. */
  peers(): PeerId[] {
    return [...this.#peers.keys()];
  }

  /**
   * `peer` became reachable: queues our sync step 1 to it, then every presence state we know. Calling
   * it for a peer already up restarts the sync with it (same origin object).
   */
  peerUp(peer: PeerId): void {
    if (this.#destroyed) return;
    if (!this.#peers.has(peer)) this.#peers.set(peer, new PeerOrigin(peer));
    const link: Link = {
      epoch: ++this.#epoch,
      greeted: false,
      helloSent: false,
      sent: 0,
      firstStep2: undefined,
      acked: 0,
      synced: false,
      received: 0,
    };
    this.#links.set(peer, link);
    if (this.#acks === "initiate") this.#hello(peer, link);
    this.#send(peer, this.#step1());
    // Only the new peer needs it; to the others this is an invisible renewal.
    this.#awareness.reannounceLocal(this.#now);
    const known = this.#awareness.states();
    if (known.size > 0) this.#send(peer, this.#awarenessMessage(known.keys()));
  }

  /**
   * `peer` is gone: forgets it, drops messages still queued to it, removes the presence it introduced
   * and queues that removal to the other peers.
   */
  peerDown(peer: PeerId): void {
    if (this.#destroyed || !this.#peers.delete(peer)) return;
    this.#links.delete(peer);
    this.#outbox = this.#outbox.filter((m) => m.to !== peer);
    this.#publishAwareness(this.#awareness.peerDown(peer), { kind: "peer-down", peer });
  }

  /**
   * Handles one message from `peer`. Never throws for bad input: returns the error the driver should
   * act on.
   * - `Protocol` / `TooLarge`: the peer sent something malformed or oversized; close that connection.
   *   Nothing of such a message reaches the doc (see `validateUpdate`). Also returned when Yjs throws
   *   while integrating an update that passed validation: an app observer that threw (the update is
   *   applied), or a forged update whose cross-client references contradict the doc (Yjs may have
   *   applied part of it; no check short of integrating can see that).
   * - `Unauthorized`: the peer denied us access (y-websocket auth message).
   *
   * Step 1 is answered with step 2 (what the peer lacks); step 2 and updates are applied with the
   * peer's {@link PeerOrigin}; presence is applied and forwarded; query-awareness is answered with
   * all known states; unknown message types are ignored.
   *
   * A message from a peer that is not up (e.g. still in flight after `peerDown`) is still applied to
   * the doc, and a step 1 from it is answered with step 2 AND our step 1 (we never sent it one); its
   * presence and queries are ignored since `peerDown` could never clean them up.
   */
  receive(peer: PeerId, bytes: Uint8Array): ConcordError | undefined {
    if (this.#destroyed) return undefined;
    let m;
    try {
      m = decodeMessage(bytes, { maxBytes: this.#maxMessageBytes });
    } catch (e) {
      if (isConcordError(e)) return e;
      throw e;
    }
    const origin = this.#peers.get(peer);
    const link = this.#links.get(peer);
    switch (m.type) {
      case "sync-step1":
        this.#sendUpdate(peer, encodeMessage({ type: "sync-step2", update: Y.encodeStateAsUpdate(this.doc, m.stateVector) }), true);
        if (origin === undefined) this.#send(peer, this.#step1());
        return undefined;
      case "sync-step2":
      case "sync-update": {
        const error = this.#applyUpdate(m.update, origin ?? new PeerOrigin(peer));
        if (error === undefined && link !== undefined) {
          link.received++;
          // Queued after the update was applied and persisted (what integrated through the doc's
          // update event, what Yjs parked through `onParked`): a persist-before-send driver
          // releases the ack only once all of it is durable.
          if (link.greeted) this.#outbox.push({ to: peer, bytes: encodeMessage({ type: "concord-ack", received: link.received }), epoch: link.epoch, ack: true });
          if (m.type === "sync-step2" && !link.synced) {
            link.synced = true;
            this.#linkChanged(peer, link);
          }
        }
        return error;
      }
      case "concord-hello":
        if (link !== undefined && this.#acks !== "off") {
          link.greeted = true;
          if (!link.helloSent) {
            this.#hello(peer, link);
            // Ask again for what the peer has: if our step 1 of `peerUp` reached it before it
            // listened, its first step 2 (what acks of a handshake wait for) would wait for a resync.
            this.#send(peer, this.#step1());
          }
        }
        return undefined;
      case "concord-ack":
        if (link === undefined || this.#acks === "off") return undefined;
        if (m.received > link.sent) {
          return new ConcordError("Protocol", `peer ${peer} acked ${m.received} messages but was sent ${link.sent} on this connection`, {
            peer,
          });
        }
        if (m.received > link.acked) {
          link.acked = m.received;
          this.#linkChanged(peer, link);
        }
        return undefined;
      case "awareness":
        if (origin !== undefined) {
          const change = this.#awareness.applyEntries(m.entries, this.#now, peer);
          this.#publishAwareness(change, { kind: "remote", peer });
        }
        return undefined;
      case "query-awareness": {
        const known = this.#awareness.states();
        if (origin !== undefined && known.size > 0) this.#send(peer, this.#awarenessMessage(known.keys()));
        return undefined;
      }
      case "auth-denied":
        return new ConcordError("Unauthorized", `peer ${peer} denied access: ${m.reason}`, { peer, reason: m.reason });
      case "concord-auth": // the server's admission consumes it before the room; a late one means nothing
      case "unknown":
        return undefined;
      default:
        return assertNever(m, "message");
    }
  }

  /**
   * Advances time by one tick: every `resyncEveryTicks` re-sends step 1 to every up peer; renews our
   * presence when half the awareness timeout has passed; drops remote presence past the timeout and
   * queues those removals to every peer.
   */
  tick(): void {
    if (this.#destroyed) return;
    this.#now++;
    if (this.#resyncEveryTicks > 0 && this.#now % this.#resyncEveryTicks === 0 && this.#peers.size > 0) {
      const step1 = this.#step1();
      for (const peer of this.#peers.keys()) this.#send(peer, step1);
    }
    this.#publishAwareness(this.#awareness.renewLocal(this.#now, this.#awarenessTimeoutTicks), { kind: "local" });
    this.#publishAwareness(this.#awareness.outdated(this.#now, this.#awarenessTimeoutTicks), { kind: "timeout" });
  }

  /**
   * Sets our presence (`null` removes it) and queues it to every up peer. Throws `InvalidValue` if
   * `state` is not JSON. Before {@link destroy}, a driver that leaves SHOULD set `null` and
   * drain the outbox, so peers drop us at once instead of after the timeout.
   */
  setLocalAwareness(state: Json): void {
    if (this.#destroyed) return;
    this.#publishAwareness(this.#awareness.setLocalState(state, this.#now), { kind: "local" });
  }

  /** The current connection to `peer`, or `undefined` if it is not up. A live view: read, don't keep. */
  link(peer: PeerId): LinkView | undefined {
    return this.#links.get(peer);
  }

  /** Registers a connection listener (acks, handshakes); returns the function that unregisters it. */
  onLinkChange(listener: LinkListener): () => void {
    this.#linkListeners.add(listener);
    return () => this.#linkListeners.delete(listener);
  }

  /** Registers a presence listener; returns the function that unregisters it. */
  onAwarenessChange(listener: AwarenessListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Everything queued since the last call, in order (per peer, the order MUST be kept). The driver
   * calls this after every input and sends each message best-effort.
   */
  takeOutbox(): OutboundMessage[] {
    const out = this.#outbox;
    this.#outbox = [];
    return out;
  }

  /** Detaches from the doc and drops all state; every later call is a no-op. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.doc.off("update", this.#onDocUpdate);
    this.#peers.clear();
    this.#links.clear();
    this.#listeners.clear();
    this.#linkListeners.clear();
    this.#outbox = [];
  }

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    const from = isRemoteOrigin(origin) ? origin.peer : undefined;
    let bytes: Uint8Array | undefined;
    for (const peer of this.#peers.keys()) {
      if (peer === from) continue;
      bytes ??= encodeMessage({ type: "sync-update", update });
      this.#sendUpdate(peer, bytes, false);
    }
  };

  #applyUpdate(update: Uint8Array, origin: PeerOrigin): ConcordError | undefined {
    try {
      const store = this.doc.store;
      const parkedBefore = [store.pendingStructs?.update, store.pendingDs];
      Y.applyUpdate(this.doc, update, origin);
      // Yjs replaces these whenever parked content changes; new parked content means part of this
      // update is held in memory only.
      const parkedAfter = [store.pendingStructs?.update, store.pendingDs];
      const parkedMore = parkedAfter.some((p, i) => p != null && p !== parkedBefore[i]);
      if (parkedMore) this.#onParked?.(update, origin.peer);
      return undefined;
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      return new ConcordError("Protocol", `applying an update from peer ${origin.peer} failed: ${reason}`, { peer: origin.peer }, { cause: e });
    }
  }

  /** Queues the entries `change` advanced to every up peer but `cause.peer`, then tells listeners. */
  #publishAwareness(change: AwarenessChange, cause: AwarenessCause): void {
    const ids = changedClients(change);
    if (ids.length === 0) return;
    const from = cause.kind === "remote" ? cause.peer : undefined;
    let bytes: Uint8Array | undefined;
    for (const peer of this.#peers.keys()) {
      if (peer === from) continue;
      bytes ??= this.#awarenessMessage(ids);
      this.#send(peer, bytes);
    }
    // The sender tried to remove us: tell it we are still here.
    if (from !== undefined && this.#peers.has(from) && ids.includes(this.#awareness.clientId)) {
      this.#send(from, this.#awarenessMessage([this.#awareness.clientId]));
    }
    if (change.added.length + change.updated.length + change.removed.length > 0) {
      for (const listener of this.#listeners) listener(change, cause);
    }
  }

  #step1(): Uint8Array {
    return encodeMessage({ type: "sync-step1", stateVector: Y.encodeStateVector(this.doc) });
  }

  #awarenessMessage(clientIds: Iterable<number>): Uint8Array {
    return encodeMessage({ type: "awareness", entries: this.#awareness.entriesFor(clientIds) });
  }

  #send(to: PeerId, bytes: Uint8Array): void {
    this.#outbox.push({ to, bytes, epoch: this.#links.get(to)?.epoch });
  }

  /** Queues an update-bearing message, counting it on the peer's connection (for acks). */
  #sendUpdate(to: PeerId, bytes: Uint8Array, step2: boolean): void {
    const link = this.#links.get(to);
    if (link !== undefined) {
      link.sent++;
      if (step2) link.firstStep2 ??= link.sent;
    }
    this.#outbox.push({ to, bytes, epoch: link?.epoch });
  }

  #linkChanged(peer: PeerId, link: Link): void {
    for (const listener of this.#linkListeners) listener(peer, link);
  }

  #hello(peer: PeerId, link: Link): void {
    link.helloSent = true;
    this.#send(peer, encodeMessage({ type: "concord-hello", version: CONCORD_PROTOCOL_VERSION }));
  }
}

function option(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) || value === Infinity) || value < min) {
    throw new ConcordError("InvalidArgument", `SyncCore option ${name} must be an integer >= ${min}, got ${value}`, { name, value });
  }
  return value;
}
