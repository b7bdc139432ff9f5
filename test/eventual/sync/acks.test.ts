/**
 * Concord's durability acks (protocol extension types 100 and 101): the handshake, the counting,
 * what stock peers never see, and that a server's ack waits for its durability.
 */
import { describe, expect, it, vi } from "vitest";
import * as Y from "yjs";
import { isConcordError } from "../../../src/errors.js";
import { asPeerId, type PeerId } from "../../../src/ids.js";
import { MemoryNetwork } from "../../../src/net/memory-network.js";
import { openStore } from "../../../src/open-store.js";
import { memoryStorage } from "../../../src/storage/memory-storage.js";
import { decodeMessage, encodeMessage, type Message } from "../../../src/eventual/sync/protocol.js";
import { SyncCore, type SyncCoreOptions } from "../../../src/eventual/sync/sync-core.js";
import { gatedStorage } from "../gated-storage.js";

const A = asPeerId("client");
const B = asPeerId("server");

/** Two cores wired by a synchronous loop that records every message type that crossed. */
function pair(a: SyncCoreOptions, b: SyncCoreOptions) {
  const client = new SyncCore(new Y.Doc(), a);
  const server = new SyncCore(new Y.Doc(), b);
  const seen: Array<{ from: PeerId; type: Message["type"] }> = [];
  const pump = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      for (const [from, core, to, other] of [
        [A, client, B, server],
        [B, server, A, client],
      ] as const) {
        for (const m of core.takeOutbox()) {
          expect(m.to).toBe(to);
          seen.push({ from, type: decodeMessage(m.bytes).type });
          expect(other.receive(from, m.bytes)).toBeUndefined();
          moved = true;
        }
      }
    }
  };
  const connect = (): void => {
    client.peerUp(B);
    server.peerUp(A);
    pump();
  };
  return { client, server, seen, pump, connect };
}

describe("durability acks (extension)", () => {
  it("a client that initiates and a server that replies count and ack update-bearing messages", () => {
    const { client, server, seen, pump, connect } = pair({ acks: "initiate" }, { acks: "reply" });
    const acked: number[] = [];
    client.onLinkChange((peer, link) => {
      expect(peer).toBe(B);
      if (acked.at(-1) !== link.acked) acked.push(link.acked);
    });
    connect();
    expect(seen.filter((m) => m.type === "concord-hello").map((m) => m.from)).toEqual([A, B]);
    // Both of the client's handshake step 2s were acked (they count as update-bearing): one answers
    // the server's step 1 of its peerUp, one the step 1 it sends again with its hello.
    expect(client.link(B)).toMatchObject({ greeted: true, sent: 2, firstStep2: 1, acked: 2, synced: true });
    client.doc.getMap("m").set("x", 1);
    client.doc.getMap("m").set("y", 2);
    pump();
    expect(server.doc.getMap("m").toJSON()).toEqual({ x: 1, y: 2 });
    expect(client.link(B)).toMatchObject({ sent: 4, acked: 4 });
    expect(acked).toEqual([0, 1, 2, 3, 4]); // 0: the handshake completed (synced), before any ack
  });

  it("a replying server sends no extension message to a peer that never greeted (a stock client)", () => {
    const { client, seen, pump, connect } = pair({ acks: "off" }, { acks: "reply" });
    connect();
    client.doc.getMap("m").set("x", 1);
    pump();
    expect(seen.map((m) => m.type).filter((t) => t.startsWith("concord-"))).toEqual([]);
  });

  it("a core with acks off ignores a hello and never acks", () => {
    const { seen, client, pump, connect } = pair({ acks: "initiate" }, { acks: "off" });
    connect();
    client.doc.getMap("m").set("x", 1);
    pump();
    expect(seen.filter((m) => m.from === B && m.type.startsWith("concord-"))).toEqual([]);
    expect(client.link(B)).toMatchObject({ greeted: false, acked: 0 });
  });

  it("refuses an ack for more messages than were sent, with Protocol", () => {
    const { client, connect } = pair({ acks: "initiate" }, { acks: "reply" });
    connect();
    const error = client.receive(B, encodeMessage({ type: "concord-ack", received: 99 }));
    expect(isConcordError(error, "Protocol")).toBe(true);
    expect(error?.message).toMatch(/acked 99 messages but was sent 2/);
  });

  it("starts a fresh count on every connection, in a new epoch", () => {
    const { client, server, connect } = pair({ acks: "initiate" }, { acks: "reply" });
    connect();
    client.doc.getMap("m").set("x", 1);
    const before = client.link(B)!.epoch;
    client.peerDown(B);
    server.peerDown(A);
    expect(client.link(B)).toBeUndefined();
    connect();
    expect(client.link(B)!.epoch).toBeGreaterThan(before);
    expect(client.link(B)).toMatchObject({ sent: 2, firstStep2: 1, acked: 2 });
  });

  it("rejects an unknown acks option with InvalidArgument", () => {
    expect(() => new SyncCore(new Y.Doc(), { acks: "sometimes" as never })).toThrow(/acks must be "off", "initiate" or "reply"/);
  });

  it("a server store acks a client's update only once the update is durable in its storage", async () => {
    const net = new MemoryNetwork();
    const gate = gatedStorage(memoryStorage());
    const server = await openStore({ mode: "eventual", doc: "d", persistence: gate.persistence, sync: { transport: net.join(B), acks: "reply" } });
    await gate.release(); // nothing pending yet; keeps the gate empty
    const transport = net.join(A);
    const client = new SyncCore(new Y.Doc(), { acks: "initiate" });
    transport.listen({
      message: (from, bytes) => {
        expect(client.receive(from, bytes)).toBeUndefined();
        flush();
      },
      up: (peer) => {
        client.peerUp(peer);
        flush();
      },
      down: (peer) => client.peerDown(peer),
    });
    const flush = (): void => {
      for (const m of client.takeOutbox()) transport.send(m.to, m.bytes);
    };
    await vi.waitFor(() => expect(client.link(B)?.acked).toBe(2)); // the handshake's (empty) step 2s
    client.doc.getMap("concord").set("k", "v");
    flush();
    await vi.waitFor(() => expect(gate.held).toHaveLength(1));
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
    expect(client.link(B)!.acked, "acked before the server's storage made it durable").toBe(2);
    await gate.release();
    await vi.waitFor(() => expect(client.link(B)!.acked).toBe(3));
    expect(server.getLocal("k")).toBe("v");
    transport.close();
    await server.close();
  });
});
