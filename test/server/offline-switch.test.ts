/**
 * An eventual store's offline switch (`disconnect()` / `connect()`, y-websocket's names) against
 * `concord serve`'s server on loopback: offline, the connection is closed and not retried, peers
 * stop seeing our presence, writes go on locally and wait; back online they reach the server and
 * every peer, and our presence is back.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { awarenessState, connect, hasValue, onCleanup, runCleanups, start, tempDir } from "./fixtures.js";

afterEach(runCleanups);

const DOC = "offline switch";

async function concordClient(url: string, name: string) {
  const store = await openStore({ mode: "eventual", doc: DOC, replicaId: name, persistence: memoryStorage(), sync: { url, WebSocket: WebSocket as never } });
  onCleanup(() => store.close());
  await store.whenSynced();
  return store;
}

describe("eventual store: the offline switch", () => {
  it("offline, writes wait locally and presence goes; online, both reach every peer", async () => {
    const { server } = await start({ dataDir: tempDir() });
    const ada = await concordClient(server.url, "ada");
    const bob = await concordClient(server.url, "bob");
    const stock = connect(server, DOC);
    ada.setPresence({ user: "ada" });
    const adaPresent = () => [...stock.provider.awareness.getStates().values()].some((s) => s["user"] === "ada");
    await awarenessState(stock, "ada's presence at the stock client", adaPresent);

    ada.disconnect();
    expect(ada.status().server).toMatchObject({ connected: false, connection: { state: "offline" } });
    await awarenessState(stock, "ada's presence gone", () => !adaPresent());
    expect(await ada.set("written offline", 1)).toEqual({ level: "local" });
    expect(ada.getLocal("written offline")).toBe(1);
    expect(ada.status().server).toMatchObject({ pendingWrites: 1, connection: { state: "offline" } });
    // A write bob got acknowledged by the server after ada's: the server never had ada's.
    await bob.set("from bob", true, { ack: "server" });
    expect(bob.getLocal("written offline")).toBeUndefined();
    ada.disconnect();
    expect(ada.status().server?.connection?.state).toBe("offline");

    ada.connect();
    await ada.whenSynced();
    expect(ada.status().server).toMatchObject({ connected: true, pendingWrites: 0, connection: { state: "open" } });
    await hasValue(stock, "written offline", 1);
    expect(ada.getLocal("from bob")).toBe(true);
    await awarenessState(stock, "ada's presence back", adaPresent);
    ada.connect();
    expect(ada.status().server?.connection?.state).toBe("open");
  });

  it("sync: { connect: false } opens offline: nothing reaches the server until connect()", async () => {
    const { server } = await start({ dataDir: tempDir() });
    const stock = connect(server, DOC);
    const store = await openStore({ mode: "eventual", doc: DOC, persistence: memoryStorage(), sync: { url: server.url, WebSocket: WebSocket as never, connect: false } });
    onCleanup(() => store.close());
    expect(store.status().server).toMatchObject({ connected: false, connection: { state: "offline", attempts: 0 } });
    await store.set("while offline", 1);
    const bob = await concordClient(server.url, "bob");
    await bob.set("barrier", true, { ack: "server" });
    expect(bob.getLocal("while offline")).toBeUndefined();
    expect(server.stats()).toMatchObject({ connections: 2 });
    store.connect();
    await store.whenSynced();
    await hasValue(stock, "while offline", 1);
  });

  it("refuses a sync.connect that is not a boolean with InvalidArgument", async () => {
    await expect(openStore({ mode: "eventual", doc: DOC, persistence: memoryStorage(), sync: { url: "ws://127.0.0.1:1", connect: "no" as never } })).rejects.toThrow(
      /sync.connect must be true or false, got "no"/,
    );
  });

  it("a store without URL sync refuses the switch with InvalidArgument", async () => {
    const local = await openStore({ mode: "eventual", doc: DOC, persistence: memoryStorage() });
    onCleanup(() => local.close());
    for (const flip of [() => local.disconnect(), () => local.connect()]) {
      let caught: unknown;
      try {
        flip();
      } catch (e) {
        caught = e;
      }
      expect(isConcordError(caught) && caught.code === "InvalidArgument" && /sync: \{ url \}/.test(caught.message)).toBe(true);
    }
  });
});
