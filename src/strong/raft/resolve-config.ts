/**
 * Validation and defaults for {@link RaftConfig}. Bad input is a caller's mistake: a
 * `ConcordError("InvalidArgument")` whose message says what to change, thrown by `createRaft`.
 */
import { ConcordError } from "../../errors.js";
import type { Rng } from "../../rng.js";
import type { RaftConfig } from "./config.js";
import type { RaftStorage } from "./storage.js";
import type { LogIndex, NodeId } from "./types.js";

/** A {@link RaftConfig} with every default filled in and every field checked. */
export interface ResolvedConfig {
  readonly id: NodeId;
  readonly storage: RaftStorage;
  readonly rng: Rng;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly applied: LogIndex | null;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly readOnly: "safe" | "lease";
  readonly maxMessageBytes: number;
  readonly maxInflightMessages: number;
  readonly maxInflightBytes: number;
  readonly maxUncommittedBytes: number;
  readonly maxCommittedBytesPerReady: number;
  readonly snapshotChunkBytes: number;
  readonly disableProposalForwarding: boolean;
}

const MIB = 1024 * 1024;

function bad(message: string, details: Record<string, unknown>): never {
  throw new ConcordError("InvalidArgument", `invalid Raft config: ${message}`, details);
}

function int(name: string, value: unknown, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    bad(`${name} must be an integer >= ${min}, got ${String(value)}`, { [name]: value });
  }
  return value;
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") bad(`${name} must be true or false, got ${String(value)}`, { [name]: value });
  return value;
}

/**
 * Checks `config` and fills defaults (see {@link RaftConfig}). Throws ConcordError
 * "InvalidArgument" naming the first bad field, e.g. `readOnly: "lease"` without check-quorum.
 */
export function resolveConfig(config: RaftConfig): ResolvedConfig {
  if (typeof config !== "object" || config === null) bad("expected an object", {});
  if (typeof config.id !== "string" || config.id.length === 0) bad("id must be a non-empty string", { id: config.id });
  const storage = config.storage as Partial<RaftStorage> | undefined;
  const storageMethods = ["initialState", "entries", "term", "firstIndex", "lastIndex", "snapshot"] as const;
  if (typeof storage !== "object" || storage === null || storageMethods.some((m) => typeof storage[m] !== "function")) {
    bad(`storage must implement RaftStorage (${storageMethods.join(", ")})`, {});
  }
  const rng = config.rng as Partial<Rng> | undefined;
  if (typeof rng !== "object" || rng === null || typeof rng.int !== "function") {
    bad("rng must be an Rng (inject seededRng(seed))", {});
  }
  const heartbeatTicks = int("heartbeatTicks", config.heartbeatTicks, 1, Number.NaN);
  const electionTicks = int("electionTicks", config.electionTicks, 1, Number.NaN);
  if (Number.isNaN(heartbeatTicks) || Number.isNaN(electionTicks)) {
    bad("electionTicks and heartbeatTicks are required (e.g. electionTicks: 10, heartbeatTicks: 1)", {
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
    });
  }
  if (electionTicks <= heartbeatTicks) {
    bad(`electionTicks (${electionTicks}) must be greater than heartbeatTicks (${heartbeatTicks}); 10x is typical`, {
      electionTicks,
      heartbeatTicks,
    });
  }
  const applied = config.applied === undefined ? null : (int("applied", config.applied, 0, 0) as LogIndex);
  const checkQuorum = bool("checkQuorum", config.checkQuorum, true);
  const readOnly = config.readOnly ?? "safe";
  if (readOnly !== "safe" && readOnly !== "lease") bad(`readOnly must be "safe" or "lease", got ${String(readOnly)}`, { readOnly });
  if (readOnly === "lease" && !checkQuorum) {
    bad('readOnly "lease" requires checkQuorum: true (a leader must step down when its lease can no longer hold)', {
      readOnly,
      checkQuorum,
    });
  }
  return {
    id: config.id,
    storage: config.storage,
    rng: config.rng,
    electionTicks,
    heartbeatTicks,
    applied,
    preVote: bool("preVote", config.preVote, true),
    checkQuorum,
    readOnly,
    maxMessageBytes: int("maxMessageBytes", config.maxMessageBytes, 0, MIB),
    maxInflightMessages: int("maxInflightMessages", config.maxInflightMessages, 1, 256),
    maxInflightBytes: int("maxInflightBytes", config.maxInflightBytes, 0, 0),
    maxUncommittedBytes: int("maxUncommittedBytes", config.maxUncommittedBytes, 0, 0),
    maxCommittedBytesPerReady: int("maxCommittedBytesPerReady", config.maxCommittedBytesPerReady, 0, 64 * MIB),
    snapshotChunkBytes: int("snapshotChunkBytes", config.snapshotChunkBytes, 1, MIB),
    disableProposalForwarding: bool("disableProposalForwarding", config.disableProposalForwarding, false),
  };
}
