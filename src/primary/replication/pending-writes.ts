/**
 * The primary's writes waiting for their durability: `local` ones until the primary persisted
 * them, `{ replicas: n }` ones until, in addition, `n` replicas hold them.
 *
 * A write resolves as soon as its own durability holds: a `local` write does not wait behind an
 * earlier `{ replicas: n }` one. Writes of the same durability resolve in LSN order (a replica
 * that holds LSN x holds every LSN before it), and each batch handed out is sorted by LSN.
 */
import type { PeerId } from "../../ids.js";
import type { WriteAbandoned, WriteDone } from "./core.js";
import type { Lsn } from "./types.js";

/** How many replicas a write waits for; "local" waits for the primary's disk only. */
export type Need = "local" | number;

/** What one replica is known to hold of the primary's log. */
export interface Holder {
  readonly id: PeerId;
  /** Highest LSN it holds durably, matching the primary's log. */
  readonly match: Lsn;
}

/** Waiting LSNs of one durability, in LSN order; `head` skips the resolved ones. */
interface Queue {
  lsns: Lsn[];
  head: number;
}

export class PendingWrites {
  private readonly queues = new Map<Need, Queue>();

  /** Remembers the write at `lsn` (LSNs MUST be added in increasing order). */
  add(lsn: Lsn, need: Need): void {
    let q = this.queues.get(need);
    if (q === undefined) {
      q = { lsns: [], head: 0 };
      this.queues.set(need, q);
    }
    q.lsns.push(lsn);
  }

  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.lsns.length - q.head;
    return n;
  }

  /** Removes and returns the writes whose durability holds now, in LSN order. */
  resolve(durable: Lsn, holders: readonly Holder[]): WriteDone[] {
    const done: WriteDone[] = [];
    for (const [need, q] of this.queues) {
      while (q.head < q.lsns.length) {
        const lsn = q.lsns[q.head]!;
        if (lsn > durable) break;
        if (need === "local") {
          done.push({ lsn, replicas: [] });
        } else {
          const ids = holders.filter((h) => h.match >= lsn).map((h) => h.id);
          if (ids.length < need) break;
          done.push({ lsn, replicas: ids });
        }
        q.head++;
      }
      if (q.head === q.lsns.length) this.queues.delete(need);
      else if (q.head > 1024 && q.head * 2 > q.lsns.length) {
        q.lsns = q.lsns.slice(q.head);
        q.head = 0;
      }
    }
    return done.sort((a, b) => a.lsn - b.lsn);
  }

  /** Removes and returns every waiting write, in LSN order. */
  abandonAll(detail: string): WriteAbandoned[] {
    const lsns: Lsn[] = [];
    for (const q of this.queues.values()) lsns.push(...q.lsns.slice(q.head));
    this.queues.clear();
    return lsns.sort((a, b) => a - b).map((lsn) => ({ lsn, reason: "fenced" as const, detail }));
  }
}
