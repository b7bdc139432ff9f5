/**
 * The retry loop of node-backed clients (src/client/retry.ts) on fake links and virtual time: a
 * writer of a newer term found after a failure is tried at once, while an election is under way
 * the loop pauses, longer each time; a write's fate is the worst of its attempts'.
 */
import { describe, expect, it } from "vitest";
import { NodeGroup } from "../../src/client/node-group.js";
import type { NodeLink } from "../../src/client/node-link.js";
import { withRetries } from "../../src/client/retry.js";
import { ConcordError } from "../../src/errors.js";
import type { Json } from "../../src/json.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";
import { strongPolicy } from "../../src/strong/client-policy.js";

/** Links whose status answers come from `statuses` (a node's role and term, as a Raft node says them). */
function group(statuses: Map<string, Json>): NodeGroup {
  const link = (url: string): NodeLink =>
    ({
      url,
      state: "up",
      request: async () => ({ type: "status", id: 1, status: statuses.get(url) ?? null }),
      close: () => undefined,
    }) as unknown as NodeLink;
  return new NodeGroup({ urls: [...statuses.keys()], policy: strongPolicy, link, onWriterChange: () => undefined });
}

const status = (id: string, role: string, term: number): Json => ({ id, role, term });
const noLeader = () => new ConcordError("Unavailable", "knows no leader", { outcome: "refused" });

describe("withRetries", () => {
  it("tries a writer of a newer term at once; pauses 20, 40, 80 ms while no node leads", async () => {
    const clock = new VirtualClock();
    const statuses = new Map<string, Json>([
      ["ws://a", status("a", "follower", 2)],
      ["ws://b", status("b", "follower", 2)],
    ]);
    const g = group(statuses);
    const attempts: { url: string; at: number }[] = [];
    let done = false;
    const result = withRetries(g, clock, 10_000, async (link) => {
      attempts.push({ url: link.url, at: clock.now() });
      if (attempts.length === 4) statuses.set("ws://b", status("b", "leader", 3)); // an election ends
      if (link.url !== "ws://b" || attempts.length < 5) throw noLeader();
      return "written";
    }, () => true).finally(() => (done = true));
    await clock.runUntil(() => done, { maxMs: 10_000 });
    expect(await result).toBe("written");
    // Pauses while no node leads; then b, found leading term 3, is tried with no pause.
    expect(attempts.map((a) => a.at)).toStrictEqual([0, 20, 60, 140, 140]);
    expect(attempts.map((a) => a.url)).toStrictEqual(["ws://a", "ws://a", "ws://a", "ws://a", "ws://b"]);
  });

  it("a write refused on its last attempt after an earlier attempt may have applied it is of unknown outcome", async () => {
    const clock = new VirtualClock();
    const g = group(new Map<string, Json>([["ws://a", status("a", "follower", 2)]]));
    let n = 0;
    let done = false;
    const result = withRetries(g, clock, 100, async () => {
      n++;
      throw n === 1 ? new ConcordError("Timeout", "no answer", { outcome: "unknown" }) : noLeader();
    }, () => true).finally(() => (done = true));
    result.catch(() => undefined);
    await clock.runUntil(() => done, { maxMs: 1_000 });
    // Attempts at 0, 20, 60, 80 (a pause cut short by the deadline), then no time for a pause and an attempt.
    expect(n).toBe(4);
    await expect(result).rejects.toMatchObject({ code: "Unavailable", details: { outcome: "unknown" }, message: expect.stringMatching(/earlier attempt may have applied/) });
  });
});
