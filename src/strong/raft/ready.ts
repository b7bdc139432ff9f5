/**
 * What the core hands its driver, in the order it must be done (STYLE.md section 1):
 *
 *   1. persist `snapshot` (if any), then `entries`, then `hardState`, and fsync when `mustSync`;
 *   2. only THEN send `messages` (a vote or an append ack promises durable state);
 *   3. apply `committed` to the state machine, in order;
 *   4. serve each of `readStates` once the state machine has applied its index;
 *   5. call `advance(ready)`.
 *
 * Exception (thesis 10.2.1): a leader may send its own appends before persisting them; the core
 * does not rely on it and puts every message after persistence.
 */
import type { Message } from "./messages.js";
import type { Entry, HardState, ReadState, Snapshot, SoftState } from "./types.js";

export interface Ready {
  /** Set when role or known leader changed since the last Ready; nothing to persist. */
  readonly softState: SoftState | null;
  /** Set when term, vote or commit changed; persist BEFORE sending `messages`. */
  readonly hardState: HardState | null;
  /** A snapshot received from the leader, to install BEFORE `entries` (which follow it). */
  readonly snapshot: Snapshot | null;
  /**
   * Entries to append to durable storage BEFORE sending `messages`. May overwrite a conflicting
   * suffix: storage MUST drop every entry at or after `entries[0].index` first.
   */
  readonly entries: readonly Entry[];
  /** Send AFTER the persistence above. Any may be lost or reordered by the network: that's fine. */
  readonly messages: readonly Message[];
  /** Committed entries to apply, in index order, each exactly once across restarts given `applied`. */
  readonly committed: readonly Entry[];
  /** Reads that became safe; serve when applied >= index. */
  readonly readStates: readonly ReadState[];
  /** True when `hardState`, `entries` or `snapshot` must be fsynced before sending. */
  readonly mustSync: boolean;
}
