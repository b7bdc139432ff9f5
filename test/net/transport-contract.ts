/**
 * The shared contract suite of the transport port (STYLE.md section 3). Every implementation runs
 * it: in-memory, simulated (faults off), WebSocket. It asserts only what every implementation
 * promises with no faults: delivery, up/down notices, no delivery after close, copied bytes. Not
 * message order (the simulated network reorders even with faults off).
 */
import { describe, expect, it } from "vitest";
import { InvariantError } from "../../src/errors.js";
import { asPeerId, type PeerId } from "../../src/ids.js";
import type { Transport } from "../../src/net/transport.js";

/** One network under test. */
export interface TransportWorld {
  join(id: PeerId): Transport;
  /** Resolves once every pending notice and message has been delivered (or dropped). */
  settle(): Promise<void>;
}

/** What one transport's handlers saw, in order. */
export type Heard = ["message", PeerId, string] | ["up", PeerId] | ["down", PeerId];

/** Listens on `transport` and records everything it hears; messages decoded as UTF-8. */
export function record(transport: Transport): Heard[] {
  const heard: Heard[] = [];
  transport.listen({
    message: (from, bytes) => heard.push(["message", from, new TextDecoder().decode(bytes)]),
    up: (peer) => heard.push(["up", peer]),
    down: (peer) => heard.push(["down", peer]),
  });
  return heard;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const messages = (heard: Heard[]): Heard[] => heard.filter((h) => h[0] === "message");
const a = asPeerId("a");
const b = asPeerId("b");
const c = asPeerId("c");

/** Registers the contract tests for one transport implementation. */
export function describeTransportContract(name: string, makeWorld: () => TransportWorld): void {
  describe(`Transport contract: ${name}`, () => {
    /** Joins and listens on every id, then settles so that everyone is up. */
    async function connected(world: TransportWorld, ...ids: PeerId[]) {
      const transports = ids.map((id) => world.join(id));
      const heard = transports.map(record);
      await world.settle();
      return { transports, heard };
    }

    it("delivers between two peers in both directions, with the sender's id", async () => {
      const world = makeWorld();
      const { transports: [ta, tb], heard: [ha, hb] } = await connected(world, a, b);
      ta!.send(b, text("ping"));
      tb!.send(a, text("pong"));
      await world.settle();
      expect(messages(hb!)).toEqual([["message", a, "ping"]]);
      expect(messages(ha!)).toEqual([["message", b, "pong"]]);
    });

    it("delivers among three peers only to the addressee", async () => {
      const world = makeWorld();
      const { transports: [ta, tb, tc], heard: [ha, hb, hc] } = await connected(world, a, b, c);
      ta!.send(b, text("a->b"));
      ta!.send(c, text("a->c"));
      tc!.send(b, text("c->b"));
      tb!.send(a, text("b->a"));
      await world.settle();
      expect(messages(ha!)).toEqual([["message", b, "b->a"]]);
      expect(messages(hb!)).toEqual(expect.arrayContaining([["message", a, "a->b"], ["message", c, "c->b"]]));
      expect(messages(hb!)).toHaveLength(2);
      expect(messages(hc!)).toEqual([["message", a, "a->c"]]);
    });

    it("fires up on both sides, for peers already there and for new ones, never synchronously", async () => {
      const world = makeWorld();
      const { transports: [ta], heard: [ha] } = await connected(world, a);
      expect(ha).toEqual([]);
      const tb = world.join(b);
      const hb = record(tb);
      expect(hb).toEqual([]);
      await world.settle();
      expect(ha).toEqual([["up", b]]);
      expect(hb).toEqual([["up", a]]);
      expect(ta!.peers()).toEqual([b]);
      expect(tb.peers()).toEqual([a]);
      const tc = world.join(c);
      const hc = record(tc);
      await world.settle();
      expect(ha).toEqual([["up", b], ["up", c]]);
      expect(hc).toEqual(expect.arrayContaining([["up", a], ["up", b]]));
      expect([...tc.peers()].sort()).toEqual([a, b]);
    });

    it("announces a peer only once it listens, so nothing is sent to an endpoint that can't hear", async () => {
      const world = makeWorld();
      const { transports: [ta], heard: [ha] } = await connected(world, a);
      const tb = world.join(b);
      await world.settle();
      expect(ha).toEqual([]);
      ta!.send(b, new Uint8Array([1])); // not up yet: dropped, never half-delivered
      const hb = record(tb);
      await world.settle();
      expect(ha).toEqual([["up", b]]);
      expect(hb).toEqual([["up", a]]);
    });

    it("fires down at the others when a peer closes; close is idempotent and silences the closer", async () => {
      const world = makeWorld();
      const { transports: [ta, tb, tc], heard: [ha, hb, hc] } = await connected(world, a, b, c);
      const heardByCloser = [...hb!];
      tb!.close();
      tb!.close();
      await world.settle();
      expect(ha!.at(-1)).toEqual(["down", b]);
      expect(hc!.at(-1)).toEqual(["down", b]);
      expect(ha!.filter((h) => h[0] === "down")).toHaveLength(1);
      expect(ta!.peers()).toEqual([c]);
      expect(tb!.peers()).toEqual([]);
      expect(hb).toEqual(heardByCloser);
      tc!.close();
      await world.settle();
      expect(ha!.at(-1)).toEqual(["down", c]);
      expect(ta!.peers()).toEqual([]);
    });

    it("delivers nothing to a peer that closed, nor from one that closed with messages in flight", async () => {
      const world = makeWorld();
      const { transports: [ta, tb], heard: [ha, hb] } = await connected(world, a, b);
      ta!.send(b, text("to-closing"));
      tb!.send(a, text("from-closing"));
      tb!.close();
      tb!.send(a, text("after-close"));
      await world.settle();
      expect(messages(hb!)).toEqual([]);
      expect(messages(ha!)).toEqual([]);
      expect(ha!.at(-1)).toEqual(["down", b]);
    });

    it("drops sends to unknown or departed peers without throwing", async () => {
      const world = makeWorld();
      const { transports: [ta, tb], heard: [, hb] } = await connected(world, a, b);
      expect(() => ta!.send(asPeerId("nobody"), text("x"))).not.toThrow();
      tb!.close();
      await world.settle();
      expect(() => ta!.send(b, text("y"))).not.toThrow();
      await world.settle();
      expect(messages(hb!)).toEqual([]);
    });

    it("copies bytes at send: later writes by the sender don't reach the receiver", async () => {
      const world = makeWorld();
      const { transports: [ta], heard: [, hb, hc] } = await connected(world, a, b, c);
      const buffer = text("abc");
      ta!.send(b, buffer);
      ta!.send(c, buffer);
      buffer.set(text("XYZ"));
      await world.settle();
      expect(messages(hb!)).toEqual([["message", a, "abc"]]);
      expect(messages(hc!)).toEqual([["message", a, "abc"]]);
    });

    it("treats a rejoin as a new peer: down then up, traffic flows with the new transport only", async () => {
      const world = makeWorld();
      const { transports: [ta, tb], heard: [ha, hb] } = await connected(world, a, b);
      ta!.send(b, text("to-old"));
      tb!.close();
      const tb2 = world.join(b);
      const hb2 = record(tb2);
      await world.settle();
      expect(ha).toEqual([["up", b], ["down", b], ["up", b]]);
      expect(hb2).toEqual([["up", a]]);
      tb2.send(a, text("from-new"));
      ta!.send(b, text("to-new"));
      await world.settle();
      expect(messages(ha!)).toEqual([["message", b, "from-new"]]);
      expect(messages(hb2)).toEqual([["message", a, "to-new"]]);
      expect(messages(hb!)).toEqual([]);
    });

    it("rejects joining an id that is still joined", () => {
      const world = makeWorld();
      world.join(a);
      expect(() => world.join(a)).toThrow(InvariantError);
    });
  });
}
