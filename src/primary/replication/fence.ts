/**
 * What a primary knows of the epochs after its own: whether it is fenced (a higher epoch exists),
 * the newest history of a later epoch it has seen (which names the primary replicas should follow
 * instead), and when it last pointed each peer elsewhere, so keepalives are not answered with a
 * notice each. Fencing is for good: a fenced primary never takes a write again.
 *
 * What fences: only {@link promotionShown} evidence, a history of the higher epoch that names its
 * primary. Nothing on the peer link is authenticated, so a forged but consistent history fences
 * like a real promotion (safety first: a primary that ignored a real one would take writes the
 * new primary never sees); the peer endpoint is for trusted networks. But a higher epoch with no
 * such history (an `ack` or `snapshot-ack`, which carry none; a `hello` whose history ends below
 * it; a history naming this very primary as the newer one) is no promotion any correct node
 * reports, and names no primary to follow: it is dropped, so a stray or lying message cannot stop
 * a primary from taking writes.
 */
import type { PeerId } from "../../ids.js";
import { historyProblem, lastEpoch } from "./history.js";
import type { EpochNotice, ToPrimary } from "./messages.js";
import type { Epoch, EpochHistory } from "./types.js";

/**
 * The history that `msg` shows a newer primary by: a valid history ending in an epoch above
 * `epoch` (the primary's own), carried by an `epoch` notice or a `hello` of that very epoch, whose
 * last entry names a primary other than `self`. Null when `msg` shows no such promotion.
 */
export function promotionShown(msg: ToPrimary, epoch: Epoch, self: PeerId): EpochHistory | null {
  if (msg.type !== "epoch" && msg.type !== "hello") return null;
  const history = msg.history;
  if (msg.epoch <= epoch || historyProblem(history) !== null || lastEpoch(history) !== msg.epoch) return null;
  return history[history.length - 1]!.primary === self ? null : history;
}

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

  /** A message showed `history` (see {@link promotionShown}), of an epoch above the primary's. */
  observe(history: EpochHistory): FenceChange {
    const first = this.fencedBy === null;
    const epoch = lastEpoch(history);
    if (this.fencedBy === null || epoch > this.fencedBy) this.fencedBy = epoch;
    const known = this.newerHistory === null ? this.epoch : lastEpoch(this.newerHistory);
    const learned = epoch > known;
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
