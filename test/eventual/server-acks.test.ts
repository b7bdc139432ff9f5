/**
 * Writes at ack level "server", whenSynced() and status().server, end to end between a client store
 * and a server store over the in-memory network. The server store acks only what its storage holds
 * (the sync core's ack extension behind the persist-before-send gate).
 */
import { describe, expect, it, vi } from "vitest";
import { isConcordError } from "../../src/errors.js";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { asPeerId } from "../../src/ids.js";
import { MemoryNetwork } from "../../src/net/memory-network.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { Persistence } from "../../src/storage/storage.js";
import { gatedStorage } from "./gated-storage.js";

const SERVER = asPeerId("server");

function openServer(net: MemoryNetwork, persistence: Persistence, acks: "reply" | "off" = "reply"): Promise<EventualStore> {
  return openStore({ mode: "eventual", doc: "d", persistence, replicaId: "server", sync: { transport: net.join(SERVER), acks } });
}

function openClient(net: MemoryNetwork, persistence: Persistence = memoryStorage()): Promise<EventualStore> {
  return openStore({ mode: "eventual", doc: "d", persistence, sync: { transport: net.join(asPeerId("client")), server: SERVER } });
}

/** Lets the event loop run many turns, to show that something does NOT happen. */
async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

describe("ack level server", () => {
  it("resolves a write only once the server's storage holds it", async () => {
    const net = new MemoryNetwork();
    const gate = gatedStorage(memoryStorage());
    const server = await openServer(net, gate.persistence);
    const client = await openClient(net);
    await client.whenSynced();
    expect(client.status().server).toMatchObject({ connected: true, protocol: "concord", pendingWrites: 0 });

    let acked = false;
    const ack = client.set("k", "v", { ack: "server" }).then((a) => {
      acked = true;
      return a;
    });
    await vi.waitFor(() => expect(gate.held).toHaveLength(1));
    await turns();
    expect(acked).toBe(false);
    expect(client.status().server?.pendingWrites).toBe(1);
    await gate.release();
    expect(await ack).toEqual({ level: "server" });
    expect(server.getLocal("k")).toBe("v");
    expect(client.status().server?.pendingWrites).toBe(0);
    await Promise.all([client.close(), server.close()]);
  });

  it("whenSynced waits for offline writes until a server stored them", async () => {
    const net = new MemoryNetwork();
    const client = await openClient(net);
    await client.set("offline", 1);
    client.ydoc.getText("notes").insert(0, "written offline");
    let synced = false;
    const whenSynced = client.whenSynced().then(() => (synced = true));
    await turns();
    expect(synced).toBe(false);
    expect(client.status().server).toMatchObject({ connected: false, pendingWrites: 2 });

    const serverStorage = memoryStorage();
    const server = await openServer(net, serverStorage);
    await whenSynced;
    expect(server.getLocal("offline")).toBe(1);
    expect(server.ydoc.getText("notes").toString()).toBe("written offline");
    await server.close();
    // "Stored" means durable: a fresh server process on the same storage has them.
    const again = await openStore({ mode: "eventual", doc: "d", persistence: serverStorage });
    expect(again.getLocal("offline")).toBe(1);
    await again.close();
    await client.close();
  });

  it("offline writes count as stored only once the server's storage holds the handshake that carried them", async () => {
    const net = new MemoryNetwork();
    const client = await openClient(net);
    await client.set("offline", 1);
    let synced = false;
    const whenSynced = client.whenSynced().then(() => (synced = true));
    const gate = gatedStorage(memoryStorage());
    await openServer(net, gate.persistence);
    await vi.waitFor(() => expect(gate.held.length).toBeGreaterThan(0));
    await turns();
    expect(client.status().server?.connected).toBe(true);
    expect(synced, "synced before the server made the offline write durable").toBe(false);
    await gate.release();
    await whenSynced;
    await client.close();
  });

  it("a write pending when the server went away is stored by the next connection's handshake", async () => {
    const net = new MemoryNetwork();
    const gate = gatedStorage(memoryStorage());
    const serverTransport = net.join(SERVER);
    await openStore({ mode: "eventual", doc: "d", persistence: gate.persistence, replicaId: "server", sync: { transport: serverTransport, acks: "reply" } });
    const client = await openClient(net);
    await client.whenSynced();
    let acked = false;
    const ack = client.set("k", "v", { ack: "server" }).then((a) => {
      acked = true;
      return a;
    });
    await vi.waitFor(() => expect(gate.held).toHaveLength(1));
    // The server process dies before its storage made the write durable: its connections drop and
    // the held append never completes. The ack must not come from it.
    serverTransport.close();
    await vi.waitFor(() => expect(client.status().server?.connected).toBe(false));
    await turns();
    expect(acked).toBe(false);
    expect(client.status().server?.pendingWrites).toBe(1);
    // A new server process on other storage: the client's handshake step 2 carries the write.
    const server = await openServer(net, memoryStorage());
    expect(await ack).toEqual({ level: "server" });
    expect(server.getLocal("k")).toBe("v");
    expect(client.status().server?.pendingWrites).toBe(0);
    await Promise.all([client.close(), server.close()]);
  });

  it("against a server without the extension (stock), resolves once the handshake is done", async () => {
    const net = new MemoryNetwork();
    const server = await openServer(net, memoryStorage(), "off");
    const client = await openClient(net);
    await client.whenSynced();
    expect(client.status().server?.protocol).toBe("stock");
    expect(await client.set("k", 1, { ack: "server" })).toEqual({ level: "server" });
    await vi.waitFor(() => expect(server.getLocal("k")).toBe(1));
    await Promise.all([client.close(), server.close()]);
  });

  it("close() rejects writes still waiting for the server with Closed", async () => {
    const net = new MemoryNetwork();
    const client = await openClient(net);
    const ack = client.set("k", 1, { ack: "server" });
    const synced = client.whenSynced();
    await client.close();
    for (const p of [ack, synced]) {
      const e = await p.catch((err: unknown) => err);
      expect(isConcordError(e, "Closed")).toBe(true);
    }
    expect(isConcordError(await client.whenSynced().catch((e: unknown) => e), "Closed")).toBe(true);
  });

  it("whenSynced without a server is InvalidArgument", async () => {
    const local = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    expect(isConcordError(await local.whenSynced().catch((e: unknown) => e), "InvalidArgument")).toBe(true);
    await local.close();
  });
});
