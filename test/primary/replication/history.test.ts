import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { commonPrefix, epochAt, epochEntryAt, historyProblem, lastEpoch, promotedHistory } from "../../../src/primary/replication/history.js";
import { asEpoch, asLsn, type EpochHistory } from "../../../src/primary/replication/types.js";
import { hist } from "./world.js";

const L = asLsn;

describe("historyProblem", () => {
  it("accepts a history whose epochs increase and whose starts never decrease, from LSN 1", () => {
    expect(historyProblem(hist([1, "p", 1], [2, "r1", 5], [4, "r2", 5]))).toBeNull();
  });

  it.each<[string, EpochHistory, RegExp]>([
    ["an empty history", [], /at least one entry/],
    ["a first epoch after LSN 1", hist([1, "p", 2]), /first epoch must start at LSN 1/],
    ["epochs that do not increase", hist([2, "p", 1], [2, "q", 3]), /does not follow/],
    ["start LSNs that decrease", hist([1, "p", 1], [2, "q", 5], [3, "r", 4]), /does not follow/],
    ["an epoch below 1", hist([0, "p", 1]), /not a positive integer/],
    ["a fractional start LSN", hist([1, "p", 1], [2, "q", 2.5]), /not a positive integer/],
    ["an epoch without a primary", hist([1, "", 1]), /has no primary/],
    ["an entry that is not an object", [null] as unknown as EpochHistory, /not an object/],
  ])("rejects %s", (_name, history, problem) => {
    expect(historyProblem(history)).toMatch(problem);
  });
});

describe("epochAt", () => {
  const h = hist([1, "p", 1], [2, "r1", 4], [3, "r2", 4], [5, "r3", 9]);

  it("names the epoch whose run holds the LSN", () => {
    expect([1, 3, 4, 8, 9, 100].map((lsn) => epochAt(h, L(lsn)))).toEqual([1, 1, 3, 3, 5, 5]);
  });

  it("skips an epoch that wrote nothing (its successor starts at the same LSN)", () => {
    expect(epochEntryAt(h, L(4)).primary).toBe("r2");
  });

  it("lastEpoch is the newest epoch", () => {
    expect(lastEpoch(h)).toBe(5);
  });
});

describe("commonPrefix", () => {
  it("of two logs with the same history is the shorter log", () => {
    const h = hist([1, "p", 1], [2, "r1", 5]);
    expect(commonPrefix(h, L(9), h, L(7))).toBe(7);
    expect(commonPrefix(h, L(3), h, L(7))).toBe(3);
  });

  it("is 0 when either log is empty", () => {
    const h = hist([1, "p", 1]);
    expect(commonPrefix(h, L(0), h, L(7))).toBe(0);
    expect(commonPrefix(h, L(7), h, L(0))).toBe(0);
  });

  it("stops before the first LSN the histories assign to different epochs", () => {
    // The old primary wrote 1..10 in epoch 1; r1 was promoted at 5 and wrote 6.. in epoch 2.
    const old = hist([1, "p", 1]);
    const promoted = hist([1, "p", 1], [2, "r1", 6]);
    expect(commonPrefix(old, L(10), promoted, L(8))).toBe(5);
    expect(commonPrefix(promoted, L(8), old, L(10))).toBe(5);
  });

  it("stops where the same epoch has different primaries", () => {
    const a = hist([1, "p", 1], [2, "x", 4]);
    const b = hist([1, "p", 1], [2, "y", 4]);
    expect(commonPrefix(a, L(9), b, L(9))).toBe(3);
  });

  it("treats a log in an older epoch that ends before the promotion as a prefix", () => {
    expect(commonPrefix(hist([1, "p", 1]), L(4), hist([1, "p", 1], [2, "r1", 6]), L(9))).toBe(4);
  });

  it("ignores epochs that wrote nothing: only the epoch of each LSN counts", () => {
    // Epoch 2 (r1) was promoted and deposed without writing; epoch 3 (r2) wrote from 5.
    const seen = hist([1, "p", 1], [2, "r1", 5], [3, "r2", 5]);
    const skipped = hist([1, "p", 1], [3, "r2", 5]);
    expect(commonPrefix(seen, L(8), skipped, L(8))).toBe(8);
  });

  it("finds a divergence hidden behind an empty epoch", () => {
    const a = hist([1, "p", 1], [2, "r1", 5], [3, "r2", 5]);
    const b = hist([1, "p", 1], [2, "r1", 5]); // r1 wrote 5.. in epoch 2
    expect(commonPrefix(a, L(8), b, L(8))).toBe(4);
  });
});

describe("promotedHistory", () => {
  it("keeps the epochs of the records held, then starts one above the highest epoch seen at lastLsn + 1", () => {
    const h = hist([1, "p", 1], [2, "r1", 5], [3, "r2", 9]);
    const promoted = promotedHistory(h, L(7), asEpoch(4), asPeerId("r3"));
    expect(promoted).toEqual(hist([1, "p", 1], [2, "r1", 5], [5, "r3", 8]));
    expect(historyProblem(promoted)).toBeNull();
  });

  it("takes the history's last epoch when it is above the highest seen", () => {
    const promoted = promotedHistory(hist([1, "p", 1], [3, "r2", 2]), L(4), asEpoch(1), asPeerId("r3"));
    expect(lastEpoch(promoted)).toBe(4);
  });

  it("of an empty log starts the new epoch at LSN 1 and stays a valid history", () => {
    const promoted = promotedHistory(hist([1, "p", 1], [2, "r1", 1]), L(0), asEpoch(2), asPeerId("r2"));
    expect(promoted).toEqual(hist([1, "p", 1], [3, "r2", 1]));
    expect(historyProblem(promoted)).toBeNull();
  });

  it("does not mutate its input", () => {
    const h = hist([1, "p", 1], [2, "r1", 5]);
    const copy = structuredClone(h);
    promotedHistory(h, L(3), asEpoch(2), asPeerId("r2"));
    expect(h).toEqual(copy);
  });
});
