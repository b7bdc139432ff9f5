/**
 * Properties of the two replication cores together, over a network that loses, duplicates and
 * reorders messages (world.ts), with random writes, compactions, slow disks, peer-down reports,
 * replica restarts and a failover. Replay a failure with the PROP_SEED command the report prints.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkProperty } from "../../property/prop.js";
import { actionsArb, isPrefix, makeWorld, perform, worldArb } from "./scenario.js";

describe("replication over a faulty network", () => {
  it("every replica's log stays a prefix of the primary's and equals it once the network heals", async () => {
    await checkProperty(
      fc.property(worldArb, actionsArb, (s, actions) => {
        const w = makeWorld(s);
        const p = w.primary();
        let writes = 0;
        for (const a of actions) {
          perform(w, a, p, () => `w${++writes}`);
          for (const r of w.replicas()) expect(isPrefix(r.log.state(), p.log.state()), `${r.id} is not a prefix of the primary`).toBe(true);
          // A replica never loses a record it acknowledged for a { replicas: n } write.
          for (const d of p.done) for (const id of d.replicas) expect(w.replica(id).log.lastLsn(), `${id} lost write ${d.lsn}`).toBeGreaterThanOrEqual(d.lsn);
        }
        for (let round = 0; round < 100 && !w.replicas().every((r) => r.log.lastLsn() === p.log.lastLsn()); round++) w.run(1);
        w.run(3);
        for (const r of w.replicas()) expect(r.log.state(), r.id).toEqual(p.log.state());
      }),
    );
  });

  it("after a failover every node converges to the new primary's log, and writes acked by the promoted replica survive", async () => {
    await checkProperty(
      fc.property(worldArb.filter((s) => s.replicas >= 2), actionsArb, actionsArb, fc.nat(), (s, before, after, pickPromoted) => {
        const w = makeWorld(s);
        const old = w.primary();
        let writes = 0;
        const nextWrite = (): string => `w${++writes}`;
        for (const a of before) perform(w, a, old, nextWrite);

        const candidates = w.replicas();
        const promotedId = candidates[pickPromoted % candidates.length]!.id;
        if (s.manualDisk) w.flushDisk(promotedId);
        const others = candidates.filter((r) => r.id !== promotedId).map((r) => r.id);
        const fresh = w.promote(promotedId, [...others, old.id]);
        // Writes the old primary resolved with the promoted replica among their holders.
        const mustSurvive = old.done.filter((d) => d.replicas.includes(fresh.id)).map((d) => ({ lsn: d.lsn, data: old.log.state()[d.lsn - 1] }));
        let demoted = false;
        let oldState: string[] | null = null; // the old primary's log when it was demoted
        /** A fenced old primary restarts as a replica of the new one, as its driver would. */
        const demoteWhenFenced = (): void => {
          if (!demoted && old.core.status(w.now).fencedBy !== null) {
            expect(old.core.write(new Uint8Array(), "local", w.now)).toMatchObject({ ok: false, reason: "fenced" });
            if (s.manualDisk) old.unpersisted = []; // whatever the crash did not make durable is gone
            oldState = old.log.state();
            w.demote(old.id, fresh.id, w.options.replicaConfig);
            demoted = true;
          }
        };
        for (const a of after) {
          perform(w, a, a.kind === "write" && !demoted && writes % 3 === 0 ? old : fresh, nextWrite);
          demoteWhenFenced();
          for (const r of w.replicas()) {
            const ok = isPrefix(r.log.state(), fresh.log.state()) || isPrefix(r.log.state(), oldState ?? old.log.state());
            expect(ok, `${r.id} is a prefix of neither primary`).toBe(true);
          }
        }
        for (let round = 0; round < 200; round++) {
          w.run(1);
          demoteWhenFenced();
          if (demoted && w.replicas().every((r) => r.log.lastLsn() === fresh.log.lastLsn())) break;
        }
        w.run(3);
        expect(demoted, "the old primary was never fenced").toBe(true);
        for (const r of w.replicas()) expect(r.log.state(), r.id).toEqual(fresh.log.state());
        const state = fresh.log.state();
        for (const m of mustSurvive) expect(state[m.lsn - 1], `write ${m.lsn} acked by ${fresh.id}`).toBe(m.data);
      }),
    );
  });
});
