/**
 * Plausibility checks on replication messages from the network. The codec guarantees the shapes
 * of messages.ts; these checks reject CONTENT no correct peer sends (negative or fractional LSNs,
 * records not contiguous after `prev`, record epochs above the sender's epoch or decreasing, an
 * invalid epoch history...), so a core can drop such a message instead of breaking an invariant.
 * Not a defence against a peer that sends plausible lies: replication trusts its peers.
 */
import { epochAt, historyProblem, lastEpoch } from "./history.js";
import type { PrimaryToReplica, ToPrimary } from "./messages.js";
import type { EpochHistory, Position, ReplRecord } from "./types.js";

/** An LSN, offset or size: a non-negative integer that can still be incremented exactly. */
const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n < Number.MAX_SAFE_INTEGER;
const isEpoch = (n: unknown): n is number => isCount(n) && n >= 1;
const isBytes = (b: unknown): b is Uint8Array => b instanceof Uint8Array;

/** A valid history whose epochs the sender (at `epoch`) may know. */
function isHistoryUpTo(history: EpochHistory, epoch: number): boolean {
  return historyProblem(history) === null && lastEpoch(history) <= epoch;
}

/** Where a log ends, consistent with the history that covers it. */
function isPosition(last: Position, history: EpochHistory): boolean {
  if (typeof last !== "object" || last === null || !isCount(last.lsn) || !isCount(last.epoch)) return false;
  return last.lsn === 0 ? last.epoch === 0 : last.epoch === epochAt(history, last.lsn);
}

/** Records `prev + 1 ..`: at least one, contiguous, epochs never decreasing and at most `epoch`. */
function areRecords(records: readonly ReplRecord[], prev: number, epoch: number): boolean {
  if (!Array.isArray(records) || records.length === 0) return false;
  let lastEpochSeen = 1;
  for (let i = 0; i < records.length; i++) {
    const r = records[i] as ReplRecord | undefined;
    if (typeof r !== "object" || r === null || r.lsn !== prev + 1 + i || !isBytes(r.data)) return false;
    if (!isEpoch(r.epoch) || r.epoch < lastEpochSeen || r.epoch > epoch) return false;
    lastEpochSeen = r.epoch;
  }
  return true;
}

/** True when `m` is something a correct replica (or a newer primary) could have sent to a primary. */
export function isPlausibleToPrimary(m: ToPrimary): boolean {
  if (typeof m !== "object" || m === null || !isEpoch(m.epoch)) return false;
  switch (m.type) {
    case "hello":
      return isHistoryUpTo(m.history, m.epoch) && isPosition(m.last, m.history);
    case "ack":
      return isCount(m.received) && isCount(m.applied) && m.applied <= m.received && typeof m.gap === "boolean";
    case "snapshot-ack":
      return isCount(m.lsn) && isCount(m.offset);
    case "epoch":
      return historyProblem(m.history) === null && lastEpoch(m.history) === m.epoch;
    default:
      return false;
  }
}

/** True when `m` is something a correct primary could have sent to a replica. */
export function isPlausibleToReplica(m: PrimaryToReplica): boolean {
  if (typeof m !== "object" || m === null || !isEpoch(m.epoch)) return false;
  switch (m.type) {
    case "welcome":
      return isHistoryUpTo(m.history, m.epoch) && isCount(m.last);
    case "records":
      return isCount(m.prev) && isCount(m.last) && areRecords(m.records, m.prev, m.epoch) && m.last >= m.prev + m.records.length;
    case "snapshot":
      return (
        isHistoryUpTo(m.history, m.epoch) &&
        isCount(m.lsn) &&
        isCount(m.common) &&
        isCount(m.offset) &&
        isCount(m.total) &&
        isBytes(m.data) &&
        typeof m.done === "boolean" &&
        m.offset + m.data.byteLength <= m.total &&
        m.done === (m.offset + m.data.byteLength === m.total)
      );
    case "heartbeat":
      return isCount(m.last);
    case "epoch":
      return historyProblem(m.history) === null && lastEpoch(m.history) === m.epoch;
    default:
      return false;
  }
}
