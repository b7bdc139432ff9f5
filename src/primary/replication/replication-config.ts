/**
 * Validation and defaults for {@link PrimaryConfig} and {@link ReplicaConfig}. Bad input is a
 * caller's mistake: a `ConcordError("InvalidArgument")` whose message says what to change, thrown
 * by `createPrimary` / `createReplica` before any state is built.
 */
import { ConcordError } from "../../errors.js";
import type { PeerId } from "../../ids.js";
import type { DataChecks, PrimaryConfig, PrimaryLog, ReplicaConfig } from "./core.js";
import { historyProblem, lastEpoch } from "./history.js";
import type { EpochHistory } from "./types.js";

/** A {@link PrimaryConfig} with every default filled in and every field checked. */
export type ResolvedPrimaryConfig = Readonly<Required<PrimaryConfig>>;

/** A {@link ReplicaConfig} with every default filled in and every field checked. */
export type ResolvedReplicaConfig = Readonly<Required<ReplicaConfig>>;

const MIB = 1024 * 1024;

const ANY_DATA: DataChecks = { record: () => true, snapshot: () => true };

function bad(what: string, message: string, details: Record<string, unknown>): never {
  throw new ConcordError("InvalidArgument", `invalid ${what} config: ${message}`, details);
}

function int(what: string, name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    bad(what, `${name} must be an integer >= ${min}, got ${String(value)}`, { [name]: value });
  }
  return value;
}

const isPeer = (s: unknown): s is PeerId => typeof s === "string" && s.length > 0;

function checkHistory(what: string, history: EpochHistory): void {
  const problem = historyProblem(history);
  if (problem !== null) bad(what, `history is not a valid epoch history: ${problem}`, { history });
}

/**
 * Checks `config` and fills defaults (see {@link PrimaryConfig}). The history must end with this
 * primary's own epoch (`epoch`, `primary: id`) starting at most one past the log's last LSN.
 */
export function resolvePrimaryConfig(config: PrimaryConfig): ResolvedPrimaryConfig {
  const what = "primary";
  if (typeof config !== "object" || config === null) bad(what, "expected an object", {});
  if (!isPeer(config.id)) bad(what, "id must be a non-empty string", { id: config.id });
  const epoch = int(what, "epoch", config.epoch, 1, 0);
  if (epoch === 0) bad(what, "epoch is required (1 for a new primary)", { epoch: config.epoch });
  const log = config.log as Partial<PrimaryLog> | undefined;
  const logMethods = ["firstLsn", "lastLsn", "records", "snapshot"] as const;
  if (typeof log !== "object" || log === null || logMethods.some((m) => typeof log[m] !== "function")) {
    bad(what, `log must implement PrimaryLog (${logMethods.join(", ")})`, {});
  }
  checkHistory(what, config.history);
  const own = config.history[config.history.length - 1]!;
  if (own.epoch !== epoch || own.primary !== config.id) {
    bad(what, `history must end with this primary's epoch ${epoch} led by "${config.id}", but it ends with epoch ${own.epoch} led by "${own.primary}"; a promoted replica passes promotion().history`, {
      epoch,
      history: config.history,
    });
  }
  const lastLsn = config.log.lastLsn();
  if (own.startLsn > lastLsn + 1) {
    bad(what, `epoch ${epoch} starts at LSN ${own.startLsn} but the log ends at ${lastLsn}: the log lost records the history says exist`, {
      startLsn: own.startLsn,
      lastLsn,
    });
  }
  const followers = config.followers ?? [];
  if (!Array.isArray(followers) || !followers.every(isPeer)) bad(what, "followers must be an array of peer ids", { followers });
  if (followers.includes(config.id)) bad(what, `followers must not include the primary itself ("${config.id}")`, { followers });
  return {
    id: config.id,
    epoch: config.epoch,
    history: config.history,
    log: config.log,
    followers: [...new Set(followers)],
    minReplicas: int(what, "minReplicas", config.minReplicas, 0, 0),
    maxLagMs: int(what, "maxLagMs", config.maxLagMs, 1, 10_000),
    heartbeatMs: int(what, "heartbeatMs", config.heartbeatMs, 1, 100),
    maxMessageBytes: int(what, "maxMessageBytes", config.maxMessageBytes, 1, MIB),
    maxInflightRecords: int(what, "maxInflightRecords", config.maxInflightRecords, 1, 4_096),
    snapshotChunkBytes: int(what, "snapshotChunkBytes", config.snapshotChunkBytes, 1, MIB),
  };
}

/**
 * Checks `config` and fills defaults (see {@link ReplicaConfig}): `epoch` is at least the
 * history's last epoch, and `appliedLsn <= lastLsn`.
 */
export function resolveReplicaConfig(config: ReplicaConfig): ResolvedReplicaConfig {
  const what = "replica";
  if (typeof config !== "object" || config === null) bad(what, "expected an object", {});
  if (!isPeer(config.id)) bad(what, "id must be a non-empty string", { id: config.id });
  if (!isPeer(config.primary)) bad(what, "primary must be a non-empty peer id", { primary: config.primary });
  if (config.primary === config.id) bad(what, `a replica cannot follow itself ("${config.id}")`, { id: config.id });
  checkHistory(what, config.history);
  const epoch = int(what, "epoch", config.epoch, 1, 0);
  if (epoch < lastEpoch(config.history)) {
    bad(what, `epoch ${String(config.epoch)} is below the history's last epoch ${lastEpoch(config.history)}; pass the highest epoch seen`, {
      epoch: config.epoch,
      history: config.history,
    });
  }
  const lastLsn = int(what, "lastLsn", config.lastLsn, 0, -1);
  const appliedLsn = int(what, "appliedLsn", config.appliedLsn, 0, -1);
  if (lastLsn < 0 || appliedLsn < 0) bad(what, "lastLsn and appliedLsn are required (0 for an empty log)", {});
  if (appliedLsn > lastLsn) bad(what, `appliedLsn ${appliedLsn} is beyond lastLsn ${lastLsn}: only durable records are applied`, { lastLsn, appliedLsn });
  return {
    id: config.id,
    primary: config.primary,
    history: config.history,
    epoch: config.epoch,
    lastLsn: config.lastLsn,
    appliedLsn: config.appliedLsn,
    ackMs: int(what, "ackMs", config.ackMs, 1, 100),
    helloMs: int(what, "helloMs", config.helloMs, 1, 1_000),
    checkData: config.checkData ?? ANY_DATA,
  };
}
