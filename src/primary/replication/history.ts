/**
 * Epoch histories (see types.ts): which epoch wrote a given LSN, where two logs stop agreeing,
 * and the history a promotion starts. Pure functions; inputs are never mutated.
 */
import type { PeerId } from "../../ids.js";
import { asEpoch, asLsn, type Epoch, type EpochHistory, type EpochStart, type Lsn } from "./types.js";

/** Why `history` is not a valid epoch history, or null when it is. */
export function historyProblem(history: EpochHistory): string | null {
  if (!Array.isArray(history) || history.length === 0) return "an epoch history has at least one entry";
  for (let i = 0; i < history.length; i++) {
    const h = history[i] as EpochStart | null | undefined;
    if (typeof h !== "object" || h === null) return `entry ${i} is not an object`;
    if (i === 0 && h.startLsn !== 1) return `the first epoch must start at LSN 1, not ${String(h.startLsn)}`;
    if (!Number.isSafeInteger(h.epoch) || h.epoch < 1) return `epoch ${String(h.epoch)} is not a positive integer`;
    if (!Number.isSafeInteger(h.startLsn) || h.startLsn < 1) return `start LSN ${String(h.startLsn)} is not a positive integer`;
    if (typeof h.primary !== "string" || h.primary.length === 0) return `epoch ${h.epoch} has no primary`;
    const prev = history[i - 1];
    if (prev !== undefined && (h.epoch <= prev.epoch || h.startLsn < prev.startLsn)) {
      return `epoch ${h.epoch} from LSN ${h.startLsn} does not follow epoch ${prev.epoch} from LSN ${prev.startLsn}`;
    }
  }
  return null;
}

/** The entry of the epoch that wrote LSN `lsn` (>= 1) according to `history`. */
export function epochEntryAt(history: EpochHistory, lsn: Lsn): EpochStart {
  let found = history[0]!;
  for (const h of history) {
    if (h.startLsn > lsn) break;
    found = h;
  }
  return found;
}

/** The epoch that wrote `lsn` according to `history`. */
export function epochAt(history: EpochHistory, lsn: Lsn): Epoch {
  return epochEntryAt(history, lsn).epoch;
}

/** The newest epoch `history` knows. */
export function lastEpoch(history: EpochHistory): Epoch {
  return history[history.length - 1]!.epoch;
}

/**
 * The last LSN up to which two logs hold the same records: log A has records 1..`aLast` written
 * under `a`, log B 1..`bLast` under `b`. Same epoch and same primary at every LSN up to the
 * result (so, with one primary per epoch, the same records). Between 0 and min(aLast, bLast).
 */
export function commonPrefix(a: EpochHistory, aLast: Lsn, b: EpochHistory, bLast: Lsn): Lsn {
  const limit = Math.min(aLast, bLast);
  if (limit === 0) return asLsn(0);
  // Epoch boundaries of either history split [1, limit] into runs where both are constant.
  const bounds = new Set<number>([1]);
  for (const h of [...a, ...b]) if (h.startLsn <= limit) bounds.add(h.startLsn);
  for (const start of [...bounds].sort((x, y) => x - y)) {
    const ea = epochEntryAt(a, asLsn(start));
    const eb = epochEntryAt(b, asLsn(start));
    if (ea.epoch !== eb.epoch || ea.primary !== eb.primary) return asLsn(start - 1);
  }
  return asLsn(limit);
}

/**
 * The history of a replica promoted to primary: the epochs of its records 1..`lastLsn` (later
 * entries, epochs it holds no record of, are dropped), then a new epoch one above the highest it
 * has seen, starting at `lastLsn + 1`.
 */
export function promotedHistory(history: EpochHistory, lastLsn: Lsn, highestSeen: Epoch, self: PeerId): EpochHistory {
  const kept = history.filter((h) => h.startLsn <= lastLsn || h === history[0]);
  const epoch = asEpoch(Math.max(highestSeen, lastEpoch(history)) + 1);
  return [...kept, { epoch, primary: self, startLsn: asLsn(lastLsn + 1) }];
}
