/**
 * Majority arithmetic (quorum.ts) against its definition, by brute force over random voter sets
 * and matches, votes and activity, with the empty configuration (a server not yet configured)
 * always among the cases: nothing commits, no election is won, no quorum is active.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { committedIndex, hasQuorum, quorumSize, voteResult } from "../../../src/strong/raft/quorum.js";
import { asIndex, asNodeId, type NodeId } from "../../../src/strong/raft/types.js";
import { checkProperty } from "../../property/prop.js";

const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => asNodeId(`n${i}`));
const majority = (n: number, count: number): boolean => n > 0 && count * 2 > n;

describe("quorum arithmetic", () => {
  it("quorumSize is a strict majority: 1 1 2 2 3 3 for 0..5 voters", () => {
    expect([0, 1, 2, 3, 4, 5].map(quorumSize)).toEqual([1, 1, 2, 2, 3, 3]);
  });

  it("with no voters nothing commits, no election is won and no quorum is active", () => {
    expect(committedIndex([], () => asIndex(9))).toBe(0);
    expect(voteResult([], new Map())).toBe("lost");
    expect(hasQuorum([], () => true)).toBe(false);
  });

  it("committedIndex is the largest index a majority holds (a voter with no match holds 0)", async () => {
    await checkProperty(fc.property(fc.array(fc.option(fc.nat(20), { nil: undefined }), { maxLength: 7 }), (matches) => {
      const voters = ids(matches.length);
      const matchOf = (id: NodeId): ReturnType<typeof asIndex> | undefined => {
        const m = matches[voters.indexOf(id)];
        return m === undefined ? undefined : asIndex(m);
      };
      let want = 0;
      for (let i = 1; i <= 20; i++) if (majority(voters.length, matches.filter((m) => (m ?? 0) >= i).length)) want = i;
      expect(committedIndex(voters, matchOf)).toBe(want);
    }));
  });

  it("voteResult: won on a majority of grants, lost once a majority can no longer grant, else pending; outsiders' votes ignored", async () => {
    const vote = fc.constantFrom<boolean | undefined>(true, false, undefined);
    await checkProperty(fc.property(fc.array(vote, { maxLength: 7 }), fc.array(fc.boolean(), { maxLength: 3 }), (votes, outsiders) => {
      const voters = ids(votes.length);
      const map = new Map<NodeId, boolean>();
      votes.forEach((v, i) => v !== undefined && map.set(voters[i]!, v));
      outsiders.forEach((v, i) => map.set(asNodeId(`outsider${i}`), v));
      const granted = votes.filter((v) => v === true).length;
      const open = votes.filter((v) => v !== false).length;
      const want = majority(voters.length, granted) ? "won" : majority(voters.length, open) ? "pending" : "lost";
      expect(voteResult(voters, map)).toBe(want);
    }));
  });

  it("hasQuorum is true exactly when a majority of voters are active", async () => {
    await checkProperty(fc.property(fc.array(fc.boolean(), { maxLength: 7 }), (active) => {
      const voters = ids(active.length);
      expect(hasQuorum(voters, (id) => active[voters.indexOf(id)] === true)).toBe(majority(voters.length, active.filter(Boolean).length));
    }));
  });
});
