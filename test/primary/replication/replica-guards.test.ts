/**
 * What a replica refuses from its primary (src/primary/replication/replica-core.ts and
 * replica-log.ts), at the edges the mutation run found unguarded: a newer epoch is followed only
 * on a welcome or snapshot whose history names the sender as that very epoch's primary, and a run
 * of records is refused whole when any one of them contradicts the history.
 */
import { describe, expect, it } from "vitest";
import { asPeerId } from "../../../src/ids.js";
import type { ReplicaCore } from "../../../src/primary/replication/core.js";
import type { PrimaryToReplica } from "../../../src/primary/replication/messages.js";
import { createReplica } from "../../../src/primary/replication/replica-core.js";
import { asEpoch, asLsn, type EpochHistory } from "../../../src/primary/replication/types.js";
import { hist, rec } from "./world.js";

const p = asPeerId("p");
const H1 = hist([1, "p", 1]);

function aligned(): ReplicaCore {
  const r = createReplica({ id: asPeerId("r1"), primary: p, history: H1, epoch: asEpoch(1), lastLsn: asLsn(0), appliedLsn: asLsn(0), ackMs: 100, helloMs: 1_000 });
  r.step(p, { type: "welcome", epoch: asEpoch(1), history: H1, last: asLsn(0) }, 0);
  r.output();
  return r;
}

const welcome = (epoch: number, history: EpochHistory): PrimaryToReplica => ({ type: "welcome", epoch: asEpoch(epoch), history, last: asLsn(0) });

describe("a replica following its primary into a newer epoch", () => {
  it("follows a welcome of a newer epoch whose history names the sender as that epoch's primary", () => {
    const r = aligned();
    r.step(p, welcome(2, hist([1, "p", 1], [2, "p", 1])), 10);
    expect(r.status(10)).toMatchObject({ epoch: 2, dropped: 0 });
  });

  it("drops one whose history names another primary for that epoch, or ends in an older epoch", () => {
    const r = aligned();
    r.step(p, welcome(2, hist([1, "p", 1], [2, "q", 1])), 10);
    expect(r.status(10)).toMatchObject({ epoch: 1, dropped: 1 });
    r.step(p, welcome(3, hist([1, "p", 1], [2, "p", 1])), 20);
    expect(r.status(20)).toMatchObject({ epoch: 1, dropped: 2 });
  });
});

describe("a run of records", () => {
  it("is refused whole when one record's epoch contradicts the history, even after good ones", () => {
    const r = aligned();
    const records = { type: "records", epoch: asEpoch(1), prev: asLsn(0), last: asLsn(2), records: [rec(1, 1), rec(1, 2)] } as PrimaryToReplica;
    // A record of epoch 2 at LSN 2, where the history says epoch 1 goes on: the log is not what p thinks.
    const wrong = hist([1, "p", 1], [2, "p", 2]);
    const r2 = createReplica({ id: asPeerId("r1"), primary: p, history: wrong, epoch: asEpoch(2), lastLsn: asLsn(0), appliedLsn: asLsn(0), ackMs: 100, helloMs: 1_000 });
    r2.step(p, { type: "welcome", epoch: asEpoch(2), history: wrong, last: asLsn(0) }, 0);
    r2.output();
    r2.step(p, { ...records, epoch: asEpoch(2) } as PrimaryToReplica, 10);
    expect(r2.output().persist).toEqual([]);
    // The same run where every epoch agrees is taken.
    r.step(p, records, 10);
    expect(r.output().persist.map((x) => x.lsn)).toEqual([1, 2]);
  });
});
