/**
 * The Raft core's configuration (src/strong/raft/resolve-config.ts): every default, and every bad
 * field refused by `createRaft` with InvalidArgument naming the field and what to give instead.
 */
import { describe, expect, it } from "vitest";
import { ConcordError, isConcordError } from "../../../src/errors.js";
import { seededRng } from "../../../src/rng.js";
import type { RaftConfig } from "../../../src/strong/raft/config.js";
import { MemoryRaftStorage } from "../../../src/strong/raft/memory-storage.js";
import { createRaft } from "../../../src/strong/raft/raft.js";
import { resolveConfig } from "../../../src/strong/raft/resolve-config.js";
import { asNodeId } from "../../../src/strong/raft/types.js";

const base = (): RaftConfig =>
  ({
    id: asNodeId("a"),
    storage: MemoryRaftStorage.bootstrap({ voters: [asNodeId("a")], learners: [] }),
    rng: seededRng(1),
    electionTicks: 10,
    heartbeatTicks: 1,
  }) as RaftConfig;

const f = (): void => undefined;

/** The InvalidArgument message `createRaft` answers `change` to the base config with. */
function refusal(change: Record<string, unknown>): string {
  try {
    createRaft({ ...base(), ...change } as RaftConfig);
  } catch (e) {
    if (isConcordError(e) && e.code === "InvalidArgument") return e.message;
    throw e;
  }
  return "accepted";
}

describe("the Raft core's configuration", () => {
  it("fills every default", () => {
    const c = resolveConfig(base());
    expect({ ...c, storage: undefined, rng: undefined }).toEqual({
      id: "a",
      storage: undefined,
      rng: undefined,
      electionTicks: 10,
      heartbeatTicks: 1,
      applied: null,
      preVote: true,
      checkQuorum: true,
      readOnly: "safe",
      maxMessageBytes: 1024 * 1024,
      maxInflightMessages: 256,
      maxInflightBytes: 0,
      maxUncommittedBytes: 0,
      maxCommittedBytesPerReady: 64 * 1024 * 1024,
      snapshotChunkBytes: 1024 * 1024,
      disableProposalForwarding: false,
    });
  });

  it("keeps every value given, at the lowest each accepts", () => {
    const given = {
      electionTicks: 2,
      heartbeatTicks: 1,
      applied: 0,
      preVote: false,
      checkQuorum: true,
      readOnly: "lease",
      maxMessageBytes: 0,
      maxInflightMessages: 1,
      maxInflightBytes: 0,
      maxUncommittedBytes: 0,
      maxCommittedBytesPerReady: 0,
      snapshotChunkBytes: 1,
      disableProposalForwarding: true,
    } as const;
    expect(resolveConfig({ ...base(), ...given } as RaftConfig)).toMatchObject(given);
    expect(resolveConfig({ ...base(), applied: 7, checkQuorum: false } as unknown as RaftConfig)).toMatchObject({ applied: 7, checkQuorum: false });
  });

  it("refuses each bad field, naming it and what to give", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ id: "" }, "id must be a non-empty string"],
      [{ id: 7 }, "id must be a non-empty string"],
      [{ storage: null }, "storage must implement RaftStorage (initialState, entries, term, firstIndex, lastIndex, snapshot)"],
      [{ storage: { initialState: f, entries: f, term: f, firstIndex: f, lastIndex: f } }, "storage must implement RaftStorage"],
      [{ rng: null }, "rng must be an Rng (inject seededRng(seed))"],
      [{ rng: {} }, "rng must be an Rng"],
      [{ electionTicks: undefined }, "electionTicks and heartbeatTicks are required"],
      [{ heartbeatTicks: undefined }, "electionTicks and heartbeatTicks are required"],
      [{ electionTicks: 0 }, "electionTicks must be an integer >= 1, got 0"],
      [{ heartbeatTicks: 1.5 }, "heartbeatTicks must be an integer >= 1, got 1.5"],
      [{ electionTicks: "10" }, "electionTicks must be an integer >= 1, got 10"],
      [{ electionTicks: 3, heartbeatTicks: 3 }, "electionTicks (3) must be greater than heartbeatTicks (3); 10x is typical"],
      [{ applied: -1 }, "applied must be an integer >= 0, got -1"],
      [{ preVote: "yes" }, "preVote must be true or false, got yes"],
      [{ checkQuorum: 1 }, "checkQuorum must be true or false, got 1"],
      [{ readOnly: "fast" }, 'readOnly must be "safe" or "lease", got fast'],
      [{ readOnly: "lease", checkQuorum: false }, 'readOnly "lease" requires checkQuorum: true'],
      [{ maxMessageBytes: -1 }, "maxMessageBytes must be an integer >= 0"],
      [{ maxInflightMessages: 0 }, "maxInflightMessages must be an integer >= 1, got 0"],
      [{ maxInflightBytes: Number.NaN }, "maxInflightBytes must be an integer >= 0, got NaN"],
      [{ maxUncommittedBytes: -5 }, "maxUncommittedBytes must be an integer >= 0"],
      [{ maxCommittedBytesPerReady: 2 ** 60 }, "maxCommittedBytesPerReady must be an integer >= 0"],
      [{ snapshotChunkBytes: 0 }, "snapshotChunkBytes must be an integer >= 1, got 0"],
      [{ disableProposalForwarding: null }, "disableProposalForwarding must be true or false, got null"],
    ];
    for (const [change, message] of cases) {
      const got = refusal(change);
      expect([change, got.startsWith("invalid Raft config: ") && got.includes(message)]).toEqual([change, true]);
    }
  });

  it("refuses what is not a config object", () => {
    for (const c of [null, undefined, 3]) {
      expect(() => resolveConfig(c as unknown as RaftConfig)).toThrow(ConcordError);
      expect(() => resolveConfig(c as unknown as RaftConfig)).toThrow("invalid Raft config: expected an object");
    }
  });

  it("names the bad field in the error's details", () => {
    try {
      resolveConfig({ ...base(), maxInflightMessages: 0 });
      expect.unreachable();
    } catch (e) {
      expect(isConcordError(e) ? e.details : null).toEqual({ maxInflightMessages: 0 });
    }
  });
});

describe("a core opened on a storage that contradicts itself", () => {
  /** A bootstrapped storage for voter a, with `override` of its answers. */
  function broken(override: Partial<Record<"initialState" | "firstIndex" | "lastIndex" | "entries", unknown>>): RaftConfig {
    const storage = MemoryRaftStorage.bootstrap({ voters: [asNodeId("a")], learners: [] });
    for (const [k, v] of Object.entries(override)) (storage as unknown as Record<string, unknown>)[k] = () => v;
    return { ...base(), storage } as RaftConfig;
  }
  const refusedWith = (config: RaftConfig): string => {
    try {
      createRaft(config);
    } catch (e) {
      if (isConcordError(e)) return `${e.code}: ${e.message}`;
      throw e;
    }
    return "accepted";
  };

  it("refuses to start, as Corrupt, naming what does not add up", () => {
    expect(refusedWith(broken({ firstIndex: 5, lastIndex: 2 }))).toMatch(/^Corrupt: storage's last index 2 is below its snapshot index 4/);
    expect(refusedWith(broken({ initialState: { hardState: { term: 1, vote: null, commit: 9 }, confState: { voters: [], learners: [] } } }))).toMatch(
      /^Corrupt: storage's commit index 9 is beyond its last index 1/,
    );
    expect(refusedWith(broken({ entries: "unavailable" }))).toMatch(/^Corrupt: storage cannot read its own entries \[1, 2\): unavailable/);
    expect(refusedWith(broken({ entries: [] }))).toMatch(/^Corrupt: storage cannot read its own entries/);
    expect(refusedWith({ ...base(), applied: 5 } as unknown as RaftConfig)).toMatch(/^InvalidArgument: invalid Raft config: applied 5 is beyond the last log index 1/);
    expect(refusedWith(base())).toBe("accepted");
  });
});
