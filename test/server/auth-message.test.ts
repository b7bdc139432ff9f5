/**
 * The token in a first `concord-auth` message instead of the URL, and reloading the auth file
 * while connections are open. Real sockets on 127.0.0.1; waits end on events (a close, a log
 * entry, a synced document), never on sleeps.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as Y from "yjs";
import { isConcordError } from "../../src/errors.js";
import { decodeMessage, encodeMessage, type Message } from "../../src/eventual/sync/protocol.js";
import { openStore } from "../../src/open-store.js";
import type { AuthConfig } from "../../src/ops/auth.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import { connect, hasValue, onCleanup, rawSocket, runCleanups, start, synced, tempDir, waitFor } from "./fixtures.js";

afterEach(runCleanups);

const AUTH: AuthConfig = {
  tokens: {
    writer: { docs: ["todos"], access: "read-write" },
    reader: { docs: ["todos"], access: "read-only" },
    other: { docs: ["elsewhere"], access: "read-write" },
  },
};

const authFrame = (token: string): Uint8Array => encodeMessage({ type: "concord-auth", token });

/** Frames the server sent on `ws`, decoded, and a wait for one matching a predicate. */
function inbox(ws: import("ws").WebSocket) {
  const received: Message[] = [];
  const wakers = new Set<() => void>();
  ws.on("message", (data: Buffer) => {
    received.push(decodeMessage(new Uint8Array(data)));
    for (const wake of [...wakers]) wake();
  });
  return {
    received,
    until: (what: string, match: (m: Message) => boolean) =>
      waitFor(what, () => received.find(match), (wake) => {
        wakers.add(wake);
        return () => wakers.delete(wake);
      }),
  };
}

function updateFrame(key: string, value: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getMap("concord").set(key, value);
  return encodeMessage({ type: "sync-update", update: Y.encodeStateAsUpdate(doc) });
}

describe("token in the first message", () => {
  it("admits a raw socket whose first frame is concord-auth, and applies the frames it sent right after", async () => {
    const { server } = await start({ auth: AUTH });
    const raw = await rawSocket(server, "/todos");
    const frames = inbox(raw.ws);
    // Sent back to back: the update waits behind the token check, it is not lost or let in early.
    raw.ws.send(authFrame("writer"));
    raw.ws.send(updateFrame("k", "from-raw"));
    await frames.until("the server's sync step 1", (m) => m.type === "sync-step1");
    const reader = connect(server, "todos", { params: { token: "reader" } });
    await hasValue(reader, "k", "from-raw");
    expect(server.stats().metrics.rejectedConnections).toMatchObject({ unauthorized: 0, forbidden: 0 });
  });

  it("closes with 4401 a first frame that is not concord-auth, without applying it or opening the room", async () => {
    const { server, logs } = await start({ auth: AUTH });
    const raw = await rawSocket(server, "/todos");
    raw.ws.send(updateFrame("k", "sneaked"));
    const closed = await raw.closed;
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/^unauthorized: no token \(connect with \?token=\.\.\. or send a concord-auth message first\)/);
    expect(server.stats().documents).toBe(0);
    expect(logs.find((e) => e.event === "conn.rejected")).toMatchObject({ doc: "todos", reason: "unauthorized" });
  });

  it("closes an unknown token with 4401 and a token not allowed the document with 4403", async () => {
    const { server, logs } = await start({ auth: AUTH });
    for (const [token, code] of [["nope", 4401], ["other", 4403], ["", 4401]] as const) {
      const raw = await rawSocket(server, "/todos");
      raw.ws.send(authFrame(token));
      expect((await raw.closed).code, token).toBe(code);
    }
    expect(server.stats().metrics.rejectedConnections).toMatchObject({ unauthorized: 2, forbidden: 1 });
    expect(JSON.stringify(logs)).not.toMatch(/nope|"other"/);
  });

  it("closes with 4401 a connection that sends nothing within authTimeoutMs", async () => {
    const { server } = await start({ auth: AUTH, authTimeoutMs: 30 });
    const raw = await rawSocket(server, "/todos");
    expect(await raw.closed).toEqual({ code: 4401, reason: "unauthorized: no token within 30 ms (send ?token=... or a concord-auth message first)" });
  });

  it("lets a Concord store with tokenIn: message sync with a stock client both ways, and enforces read-only", async () => {
    const { server } = await start({ auth: AUTH });
    const stock = connect(server, "todos", { params: { token: "writer" } });
    await synced(stock);
    const open = (token: string) =>
      openStore({ mode: "eventual", doc: "todos", persistence: memoryStorage(), sync: { url: server.url, token, tokenIn: "message" } });
    const store = await open("writer");
    onCleanup(() => store.close());
    await store.set("from-concord", 1, { ack: "server" });
    await hasValue(stock, "from-concord", 1);
    stock.map.set("from-stock", 2);
    await waitFor("the stock write at the store", () => store.getLocal("from-stock") === 2, (wake) => store.subscribe({ prefix: "" }, wake));

    const errors: unknown[] = [];
    let wakeOnError = (): void => undefined;
    const viewer = await openStore({
      mode: "eventual",
      doc: "todos",
      persistence: memoryStorage(),
      sync: { url: server.url, token: "reader", tokenIn: "message" },
      onError: (e) => {
        errors.push(e);
        wakeOnError();
      },
    });
    onCleanup(() => viewer.close());
    await viewer.whenSynced();
    expect(viewer.getLocal("from-stock")).toBe(2);
    await viewer.set("refused", true);
    await waitFor("the read-only refusal", () => errors.find((e) => isConcordError(e, "Unauthorized")), (wake) => {
      wakeOnError = wake;
      return () => (wakeOnError = () => undefined);
    });
    expect(stock.map.get("refused")).toBeUndefined();
  });

  it("refuses tokenIn values that make no sense", async () => {
    const sync = (extra: object) => openStore({ mode: "eventual", doc: "d", persistence: memoryStorage(), sync: { url: "ws://127.0.0.1:1", ...extra } as never });
    await expect(sync({ token: "t", tokenIn: "header" })).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringMatching(/tokenIn must be "query" or "message"/) });
    await expect(sync({ tokenIn: "message" })).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringMatching(/needs sync.token/) });
  });
});

describe("reloading the auth file", () => {
  it("closes connections the new table refuses (4401) or gives another access (1012), and admits by the new table", async () => {
    const dir = tempDir();
    const file = join(dir, "auth.json");
    writeFileSync(file, JSON.stringify(AUTH));
    const { server, logged } = await start({ auth: file });
    const writer = connect(server, "todos", { params: { token: "writer" } });
    const reader = connect(server, "todos", { params: { token: "reader" } });
    const untouched = connect(server, "elsewhere", { params: { token: "other" } });
    await Promise.all([synced(writer), synced(reader), synced(untouched)]);

    writeFileSync(file, JSON.stringify({ tokens: { writer: { docs: ["todos"], access: "read-only" }, other: AUTH.tokens["other"] } }));
    expect(server.reloadAuth()).toEqual({ tokens: 2, closed: 2 });
    await logged((e) => e.event === "auth.reloaded");
    await waitFor("the closes", () => reader.closeCodes.includes(4401) && writer.closeCodes.includes(1012), (wake) => {
      reader.provider.on("connection-close", wake);
      writer.provider.on("connection-close", wake);
      return () => {
        reader.provider.off("connection-close", wake);
        writer.provider.off("connection-close", wake);
      };
    });
    expect(untouched.closeCodes).toEqual([]);
    // The writer reconnects (1012 is not a refusal) and is read-only now: its change is never applied.
    await synced(writer);
    const raw = await rawSocket(server, "/todos?token=reader");
    expect((await raw.closed).code).toBe(4401);
  });

  it("keeps the old table when the new file is bad, and refuses a reload without an auth file", async () => {
    const dir = tempDir();
    const file = join(dir, "auth.json");
    writeFileSync(file, JSON.stringify(AUTH));
    const { server } = await start({ auth: file });
    writeFileSync(file, "{ not json");
    expect(() => server.reloadAuth()).toThrow(expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(/not valid JSON/) }));
    const c = connect(server, "todos", { params: { token: "writer" } });
    await synced(c);

    const { server: open } = await start({ auth: AUTH });
    expect(() => open.reloadAuth()).toThrow(expect.objectContaining({ code: "InvalidArgument", message: expect.stringMatching(/not started with an auth file/) }));
  });
});
