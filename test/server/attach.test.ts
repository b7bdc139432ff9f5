/**
 * The sync service attached to an app's own HTTP server (`attachServer`), sharing its port: rooms
 * under a path, the app's routes and its own WebSocket endpoint untouched, the same clients (stock
 * y-websocket and Concord stores) syncing, and a close that leaves the app's server running.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { isConcordError } from "../../src/errors.js";
import { openStore } from "../../src/open-store.js";
import { attachServer } from "../../src/server/server.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { onCleanup, runCleanups, waitFor, within } from "./fixtures.js";

afterEach(runCleanups);

/** An app: GET /api answers "app", ws://.../echo is its own WebSocket endpoint (echo). */
async function appServer(): Promise<{ http: Server; base: string }> {
  const http = createServer((req, res) => {
    if (req.url === "/api") res.end("app");
    else res.writeHead(404).end();
  });
  const echo = new WebSocketServer({ noServer: true });
  echo.on("connection", (ws) => ws.on("message", (data) => ws.send(data)));
  http.on("upgrade", (req, socket, head) => {
    if (req.url === "/echo") echo.handleUpgrade(req, socket, head, (ws) => echo.emit("connection", ws, req));
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        echo.close();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  );
  return { http, base: `127.0.0.1:${(http.address() as AddressInfo).port}` };
}

function stock(url: string, room: string): { doc: Y.Doc; provider: WebsocketProvider } {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket as never, disableBc: true });
  onCleanup(() => {
    provider.destroy();
    doc.destroy();
  });
  return { doc, provider };
}

const valueAt = (doc: Y.Doc, key: string, value: unknown) =>
  waitFor(`${key} = ${JSON.stringify(value)}`, () => doc.getMap("concord").get(key) === value, (wake) => {
    doc.on("update", wake);
    return () => doc.off("update", wake);
  });

describe("attachServer", () => {
  it("serves rooms under its path on the app's port; the app's routes and WebSocket endpoint stay the app's", async () => {
    const { http, base } = await appServer();
    const sync = await attachServer(http, { path: "/sync", persistence: memoryStorage(), onLog: () => undefined });
    let closed = false;
    onCleanup(() => (closed ? undefined : sync.close()));

    const a = stock(`ws://${base}/sync`, "todos");
    const b = stock(`ws://${base}/sync`, "todos");
    a.doc.getMap("concord").set("from", "stock");
    await valueAt(b.doc, "from", "stock");
    const store = await openStore({ mode: "eventual", doc: "todos", persistence: memoryStorage(), sync: { url: `ws://${base}/sync`, WebSocket: WebSocket as never } });
    onCleanup(() => store.close());
    expect(await store.set("from concord", 1, { ack: "server" })).toEqual({ level: "server" });
    await valueAt(a.doc, "from concord", 1);
    expect(store.getLocal("from")).toBe("stock");
    expect(sync.health()).toEqual({ status: "ok", documents: 1, connections: 3 });
    expect(sync.stats().rooms).toMatchObject([{ doc: "todos", connections: 3 }]);

    // The app's own routes and WebSocket endpoint.
    expect(await (await fetch(`http://${base}/api`)).text()).toBe("app");
    const echo = new WebSocket(`ws://${base}/echo`);
    onCleanup(() => echo.terminate());
    const echoed = within("the app's echo", new Promise<string>((resolve) => echo.on("message", (d) => resolve(d.toString()))));
    echo.on("open", () => echo.send("ping"));
    expect(await echoed).toBe("ping");

    // Closing the service closes its connections (1001) and leaves the app serving.
    const goingAway = within("the store's connection to drop", new Promise<number>((resolve) => a.provider.ws?.addEventListener("close", (e) => resolve(e.code))));
    closed = true;
    await sync.close();
    expect(await goingAway).toBe(1001);
    expect(await (await fetch(`http://${base}/api`)).text()).toBe("app");
  });

  it("refuses what it cannot attach to or serve with InvalidArgument", async () => {
    const { http } = await appServer();
    for (const [args, message] of [
      [[{} as Server, {}], /needs a node:http \(or https\) Server/],
      [[http, { path: "sync" }], /path must be a URL path starting with \//],
      [[http, { path: "/sync?x" }], /path must be a URL path starting with \//],
    ] as const) {
      let caught: unknown;
      try {
        await attachServer(args[0], args[1] as never);
      } catch (e) {
        caught = e;
      }
      expect(isConcordError(caught, "InvalidArgument") && message.test((caught as Error).message)).toBe(true);
    }
  });
});
