/**
 * Presence ("awareness") as pure state, compatible with y-protocols' `Awareness`: every client owns
 * one JSON state and a clock it bumps on every change; the highest clock wins; a `null` state at the
 * current clock removes the client. States that are not renewed within a timeout are dropped.
 *
 * Differences from y-protocols, all deliberate: time is ticks passed in (no interval timer, no
 * `Date`); changes are returned as values instead of emitted; remote states are attributed to the
 * peer that delivered them so that {@link AwarenessState.peerDown} can drop them at once.
 */
import { equalityDeep } from "lib0/function";
import type { PeerId } from "../../ids.js";
import { toFrozenJson, type Json } from "../../json.js";
import { decodeAwarenessUpdate, encodeAwarenessUpdate, type AwarenessEntry } from "./protocol.js";

/**
 * What an operation changed, by Yjs client id. Each id appears in at most one list.
 * Everything in all four lists MUST be forwarded to other peers (see {@link changedClients});
 * only `added`, `updated` and `removed` are visible to an app.
 */
export interface AwarenessChange {
  /** Clients that had no state and now have one. */
  readonly added: readonly number[];
  /** Clients whose state changed to a different (not deep-equal) value. */
  readonly updated: readonly number[];
  /** Clients whose clock advanced while nothing visible changed: a renewal, or the removal of a client already absent. */
  readonly renewed: readonly number[];
  /** Clients whose state was removed. */
  readonly removed: readonly number[];
}

/** Every client id in `change`, for forwarding. */
export function changedClients(change: AwarenessChange): number[] {
  return [...change.added, ...change.updated, ...change.renewed, ...change.removed];
}

/** The read side of an {@link AwarenessState}, safe to hand to an app. */
export interface AwarenessView {
  /** Our own client id (the Yjs `doc.clientID`). */
  readonly clientId: number;
  /** Our own state, or `null` when we show no presence. */
  getLocalState(): Json;
  /** Every client with a state, ours included. Live view: do not mutate; copy to keep. */
  states(): ReadonlyMap<number, Json>;
}

interface ClientMeta {
  clock: number;
  /** Tick of the last applied update for this client. */
  lastUpdated: number;
}

/**
 * The awareness states known to one replica. Pure: every method that depends on time takes
 * `nowTick` (a monotonic tick count from the driver). Methods return what changed; callers
 * broadcast `encodeUpdate(changedClients(change))` to their peers.
 *
 * Clocks of removed clients are kept (as y-protocols does), so a stale update cannot resurrect them.
 * Remote states are stored as decoded; callers MUST NOT mutate states they read.
 */
export class AwarenessState implements AwarenessView {
  readonly clientId: number;
  readonly #states = new Map<number, Json>();
  readonly #meta = new Map<number, ClientMeta>();
  /** Which peer delivered the current state of each remote client. */
  readonly #introducedBy = new Map<number, PeerId>();

  /** `clientId` is our own Yjs `doc.clientID`. We start with no local state. */
  constructor(clientId: number) {
    this.clientId = clientId;
  }

  getLocalState(): Json {
    return this.#states.get(this.clientId) ?? null;
  }

  states(): ReadonlyMap<number, Json> {
    return this.#states;
  }

  /** The clock last seen for `clientId` (also for removed clients), or `undefined` if never seen. */
  clockOf(clientId: number): number | undefined {
    return this.#meta.get(clientId)?.clock;
  }

  /**
   * Sets (or, with `null`, removes) our own state and bumps our clock. Throws `InvalidValue`,
   * changing nothing, if `state` is not JSON (see `json.ts`). Keeps a deep-frozen copy, so the
   * caller may reuse its object.
   */
  setLocalState(input: Json, nowTick: number): AwarenessChange {
    const state = toFrozenJson(input, "awareness state");
    const prev = this.#states.get(this.clientId);
    const meta = this.#meta.get(this.clientId);
    // Start at 1: y-protocols ignores clock 0 from a client it does not know yet.
    this.#meta.set(this.clientId, { clock: meta === undefined ? 1 : meta.clock + 1, lastUpdated: nowTick });
    if (state === null) {
      this.#states.delete(this.clientId);
      return prev === undefined ? change({ renewed: [this.clientId] }) : change({ removed: [this.clientId] });
    }
    this.#states.set(this.clientId, state);
    return classifySet(this.clientId, prev, state);
  }

  /**
   * Re-sends our own state once half of `timeoutTicks` has passed since it last changed, so that peers
   * do not time it out. Returns the renewal (to broadcast), or an empty change.
   */
  renewLocal(nowTick: number, timeoutTicks: number): AwarenessChange {
    const state = this.#states.get(this.clientId);
    const meta = this.#meta.get(this.clientId);
    if (state === undefined || meta === undefined || nowTick - meta.lastUpdated < timeoutTicks / 2) return change({});
    return this.setLocalState(state, nowTick);
  }

  /**
   * Bumps our clock for a peer that just came (back) up, without changing our state: a peer that
   * lost us may have recorded our removal at one past our clock (y-protocols' servers do), which a
   * state at that same clock would not beat, so the clock moves two. Returns the renewal, or an
   * empty change when we show no presence.
   */
  reannounceLocal(nowTick: number): AwarenessChange {
    const state = this.#states.get(this.clientId);
    const meta = this.#meta.get(this.clientId);
    if (state === undefined || meta === undefined) return change({});
    meta.clock++;
    return this.setLocalState(state, nowTick);
  }

  /** Decodes a y-protocols awareness update and applies it; see {@link applyEntries}. Throws only `Protocol`, before any change. */
  applyUpdate(update: Uint8Array, nowTick: number, from?: PeerId): AwarenessChange {
    return this.applyEntries(decodeAwarenessUpdate(update), nowTick, from);
  }

  /**
   * Applies remote entries with y-protocols' rules: an entry wins if its clock is higher than ours,
   * or equal with a `null` state (a removal), or (more lenient than y-protocols, which ignores clock 0)
   * if its client is new to us. A remote removal of OUR client does not remove it: we
   * bump our clock instead and report it as `renewed`, so the caller's broadcast re-asserts us.
   * `from` (the delivering peer) becomes the owner of the states it introduced, for {@link peerDown}.
   */
  applyEntries(entries: readonly AwarenessEntry[], nowTick: number, from?: PeerId): AwarenessChange {
    const added: number[] = [];
    const updated: number[] = [];
    const renewed: number[] = [];
    const removed: number[] = [];
    for (const { clientId, clock, state } of entries) {
      const meta = this.#meta.get(clientId);
      const prev = this.#states.get(clientId);
      const wins =
        meta === undefined || meta.clock < clock || (meta.clock === clock && state === null && prev !== undefined);
      if (!wins) continue;
      if (state === null && clientId === this.clientId && prev !== undefined) {
        this.#meta.set(clientId, { clock: clock + 1, lastUpdated: nowTick });
        renewed.push(clientId);
        continue;
      }
      this.#meta.set(clientId, { clock, lastUpdated: nowTick });
      if (state === null) {
        this.#states.delete(clientId);
        this.#introducedBy.delete(clientId);
        (prev === undefined ? renewed : removed).push(clientId);
        continue;
      }
      this.#states.set(clientId, state);
      if (from !== undefined && clientId !== this.clientId) this.#introducedBy.set(clientId, from);
      if (prev === undefined) added.push(clientId);
      else if (equalityDeep(prev, state)) renewed.push(clientId);
      else updated.push(clientId);
    }
    return { added, updated, renewed, removed };
  }

  /**
   * The entries for `clientIds` as they stand: current clock and state (`null` if removed).
   * Ids never seen are skipped.
   */
  entriesFor(clientIds: Iterable<number>): AwarenessEntry[] {
    const entries: AwarenessEntry[] = [];
    for (const clientId of clientIds) {
      const meta = this.#meta.get(clientId);
      if (meta !== undefined) entries.push({ clientId, clock: meta.clock, state: this.#states.get(clientId) ?? null });
    }
    return entries;
  }

  /** {@link entriesFor} encoded in the y-protocols awareness update format. */
  encodeUpdate(clientIds: Iterable<number>): Uint8Array {
    return encodeAwarenessUpdate(this.entriesFor(clientIds));
  }

  /**
   * Removes every remote state not updated during the last `timeoutTicks` ticks (our own state never
   * times out: renew it with {@link renewLocal}). Clocks stay, so peers that share the same clock
   * apply the broadcast removal.
   */
  outdated(nowTick: number, timeoutTicks: number): AwarenessChange {
    const stale: number[] = [];
    for (const [clientId, meta] of this.#meta) {
      if (clientId !== this.clientId && nowTick - meta.lastUpdated >= timeoutTicks && this.#states.has(clientId)) {
        stale.push(clientId);
      }
    }
    return this.#removeRemote(stale);
  }

  /** Removes every state `peer` introduced (the peer went away, and with it our news of them). */
  peerDown(peer: PeerId): AwarenessChange {
    const owned: number[] = [];
    for (const [clientId, owner] of this.#introducedBy) if (owner === peer) owned.push(clientId);
    return this.#removeRemote(owned);
  }

  #removeRemote(clientIds: readonly number[]): AwarenessChange {
    for (const clientId of clientIds) {
      this.#states.delete(clientId);
      this.#introducedBy.delete(clientId);
    }
    return change({ removed: clientIds });
  }
}

function change(parts: Partial<AwarenessChange>): AwarenessChange {
  return { added: parts.added ?? [], updated: parts.updated ?? [], renewed: parts.renewed ?? [], removed: parts.removed ?? [] };
}

function classifySet(clientId: number, prev: Json | undefined, state: Json): AwarenessChange {
  if (prev === undefined) return change({ added: [clientId] });
  return equalityDeep(prev, state) ? change({ renewed: [clientId] }) : change({ updated: [clientId] });
}

