/**
 * Core bugs the Raft simulation found, each replayed exactly (seed + schedule) and named by the
 * property it breaks. They fail until the core is fixed; the diagnosis is in each test's comment.
 */
import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import { awaitLiveness, healAll, WARM_UP_TICKS } from "./raft-scenario.js";
import { DELAYS, DISKS } from "./raft-schedule.js";
import { RaftWorld } from "./raft-world.js";

describe("Raft simulation regressions", () => {
  /**
   * Liveness (thesis 4.2.2), found by the property test as "leader removes itself, crashes while
   * persisting the entry" and replayed here without the crash-timing dependency.
   *
   * Three voters {a, b, c}, leader a. a removes b (committed: voters {a, c}). a is cut off, then
   * proposes "remove a": appended and persisted, it can't leave. a's LATEST configuration is now
   * {c}, uncommitted; check-quorum makes a step down. After the heal:
   * - a never campaigns: under the core's rule a server uses its latest configuration, committed
   *   or not, and `promotable` (node-state.ts:90, "a voter of the configuration in force") is false,
   *   so tick.ts:33 and election.ts:19 refuse;
   * - c (voters {a, c}) needs a's vote, and a denies it: c's log is shorter (a holds the removal);
   * - b was removed. Nobody can ever be elected: the cluster is unavailable forever.
   *
   * Thesis 4.2.2: a server that is not part of its own latest configuration should still start
   * elections (it may be needed until that configuration commits); it just doesn't count its own
   * vote. LogCabin's startNewElection only requires SOME configuration. Here a would win c's vote
   * ({c} is a's configuration), commit "remove a", and step down, leaving c alone and live.
   */
  it("liveness: a server whose own uncommitted configuration removes it still campaigns (leader cut off, removes itself)", async () => {
    const world = new RaftWorld({
      seed: 1,
      size: 3,
      spares: 0,
      tuning: { preVote: true, checkQuorum: true, heartbeatTicks: 1, maxMessageBytes: 1 << 20, maxInflightMessages: 256, snapshotChunkBytes: 1024 },
      disk: DISKS[0]!,
      delay: DELAYS[0]!,
      loss: 0,
      duplicate: 0,
    });
    world.start();
    await world.advance(WARM_UP_TICKS);
    const a = world.leader()!;
    const [b, c] = world.nodes.filter((n) => n !== a);
    expect(world.changeMembership(a, { type: "remove", node: b!.id })).toEqual({ ok: true });
    await world.advance(5);
    expect(c!.inc!.core.status().conf.voters).toEqual([a.id, c!.id].sort());
    world.net.isolate(asPeerId(a.id));
    expect(world.changeMembership(a, { type: "remove", node: a.id })).toEqual({ ok: true });
    await world.advance(30);
    healAll(world);
    await awaitLiveness(world, "after the heal");
  });
});
