/**
 * Eventual stores syncing through the driver, over the in-memory network: the store-level view of
 * what the sync core tests cover in isolation.
 */
import * as Y from "yjs";
import { describe, expect, it, vi } from "vitest";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { asPeerId } from "../../src/ids.js";
import { MemoryNetwork } from "../../src/net/memory-network.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import type { ChangeEvent } from "../../src/store.js";
import { isConcordError } from "../../src/errors.js";
import { decodeMessage } from "../../src/eventual/sync/protocol.js";
import { gatedStorage } from "./gated-storage.js";

async function pair(): Promise<{ a: EventualStore; b: EventualStore; net: MemoryNetwork }> {
  const net = new MemoryNetwork();
  const open = (id: string) =>
    openStore({ mode: "eventual", doc: "shared", persistence: memoryStorage(), sync: { transport: net.join(asPeerId(id)) } });
  return { a: await open("a"), b: await open("b"), net };
}

describe("eventual stores syncing", () => {
  it("exchange writes both ways, with remote origin, and report their peers", async () => {
    const { a, b } = await pair();
    const seenByB: ChangeEvent[] = [];
    b.subscribe({}, (e) => seenByB.push(e));
    await a.set("x", 1);
    await b.set("y", 2);
    await vi.waitFor(() => {
      expect(a.entriesLocal()).toEqual([["x", 1], ["y", 2]]);
      expect(b.entriesLocal()).toEqual([["x", 1], ["y", 2]]);
    });
    expect(seenByB).toContainEqual({ changes: [{ key: "x", value: 1 }], origin: "remote" });
    expect(a.status().peers).toEqual(["b"]);
    expect(a.status().replicaId).toBe("a");
    await Promise.all([a.close(), b.close()]);
  });

  it("persists before it sends: a peer sees a write only once it is durable on the writer", async () => {
    const net = new MemoryNetwork();
    const gate = gatedStorage(memoryStorage());
    const a = await openStore({ mode: "eventual", doc: "d", persistence: gate.persistence, sync: { transport: net.join(asPeerId("a")) } });
    const b = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("b")) } });
    await vi.waitFor(() => expect(a.status().peers).toEqual(["b"]));
    const ack = a.set("k", "v");
    // Give the network every chance to deliver: many turns of the event loop.
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
    expect(b.getLocal("k")).toBeUndefined();
    await gate.release();
    await ack;
    await vi.waitFor(() => expect(b.getLocal("k")).toBe("v"));
    await Promise.all([a.close(), b.close()]);
  });

  it("syncs what was written before the peers met", async () => {
    const net = new MemoryNetwork();
    const a = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("a")) } });
    await a.set("early", true);
    a.ydoc.getText("t").insert(0, "text");
    const b = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("b")) } });
    await vi.waitFor(() => expect(b.getLocal("early")).toBe(true));
    expect(b.ydoc.getText("t").toString()).toBe("text");
    await Promise.all([a.close(), b.close()]);
  });

  it("shares presence, and a closed store's presence disappears at once", async () => {
    const { a, b } = await pair();
    a.setPresence({ user: "ana", cursor: 3 });
    await vi.waitFor(() => expect([...b.presence().values()]).toContainEqual({ user: "ana", cursor: 3 }));
    await a.close();
    await vi.waitFor(() => expect([...b.presence().values()]).not.toContainEqual({ user: "ana", cursor: 3 }));
    expect(() => a.setPresence({})).toThrow(/after close/);
    await b.close();
  });

  it("tells presence subscribers of every appearance, change and departure, ours included, until they unsubscribe", async () => {
    const { a, b } = await pair();
    const heard: unknown[][] = [];
    const stop = b.subscribePresence((presence) => heard.push([...presence.values()]));
    a.setPresence({ user: "ana" });
    await vi.waitFor(() => expect(heard.at(-1)).toContainEqual({ user: "ana" }));
    b.setPresence({ user: "bo" });
    expect(heard.at(-1)).toEqual(expect.arrayContaining([{ user: "ana" }, { user: "bo" }]));
    a.setPresence({ user: "ana", cursor: 1 });
    await vi.waitFor(() => expect(heard.at(-1)).toContainEqual({ user: "ana", cursor: 1 }));
    stop();
    const count = heard.length;
    await a.close();
    await vi.waitFor(() => expect([...b.presence().values()]).toEqual([{ user: "bo" }]));
    expect(heard.length).toBe(count);
    await b.close();
  });

  it("tells durable-update subscribers each update once durable, local or from its peer, until they unsubscribe", async () => {
    const { a, b } = await pair();
    const heard: Array<{ origin: unknown; keys: string[] }> = [];
    const stop = b.subscribeDurable(({ update, origin }) => {
      const doc = new Y.Doc();
      Y.applyUpdate(doc, update);
      heard.push({ origin, keys: [...doc.getMap("concord").keys()] });
    });
    await b.set("mine", 1);
    expect(heard).toEqual([{ origin: "local", keys: ["mine"] }]);
    await a.set("theirs", 2);
    await vi.waitFor(() => expect(heard).toContainEqual({ origin: { peer: "a" }, keys: ["theirs"] }));
    stop();
    await b.set("after", 3);
    expect(heard.length).toBe(2);
    expect(() => b.subscribeDurable(null as never)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    await Promise.all([a.close(), b.close()]);
  });

  it("says goodbye on close: the last message to each peer removes our presence", async () => {
    const net = new MemoryNetwork();
    const transport = net.join(asPeerId("a"));
    const sent: Array<{ to: string; bytes: Uint8Array }> = [];
    const send = transport.send.bind(transport);
    transport.send = (to, bytes) => {
      sent.push({ to, bytes });
      send(to, bytes);
    };
    const a = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport } });
    const b = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("b")) } });
    a.setPresence({ user: "ana" });
    await vi.waitFor(() => expect(b.presence().get(a.status().clientId)).toEqual({ user: "ana" }));
    await a.close();
    const last = decodeMessage(sent.filter((m) => m.to === "b").at(-1)!.bytes);
    expect(last).toEqual({ type: "awareness", entries: [{ clientId: a.status().clientId, clock: expect.any(Number), state: null }] });
    await b.close();
  });

  it("refuses presence without sync, and non-JSON presence", async () => {
    const local = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage() });
    expect(() => local.setPresence({ user: "x" })).toThrow(/needs a store opened with sync/);
    expect(local.presence().size).toBe(0);
    expect(typeof local.subscribePresence(() => undefined)).toBe("function");
    expect(() => local.subscribePresence("not a function" as never)).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    await local.close();
    const { a, b } = await pair();
    let error: unknown;
    try {
      a.setPresence({ when: new Date() } as never);
    } catch (e) {
      error = e;
    }
    expect(isConcordError(error, "InvalidValue")).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it("reports garbage from a peer to onError and keeps syncing with it", async () => {
    const net = new MemoryNetwork();
    const errors: unknown[] = [];
    const a = await openStore({
      mode: "eventual",
      doc: "d",
      persistence: memoryStorage(),
      sync: { transport: net.join(asPeerId("a")) },
      onError: (e) => errors.push(e),
    });
    const rogue = net.join(asPeerId("rogue"));
    rogue.listen({ message: () => undefined, up: () => undefined, down: () => undefined });
    await vi.waitFor(() => expect(a.status().peers).toContain("rogue"));
    rogue.send(asPeerId("a"), new Uint8Array([0, 2, 200, 1, 2]));
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    expect(isConcordError(errors[0], "Protocol")).toBe(true);
    expect((errors[0] as Error).message).toMatch(/from peer rogue/);
    const b = await openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("b")) } });
    await b.set("still", "syncing");
    await vi.waitFor(() => expect(a.getLocal("still")).toBe("syncing"));
    await Promise.all([a.close(), b.close()]);
  });

  it("rejects a bad tickMs with a message naming the option", async () => {
    const net = new MemoryNetwork();
    await expect(
      openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("a")), tickMs: 0 } }),
    ).rejects.toThrow(/sync.tickMs must be a positive number/);
  });

  it("rejects a bad forward with a message naming the option and its values", async () => {
    const net = new MemoryNetwork();
    await expect(
      openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { transport: net.join(asPeerId("a")), forward: "eventually" as never } }),
    ).rejects.toThrow(/sync.forward must be "when-durable" or "at-once", got "eventually"/);
  });
});
