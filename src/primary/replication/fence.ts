/**
 * What a primary knows of the epochs after its own: whether it is fenced (a higher epoch exists),
 * the newest history of a later epoch it has seen (which names the primary replicas should follow
 * instead), and when it last pointed each peer elsewhere, so keepalives are not answered with a
 * notice each. Fencing is for good: a fenced primary never takes a write again.
 */
import type { PeerId } from "../../ids.js";
import { lastEpoch } from "./history.js";
import type { EpochNotice } from "./messages.js";
import type { Epoch, EpochHistory } from "./types.js";

/** What {@link Fence.observe} changed. */
export interface FenceChange {
  /** The primary was not fenced before. */
  readonly first: boolean;
  /** A history of a later epoch than any known became known. */
  readonly learned: boolean;
}

export class Fence {
  /** The highest epoch seen above the primary's own; null while not fenced. */
  fencedBy: Epoch | null = null;
  private newerHistory: EpochHistory | null = null;
  private readonly noticeAt = new Map<PeerId, number>();

  constructor(private readonly epoch: Epoch) {}

  /** A message carried `epoch` (> the primary's), and `history` when it had one. */
  observe(epoch: Epoch, history: EpochHistory | null): FenceChange {
    const first = this.fencedBy === null;
    if (this.fencedBy === null || epoch > this.fencedBy) this.fencedBy = epoch;
    const known = this.newerHistory === null ? this.epoch : lastEpoch(this.newerHistory);
    const learned = history !== null && lastEpoch(history) > known;
    if (learned) this.newerHistory = history;
    return { first, learned };
  }

  /** The notice that sends a replica to the newest primary known; null when none is known. */
  notice(): EpochNotice | null {
    const h = this.newerHistory;
    return h === null ? null : { type: "epoch", epoch: lastEpoch(h), history: h };
  }

  /**
   * True when `peer` may be sent a notice now: `urgent` ones (answers to a hello) always, others
   * once per `throttleMs`. Records the send.
   */
  mayNotify(peer: PeerId, now: number, throttleMs: number, urgent: boolean): boolean {
    const at = this.noticeAt.get(peer);
    if (!urgent && at !== undefined && now - at < throttleMs) return false;
    this.noticeAt.set(peer, now);
    return true;
  }
}
