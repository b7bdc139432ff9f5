/**
 * The write-ahead log of a `primary`-mode node on a {@link DocStorage}: what each stored record and
 * the snapshot hold, and recovery (rebuilding the node's state from what survived).
 *
 * - A stored record is a {@link WalEntry}: a replicated record (epoch, LSN, op), or an epoch entry
 *   (the node saw or started a newer epoch; written before the node acts on it, so a restart never
 *   forgets a promotion it heard of).
 * - The snapshot is a {@link WalSnapshot}: the key-value state after record `lsn`, with the epoch
 *   history and the highest epoch seen.
 *
 * Recovery refuses (Corrupt) a log whose records do not follow each other: it never serves a
 * state that skipped a write.
 */
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import { KvState } from "../kv/kv-state.js";
import { historyProblem, lastEpoch } from "./replication/history.js";
import { asEpoch, asLsn, type Epoch, type EpochHistory, type Lsn, type ReplRecord } from "./replication/types.js";
import { decodeWalEntry, decodeWalSnapshot, type WalEntry } from "./wal-codec.js";
export type { WalEntry, WalSnapshot } from "./wal-codec.js";
import type { StoredLog } from "../storage/storage.js";
import { decodeOp } from "../kv/ops.js";

/** A node's state after recovery. */
export interface Recovered {
  /** Highest epoch seen (0 for a node that never held anything). */
  readonly epoch: Epoch;
  /** Empty for a node that never held anything. */
  readonly history: EpochHistory;
  /** The primary of `epoch` as last logged, or null when none was. */
  readonly primary: PeerId | null;
  readonly lastLsn: Lsn;
  /** The key-value state after `lastLsn`. */
  readonly state: KvState;
  /** The records after the snapshot, oldest first (a primary's initial backlog). */
  readonly records: readonly ReplRecord[];
}

function corrupt(message: string, details: Record<string, unknown>): never {
  throw new ConcordError("Corrupt", `write-ahead log: ${message}`, details);
}

/** Rebuilds a node's state from its stored log. Rejects gaps, bad histories and undecodable ops with `Corrupt`. */
export function recover(stored: StoredLog): Recovered {
  let epoch = asEpoch(0);
  let history: EpochHistory = [];
  let primary: PeerId | null = null;
  let lastLsn = asLsn(0);
  let state = new KvState();
  if (stored.snapshot !== undefined) {
    const snap = decodeWalSnapshot(stored.snapshot);
    const problem = historyProblem(snap.history);
    if (problem !== null) corrupt(`the snapshot holds an invalid epoch history: ${problem}`, {});
    epoch = snap.epoch;
    history = snap.history;
    primary = snap.primary;
    lastLsn = snap.lsn;
    try {
      state = KvState.decode(snap.state);
    } catch (e) {
      corrupt(`the snapshot (LSN ${snap.lsn}) holds no valid key-value state: ${e instanceof Error ? e.message : String(e)}`, { lsn: snap.lsn });
    }
  }
  const records: ReplRecord[] = [];
  stored.records.forEach((bytes, i) => {
    let entry: WalEntry;
    try {
      entry = decodeWalEntry(bytes);
    } catch (e) {
      if (!(e instanceof ConcordError)) throw e;
      throw new ConcordError(e.code, `${e.message} (record ${i} of the stored log)`, { ...e.details, record: i }, { cause: e });
    }
    if (entry.kind === "epoch") {
      const problem = historyProblem(entry.history);
      if (problem !== null) corrupt(`record ${i} holds an invalid epoch history: ${problem}`, { record: i });
      if (entry.epoch < epoch) corrupt(`record ${i} goes back from epoch ${epoch} to ${entry.epoch}`, { record: i });
      epoch = entry.epoch;
      history = entry.history;
      primary = entry.primary;
      return;
    }
    const r = entry.record;
    if (r.lsn !== lastLsn + 1) corrupt(`record ${i} has LSN ${r.lsn} after LSN ${lastLsn}`, { record: i, lsn: r.lsn, after: lastLsn });
    try {
      state.apply(decodeOp(r.data));
    } catch (e) {
      corrupt(`record ${i} (LSN ${r.lsn}) holds no valid operation: ${e instanceof Error ? e.message : String(e)}`, { record: i, lsn: r.lsn });
    }
    lastLsn = r.lsn;
    records.push(r);
  });
  if (history.length > 0 && lastEpoch(history) > epoch) corrupt(`the history reaches epoch ${lastEpoch(history)} beyond the logged epoch ${epoch}`, {});
  return { epoch, history, primary, lastLsn, state, records };
}
