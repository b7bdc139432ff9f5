import { describe, expect, it } from "vitest";
import { isConcordError } from "../../../src/errors.js";
import { asPeerId } from "../../../src/ids.js";
import { AwarenessState, changedClients, type AwarenessChange } from "../../../src/eventual/sync/awareness.js";
import { decodeAwarenessUpdate, encodeAwarenessUpdate } from "../../../src/eventual/sync/protocol.js";

const P = asPeerId("P");
const Q = asPeerId("Q");
const LOCAL = 1;

const empty: AwarenessChange = { added: [], updated: [], renewed: [], removed: [] };
const only = (part: Partial<AwarenessChange>): AwarenessChange => ({ ...empty, ...part });

describe("AwarenessState local state", () => {
  it("bumps its clock from 1 on every set and classifies the change", () => {
    const a = new AwarenessState(LOCAL);
    expect(a.setLocalState({ name: "ann" }, 0)).toEqual(only({ added: [LOCAL] }));
    expect(a.clockOf(LOCAL)).toBe(1);
    expect(a.setLocalState({ name: "ann" }, 1)).toEqual(only({ renewed: [LOCAL] }));
    expect(a.setLocalState({ name: "bea" }, 2)).toEqual(only({ updated: [LOCAL] }));
    expect(a.setLocalState(null, 3)).toEqual(only({ removed: [LOCAL] }));
    expect(a.clockOf(LOCAL)).toBe(4);
    expect(a.getLocalState()).toBeNull();
  });

  it("renews its own state once half the timeout has passed", () => {
    const a = new AwarenessState(LOCAL);
    a.setLocalState({}, 0);
    expect(a.renewLocal(4, 10)).toEqual(empty);
    expect(a.renewLocal(5, 10)).toEqual(only({ renewed: [LOCAL] }));
    expect(a.clockOf(LOCAL)).toBe(2);
    expect(a.renewLocal(9, 10)).toEqual(empty);
  });

  it("re-announces itself to a peer that came back above the removal that peer recorded when it lost us", () => {
    const a = new AwarenessState(LOCAL);
    expect(a.reannounceLocal(0)).toEqual(empty);
    a.setLocalState({ me: true }, 0);
    // The peer (a server) saw us go and removed us at one past our clock, as y-protocols does.
    const peer = new AwarenessState(7);
    peer.applyEntries(a.entriesFor([LOCAL]), 0, P);
    peer.applyEntries([{ clientId: LOCAL, clock: (a.clockOf(LOCAL) ?? 0) + 1, state: null }], 0, P);
    expect(peer.states().has(LOCAL)).toBe(false);
    expect(a.reannounceLocal(1)).toEqual(only({ renewed: [LOCAL] }));
    expect(a.getLocalState()).toEqual({ me: true });
    expect(peer.applyEntries(a.entriesFor([LOCAL]), 1, P)).toEqual(only({ added: [LOCAL] }));
  });

  it("refuses states that are not JSON with InvalidValue", () => {
    const a = new AwarenessState(LOCAL);
    const cycle: Record<string, unknown> = {};
    cycle["self"] = cycle;
    for (const bad of [10n, cycle, Number.NaN]) {
      try {
        a.setLocalState(bad as never, 0);
        expect.unreachable();
      } catch (e) {
        expect(isConcordError(e, "InvalidValue")).toBe(true);
      }
    }
    expect(a.clockOf(LOCAL)).toBeUndefined();
  });
});

describe("AwarenessState remote entries", () => {
  it("takes a higher clock, ignores a lower or equal one, and removes on an equal clock with null", () => {
    const a = new AwarenessState(LOCAL);
    expect(a.applyEntries([{ clientId: 2, clock: 0, state: { v: 1 } }], 0, P)).toEqual(only({ added: [2] }));
    expect(a.applyEntries([{ clientId: 2, clock: 3, state: { v: 2 } }], 0, P)).toEqual(only({ updated: [2] }));
    expect(a.applyEntries([{ clientId: 2, clock: 2, state: { v: 9 } }], 0, P)).toEqual(empty);
    expect(a.applyEntries([{ clientId: 2, clock: 3, state: { v: 9 } }], 0, P)).toEqual(empty);
    expect(a.applyEntries([{ clientId: 2, clock: 4, state: { v: 2 } }], 0, P)).toEqual(only({ renewed: [2] }));
    expect(a.applyEntries([{ clientId: 2, clock: 4, state: null }], 0, P)).toEqual(only({ removed: [2] }));
    expect(a.states().has(2)).toBe(false);
    // The clock stays, so the stale state cannot come back.
    expect(a.applyEntries([{ clientId: 2, clock: 4, state: { v: 2 } }], 0, P)).toEqual(empty);
    expect(a.applyEntries([{ clientId: 2, clock: 5, state: { v: 3 } }], 0, P)).toEqual(only({ added: [2] }));
  });

  it("reports a removal of a client it never had as renewed, so it is still forwarded", () => {
    const a = new AwarenessState(LOCAL);
    expect(a.applyEntries([{ clientId: 9, clock: 2, state: null }], 0, P)).toEqual(only({ renewed: [9] }));
    expect(a.applyEntries([{ clientId: 9, clock: 1, state: { late: true } }], 0, P)).toEqual(empty);
  });

  it("keeps its own state when a peer removes it, with a clock above the removal", () => {
    const a = new AwarenessState(LOCAL);
    a.setLocalState({ me: true }, 0);
    expect(a.applyEntries([{ clientId: LOCAL, clock: 1, state: null }], 0, P)).toEqual(only({ renewed: [LOCAL] }));
    expect(a.getLocalState()).toEqual({ me: true });
    expect(a.clockOf(LOCAL)).toBe(2);
  });

  it("decodes and applies a y-protocols update, and refuses a malformed one without any change", () => {
    const a = new AwarenessState(LOCAL);
    const update = encodeAwarenessUpdate([{ clientId: 2, clock: 1, state: { x: 1 } }]);
    expect(a.applyUpdate(update, 0, P)).toEqual(only({ added: [2] }));
    const broken = encodeAwarenessUpdate([
      { clientId: 3, clock: 1, state: { y: 1 } },
      { clientId: 4, clock: 1, state: { z: 1 } },
    ]).slice(0, -1);
    expect(() => a.applyUpdate(broken, 0, P)).toThrow(expect.objectContaining({ code: "Protocol" }));
    expect([...a.states().keys()]).toEqual([2]);
  });

  it("encodes current entries for given clients, removed ones as null, unknown ones skipped", () => {
    const a = new AwarenessState(LOCAL);
    a.setLocalState({ me: 1 }, 0);
    a.applyEntries([{ clientId: 2, clock: 5, state: { you: 2 } }], 0, P);
    a.applyEntries([{ clientId: 2, clock: 5, state: null }], 0, P);
    expect(decodeAwarenessUpdate(a.encodeUpdate([LOCAL, 2, 77]))).toEqual([
      { clientId: LOCAL, clock: 1, state: { me: 1 } },
      { clientId: 2, clock: 5, state: null },
    ]);
  });
});

describe("AwarenessState removal", () => {
  it("drops remote states not updated within the timeout, never its own", () => {
    const a = new AwarenessState(LOCAL);
    a.setLocalState({ me: 1 }, 0);
    a.applyEntries([{ clientId: 2, clock: 1, state: {} }], 0, P);
    a.applyEntries([{ clientId: 3, clock: 1, state: {} }], 5, P);
    expect(a.outdated(9, 10)).toEqual(empty);
    expect(a.outdated(10, 10)).toEqual(only({ removed: [2] }));
    expect(a.outdated(100, 10)).toEqual(only({ removed: [3] }));
    expect([...a.states().keys()]).toEqual([LOCAL]);
    expect(a.clockOf(2)).toBe(1);
  });

  it("on peerDown drops exactly the states that peer delivered", () => {
    const a = new AwarenessState(LOCAL);
    a.applyEntries(
      [
        { clientId: 2, clock: 1, state: {} },
        { clientId: 3, clock: 1, state: {} },
      ],
      0,
      P,
    );
    a.applyEntries([{ clientId: 4, clock: 1, state: {} }], 0, Q);
    a.applyEntries([{ clientId: 3, clock: 2, state: {} }], 0, Q); // Q now vouches for 3
    const change = a.peerDown(P);
    expect(change).toEqual(only({ removed: [2] }));
    expect(changedClients(change)).toEqual([2]);
    expect([...a.states().keys()].sort()).toEqual([3, 4]);
    expect(a.peerDown(P)).toEqual(empty);
  });
});
