import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import type { PrimaryConfig, ReplicaConfig } from "../../../src/primary/replication/core.js";
import { createPrimary } from "../../../src/primary/replication/primary-core.js";
import { createReplica } from "../../../src/primary/replication/replica-core.js";
import { asEpoch, asLsn } from "../../../src/primary/replication/types.js";
import { hist, MemoryLog, rec } from "./world.js";

/** The InvalidArgument message `make` throws. */
function invalid(make: () => unknown): string {
  try {
    make();
  } catch (e) {
    if (isConcordError(e, "InvalidArgument")) return e.message;
    throw e;
  }
  throw new Error("expected ConcordError InvalidArgument, nothing was thrown");
}

const primaryConfig = (overrides: Partial<PrimaryConfig> = {}): PrimaryConfig => ({
  id: asPeerId("p"),
  epoch: asEpoch(1),
  history: hist([1, "p", 1]),
  log: new MemoryLog(),
  ...overrides,
});

const replicaConfig = (overrides: Partial<ReplicaConfig> = {}): ReplicaConfig => ({
  id: asPeerId("r1"),
  primary: asPeerId("p"),
  history: hist([1, "p", 1]),
  epoch: asEpoch(1),
  lastLsn: asLsn(0),
  appliedLsn: asLsn(0),
  ...overrides,
});

describe("primary config", () => {
  it("a valid config with defaults creates a primary", () => {
    expect(createPrimary(primaryConfig()).status(0)).toMatchObject({ id: "p", epoch: 1, lastLsn: 0 });
  });

  it.each<[string, Partial<PrimaryConfig>, RegExp]>([
    ["an empty id", { id: asPeerId("") }, /id must be a non-empty string/],
    ["a missing epoch", { epoch: undefined as unknown as ReturnType<typeof asEpoch> }, /epoch is required/],
    ["a history that does not end with this primary's epoch", { epoch: asEpoch(2) }, /must end with this primary's epoch 2.*promotion\(\)\.history/],
    ["a history whose last epoch is led by another node", { history: hist([1, "q", 1]) }, /led by "q"/],
    ["an invalid history", { history: hist([1, "p", 3]) }, /not a valid epoch history: the first epoch must start at LSN 1/],
    ["a log without the PrimaryLog methods", { log: {} as MemoryLog }, /log must implement PrimaryLog/],
    ["followers including the primary itself", { followers: [asPeerId("p")] }, /must not include the primary itself/],
    ["a negative minReplicas", { minReplicas: -1 }, /minReplicas must be an integer >= 0, got -1/],
    ["a zero heartbeatMs", { heartbeatMs: 0 }, /heartbeatMs must be an integer >= 1/],
    ["a fractional maxInflightRecords", { maxInflightRecords: 2.5 }, /maxInflightRecords must be an integer >= 1/],
    ["a zero snapshotChunkBytes", { snapshotChunkBytes: 0 }, /snapshotChunkBytes must be an integer >= 1/],
  ])("rejects %s with InvalidArgument", (_name, overrides, message) => {
    expect(invalid(() => createPrimary(primaryConfig(overrides)))).toMatch(message);
  });

  it("rejects an epoch that starts past the end of the log", () => {
    const log = new MemoryLog();
    log.append([rec(1, 1)]);
    const message = invalid(() => createPrimary(primaryConfig({ epoch: asEpoch(2), history: hist([1, "q", 1], [2, "p", 5]), log })));
    expect(message).toMatch(/starts at LSN 5 but the log ends at 1/);
  });
});

describe("replica config", () => {
  it("a valid config with defaults creates a replica", () => {
    expect(createReplica(replicaConfig()).status(0)).toMatchObject({ id: "r1", primary: "p", epoch: 1 });
  });

  it.each<[string, Partial<ReplicaConfig>, RegExp]>([
    ["a replica following itself", { primary: asPeerId("r1") }, /cannot follow itself/],
    ["an empty primary", { primary: asPeerId("") }, /primary must be a non-empty peer id/],
    ["an epoch below the history's last", { history: hist([1, "p", 1], [3, "q", 1]), epoch: asEpoch(2) }, /below the history's last epoch 3/],
    ["applied beyond the last durable LSN", { lastLsn: asLsn(2), appliedLsn: asLsn(3) }, /appliedLsn 3 is beyond lastLsn 2/],
    ["a negative lastLsn", { lastLsn: asLsn(-1) }, /lastLsn must be an integer >= 0/],
    ["a zero ackMs", { ackMs: 0 }, /ackMs must be an integer >= 1/],
    ["an invalid history", { history: [] }, /at least one entry/],
  ])("rejects %s with InvalidArgument", (_name, overrides, message) => {
    expect(invalid(() => createReplica(replicaConfig(overrides)))).toMatch(message);
  });
});
