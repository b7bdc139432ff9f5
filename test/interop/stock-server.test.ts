/**
 * Interoperability, the direction that tests software no one here wrote: a Concord client syncing
 * through the stock y-websocket server (y-websocket@2.1.0's bin/server.cjs, installed as
 * `y-websocket-stock`) with a stock y-websocket client (`WebsocketProvider`, y-websocket 3.1).
 * Edits and presence both ways; whenSynced degrades to "handshake done", as documented.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { openStore } from "../../src/open-store.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";

let server: ChildProcess;
let url: string;

/** A port nothing listens on right now (the stock server can't report the port it bound). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  const port = await freePort();
  server = spawn(process.execPath, ["node_modules/y-websocket-stock/bin/server.cjs"], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`the stock server exited with ${code}`)));
    server.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("running at")) resolve();
    });
  });
  url = `ws://127.0.0.1:${port}`;
});

afterAll(() => {
  server?.kill();
});

function stockClient(room: string): { doc: Y.Doc; provider: WebsocketProvider } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket as never, disableBc: true });
  return { doc, provider };
}

async function concordClient(room: string): Promise<EventualStore> {
  return openStore({ mode: "eventual", doc: room, persistence: memoryStorage(), sync: { url } });
}

describe("a Concord client through the stock y-websocket server", () => {
  it("syncs edits both ways with a stock client, rich types included", async () => {
    const stock = stockClient("interop-edits");
    const store = await concordClient("interop-edits");
    await store.whenSynced();
    expect(store.status().server).toMatchObject({ connected: true, protocol: "stock" });

    await store.set("from:concord", { n: 1 });
    await vi.waitFor(() => expect(stock.doc.getMap("concord").get("from:concord")).toEqual({ n: 1 }), { timeout: 5000 });
    stock.doc.getMap("concord").set("from:stock", "hi");
    stock.doc.getText("notes").insert(0, "stock text");
    await vi.waitFor(() => expect(store.getLocal("from:stock")).toBe("hi"), { timeout: 5000 });
    await vi.waitFor(() => expect(store.ydoc.getText("notes").toString()).toBe("stock text"), { timeout: 5000 });
    expect(await store.set("acked", true, { ack: "server" })).toEqual({ level: "server" });

    stock.provider.destroy();
    await store.close();
  });

  it("shares presence both ways and drops a closed Concord client's presence", async () => {
    const stock = stockClient("interop-presence");
    const store = await concordClient("interop-presence");
    await store.whenSynced();
    store.setPresence({ user: "concord" });
    stock.provider.awareness.setLocalStateField("user", "stock");
    await vi.waitFor(
      () => expect([...stock.provider.awareness.getStates().values()]).toContainEqual({ user: "concord" }),
      { timeout: 5000 },
    );
    await vi.waitFor(() => expect([...store.presence().values()]).toContainEqual({ user: "stock" }), { timeout: 5000 });
    await store.close();
    await vi.waitFor(
      () => expect([...stock.provider.awareness.getStates().values()]).not.toContainEqual({ user: "concord" }),
      { timeout: 5000 },
    );
    stock.provider.destroy();
  });
});
