/**
 * The vocabulary of `primary` mode's replication (the pure part, no I/O): epochs, log sequence
 * numbers, records, and the epoch history that tells two logs' common prefix.
 *
 * One primary orders every write. Each write becomes a {@link ReplRecord} at the next LSN. LSNs
 * count records from 1 across the whole history and never restart: a promotion starts a new epoch
 * at the next LSN of the promoted replica's log (like PostgreSQL timelines or Redis replication
 * offsets with a replication id). Two logs agree on LSN x when the epoch history of each assigns x
 * to the same epoch of the same primary.
 */
import type { Brand, PeerId } from "../../ids.js";

/** A primary's term of office. Starts at 1; a promotion takes the highest epoch seen + 1. */
export type Epoch = Brand<number, "Epoch">;
/** Log sequence number: the position of a record in the history, from 1. 0 means "no record". */
export type Lsn = Brand<number, "Lsn">;

export const asEpoch = (n: number): Epoch => n as Epoch;
export const asLsn = (n: number): Lsn => n as Lsn;

/** One write as the primary ordered it. `data` is opaque here (the key-value op, see kv/). */
export interface ReplRecord {
  readonly epoch: Epoch;
  readonly lsn: Lsn;
  readonly data: Uint8Array;
}

/**
 * The start of an epoch: from `startLsn` on (until the next entry's `startLsn`), records were
 * written by `primary` in `epoch`. An epoch whose successor starts at the same LSN wrote nothing.
 */
export interface EpochStart {
  readonly epoch: Epoch;
  readonly primary: PeerId;
  readonly startLsn: Lsn;
}

/**
 * Every epoch a log went through, oldest first: epochs strictly increase, start LSNs never
 * decrease, the first entry starts at LSN 1. A fresh primary's history is `[{ epoch: 1, primary:
 * itself, startLsn: 1 }]`.
 */
export type EpochHistory = readonly EpochStart[];

/** Where a log ends: its last record's epoch and LSN (`{ epoch: 0, lsn: 0 }` for an empty log). */
export interface Position {
  readonly epoch: Epoch;
  readonly lsn: Lsn;
}

/**
 * What a write waits for before its promise resolves.
 * - `local`: durable on the primary. A failover can lose it (the replicas may not have it yet).
 * - `{ replicas: n }`: durable on the primary and on `n` replicas. Survives a failover to any of them.
 */
export type PrimaryDurability = "local" | { readonly replicas: number };

/** Payload bytes of a record, for flow control and limits. */
export const recordSize = (r: ReplRecord): number => r.data.length;
