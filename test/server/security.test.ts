/**
 * The sync server's security: tokens (4401 / 4403, prefix matches), read-only connections (their
 * changes refused and never applied, empty step 2s tolerated), connection and document size limits,
 * TLS. Real sockets on 127.0.0.1, stock y-websocket clients and Concord stores; no sleeps: every
 * wait ends on an event (a doc update, a socket close, a server log entry, an error report).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as encoding from "lib0/encoding";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket, type ClientOptions } from "ws";
import * as Y from "yjs";
import { isConcordError } from "../../src/errors.js";
import type { EventualStore } from "../../src/eventual/eventual-store.js";
import { SERVER_PEER } from "../../src/eventual/sync-options.js";
import { decodeMessage, encodeMessage, type Message } from "../../src/eventual/sync/protocol.js";
import { webSocketClient, type WebSocketCloseInfo } from "../../src/net/websocket-client.js";
import { openStore } from "../../src/open-store.js";
import { authorize, docMatches, parseAuthConfig, tokenOf, type AuthConfig } from "../../src/ops/auth.js";
import { startServer } from "../../src/server/server.js";
import { carriesChanges } from "../../src/server/write-gate.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import {
  awarenessState,
  connect,
  hasValue,
  onCleanup,
  presenceOf,
  rawSocket,
  runCleanups,
  selfSignedCert,
  start,
  synced,
  tempDir,
  waitFor,
  within,
  type Client,
} from "./fixtures.js";

afterEach(runCleanups);

const AUTH: AuthConfig = {
  tokens: {
    writer: { docs: ["todos", "notes-*"], access: "read-write" },
    reader: { docs: ["todos", "notes-*"], access: "read-only" },
    other: { docs: ["elsewhere"], access: "read-write" },
  },
};

function syncFrame(sub: 1 | 2, update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0);
  encoding.writeVarUint(e, sub);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

/** Resolves once `client` saw a close with `code`. */
function closedWith(client: Client, code: number): Promise<true> {
  return waitFor(
    `a close with ${code}`,
    () => client.closeCodes.includes(code),
    (wake) => {
      client.provider.on("connection-close", wake);
      return () => client.provider.off("connection-close", wake);
    },
  );
}

/** A Concord store syncing through `url` with `token`, its errors and closes recorded. */
async function concordClient(url: string, doc: string, token: string) {
  const errors: unknown[] = [];
  const closes: WebSocketCloseInfo[] = [];
  const wakers = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of [...wakers]) wake();
  };
  const store = await openStore({
    mode: "eventual",
    doc,
    persistence: memoryStorage(),
    sync: {
      url,
      token,
      onClose: (info) => {
        closes.push(info);
        wakeAll();
      },
    },
    onError: (error) => {
      errors.push(error);
      wakeAll();
    },
  });
  onCleanup(() => store.close());
  const until = <T>(what: string, check: () => T | undefined | false): Promise<T> =>
    waitFor(what, check, (wake) => {
      wakers.add(wake);
      const off = store.subscribe({ prefix: "" }, wake);
      return () => {
        wakers.delete(wake);
        off();
      };
    });
  return { store, errors, closes, until };
}

function valueIn(store: EventualStore, key: string): unknown {
  return store.getLocal(key);
}

describe("auth", () => {
  it("lets a known token open the documents it is allowed, prefix matches included", async () => {
    const { server } = await start({ auth: AUTH });
    const a = connect(server, "todos", { params: { token: "writer" } });
    const b = connect(server, "todos", { params: { token: "writer" } });
    await Promise.all([synced(a), synced(b)]);
    a.map.set("k", "v");
    await hasValue(b, "k", "v");

    const notes = connect(server, "notes-2024", { params: { token: "writer" } });
    const notesEmpty = connect(server, "notes-", { params: { token: "writer" } });
    await Promise.all([synced(notes), synced(notesEmpty)]);
    expect(server.stats().metrics.rejectedConnections).toMatchObject({ unauthorized: 0, forbidden: 0 });
  });

  it("closes a missing or unknown token with 4401 and a token not allowed the document with 4403", async () => {
    // No token in the query: the server waits for a concord-auth first message (auth-message.test.ts).
    const { server, logs } = await start({ auth: AUTH, authTimeoutMs: 50 });
    const cases: Array<[string, number, RegExp]> = [
      ["/todos", 4401, /^unauthorized: no token within 50 ms/],
      ["/todos?token=", 4401, /^unauthorized: /],
      ["/todos?token=nope", 4401, /^unauthorized: /],
      ["/todos?token=Writer", 4401, /^unauthorized: /],
      ["/todos?token=other", 4403, /^forbidden: /],
      ["/notes?token=writer", 4403, /^forbidden: /], // "notes-*" is a prefix of "notes-", not "notes"
      ["/notesx?token=writer", 4403, /^forbidden: /],
      ["/todos2?token=writer", 4403, /^forbidden: /], // "todos" is exact
    ];
    for (const [path, code, reason] of cases) {
      const raw = await rawSocket(server, path);
      const closed = await raw.closed;
      expect(closed.code, path).toBe(code);
      expect(closed.reason, path).toMatch(reason);
    }
    expect(server.stats().metrics.rejectedConnections).toMatchObject({ unauthorized: 4, forbidden: 4 });
    // Refused before any room was opened; the tokens never reach the log.
    expect(server.stats().documents).toBe(0);
    expect(JSON.stringify(logs)).not.toMatch(/nope|Writer|token=(writer|other)/);
  });

  it("makes a stock client refused with 4401 see the close", async () => {
    const { server } = await start({ auth: AUTH });
    const c = connect(server, "todos", { params: { token: "wrong" } });
    await closedWith(c, 4401);
    c.provider.destroy();
  });

  it("makes a Concord client stop retrying on 4401 and on 4403", async () => {
    const { server, logs } = await start({ auth: AUTH });
    const unknown = await concordClient(server.url, "todos", "wrong");
    const close = await unknown.until("the 4401 close", () => unknown.closes[0]);
    expect(close).toMatchObject({ code: 4401, willRetry: false, reason: expect.stringMatching(/^unauthorized: /) });
    expect(unknown.store.status().server).toMatchObject({
      connected: false,
      // The store reports why it stopped trying: the transport's state and the server's close.
      connection: { state: "closed", lastClose: { code: 4401, reason: expect.stringMatching(/^unauthorized: /) } },
    });

    // The transport itself says it gave up for good.
    const closes: WebSocketCloseInfo[] = [];
    let wake = (): void => undefined;
    const transport = webSocketClient({
      url: `${server.url}/todos`,
      token: "other",
      serverPeer: SERVER_PEER,
      onClose: (info) => {
        closes.push(info);
        wake();
      },
    });
    const store = await openStore({ mode: "eventual", doc: "todos", persistence: memoryStorage(), sync: { transport, server: SERVER_PEER } });
    onCleanup(() => store.close());
    await waitFor(
      "the 4403 close",
      () => closes.length > 0,
      (w) => {
        wake = w;
        return () => (wake = () => undefined);
      },
    );
    expect(closes[0]).toMatchObject({ code: 4403, willRetry: false });
    expect(transport.status().state).toBe("closed");
    expect(store.status().server).toMatchObject({ connected: false });
    expect(logs.filter((e) => e.event === "conn.rejected").map((e) => e["reason"])).toEqual(["unauthorized", "forbidden"]);
  });

  it("refuses a malformed auth config with InvalidArgument naming the file and the problem", async () => {
    const dir = tempDir();
    const cases: Array<[string, RegExp]> = [
      ["{", /not valid JSON/],
      ["[]", /must be a JSON object/],
      ['{"tokens": {"t": {"docs": [], "access": "read-write"}}}', /"docs" must be a non-empty array/],
      ['{"tokens": {"t": {"docs": ["a"], "access": "write"}}}', /"access" must be "read-write", "read-only" or "admin"/],
      ['{"tokens": {"t": {"docs": ["a"], "acess": "read-only"}}}', /unknown field "acess"/],
      ['{"tokenz": {}}', /unknown field "tokenz"/],
    ];
    for (const [i, [text, problem]] of cases.entries()) {
      const file = join(dir, `auth-${i}.json`);
      writeFileSync(file, text);
      const attempt = startServer({ port: 0, persistence: memoryStorage(), auth: file, onLog: () => undefined });
      await expect(attempt, text).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringContaining(file) });
      await expect(attempt, text).rejects.toThrow(problem);
    }
    await expect(startServer({ port: 0, auth: join(dir, "missing.json"), onLog: () => undefined })).rejects.toMatchObject({
      code: "InvalidArgument",
      message: expect.stringMatching(/missing\.json: cannot read it \(ENOENT\)/),
    });
    // The token itself never appears in a message.
    expect(() => parseAuthConfig({ tokens: { "secret-1": { docs: "a", access: "read-write" } } })).toThrow(/token #1/);
    expect(() => parseAuthConfig({ tokens: { "secret-1": { docs: "a", access: "read-write" } } })).not.toThrow(/secret-1/);
  });

  it("decides by token and document (unit)", () => {
    const config = parseAuthConfig({ tokens: { t: { docs: ["a", "b-*", "*x"], access: "read-only" }, all: { docs: ["*"], access: "read-write" } } });
    expect(authorize(config, "t", "a")).toEqual({ kind: "allowed", access: "read-only" });
    expect(authorize(config, "t", "b-1")).toMatchObject({ kind: "allowed" });
    expect(authorize(config, "t", "*x")).toMatchObject({ kind: "allowed" }); // * only at the end is special
    expect(authorize(config, "t", "yx")).toMatchObject({ kind: "forbidden" });
    expect(authorize(config, "all", "anything at all")).toEqual({ kind: "allowed", access: "read-write" });
    expect(authorize(config, undefined, "a")).toMatchObject({ kind: "unauthorized" });
    expect(authorize(config, "constructor", "a")).toMatchObject({ kind: "unauthorized" });
    expect(authorize(config, "__proto__", "a")).toMatchObject({ kind: "unauthorized" });
    expect(docMatches("notes-*", "notes-")).toBe(true);
    expect(docMatches("notes-*", "notes")).toBe(false);
    expect(tokenOf("/doc?x=1&token=a%20b&token=c")).toBe("a b");
    expect(tokenOf("/doc")).toBeUndefined();
  });
});

describe("read-only connections", () => {
  it("give a stock client everything, refuse its changes without applying them, and keep it connected", async () => {
    const warnWakers = new Set<() => void>();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {
      for (const wake of [...warnWakers]) wake();
    });
    onCleanup(() => warn.mockRestore());
    const { server, logs, logged } = await start({ auth: AUTH });
    const writer = connect(server, "todos", { params: { token: "writer" } });
    await synced(writer);
    writer.map.set("k", 1);
    writer.map.set("k", 2); // a delete set the reader will hold and send back in every step 2
    const reader = connect(server, "todos", { params: { token: "reader" } });
    await synced(reader);
    await hasValue(reader, "k", 2);

    // Its step 2s on connecting (the second one with a delete set) changed nothing: tolerated, silently.
    reader.provider.disconnect();
    const from = logs.length;
    reader.provider.connect();
    await logged((e) => e.event === "conn.open", from);
    await synced(reader);
    writer.map.set("k", 3);
    await hasValue(reader, "k", 3);
    expect(server.stats().metrics.rejectedMessages.read_only).toBe(0);

    // Presence goes both ways (a reader's presence is relayed: documented choice).
    reader.provider.awareness.setLocalState({ user: "reader" });
    await awarenessState(writer, "the reader's presence", () => presenceOf(writer, reader.doc.clientID) !== undefined);

    // Its change is refused: "permission denied" to it, counted, never applied.
    reader.map.set("mine", "from the reader");
    await logged((e) => e.event === "message.rejected" && e["reason"] === "read_only");
    await waitFor(
      "the stock client to hear permission denied",
      () => warn.mock.calls.some((call) => String(call[0]).includes("Permission denied")),
      (wake) => {
        warnWakers.add(wake);
        return () => warnWakers.delete(wake);
      },
    );
    expect(warn.mock.calls.some((call) => String(call[0]).includes("read-only"))).toBe(true);
    writer.map.set("after", true);
    await hasValue(reader, "after", true);
    expect(writer.map.get("mine")).toBeUndefined();
    const fresh = connect(server, "todos", { params: { token: "writer" } });
    await synced(fresh);
    await hasValue(fresh, "after", true);
    expect(fresh.map.get("mine")).toBeUndefined();
    expect(reader.closeCodes).toEqual([]);
    expect(server.stats().metrics.rejectedMessages.read_only).toBe(1);
  });

  it("give a Concord client everything and refuse its writes (Unauthorized), never applied", async () => {
    const { server, logged } = await start({ auth: AUTH });
    const writer = connect(server, "notes-1", { params: { token: "writer" } });
    await synced(writer);
    writer.map.set("shared", "from the writer");
    const reader = await concordClient(server.url, "notes-1", "reader");
    await reader.until("the writer's value at the reader", () => valueIn(reader.store, "shared") === "from the writer");
    expect(reader.store.status().server).toMatchObject({ connected: true, connection: { state: "open" } });

    await reader.store.set("mine", "from the reader"); // durable locally; the server refuses it
    const denied = await reader.until("an Unauthorized report", () => reader.errors.find((e) => isConcordError(e, "Unauthorized")));
    expect(String((denied as Error).message)).toMatch(/read-only/);
    await logged((e) => e.event === "message.rejected" && e["reason"] === "read_only");

    writer.map.set("after", 1);
    await reader.until("the writer's later value", () => valueIn(reader.store, "after") === 1);
    const fresh = connect(server, "notes-1", { params: { token: "writer" } });
    await synced(fresh);
    await hasValue(fresh, "after", 1);
    expect(fresh.map.get("mine")).toBeUndefined();
    expect(writer.map.get("mine")).toBeUndefined();
    // Still connected; the server never acks what it refused.
    expect(reader.store.status().server).toMatchObject({ connected: true, pendingWrites: 1 });
    expect(reader.closes).toEqual([]);
  });

  it("never ack an update-bearing message past a refused change, so a refused write is never acked", async () => {
    const { server } = await start({ auth: AUTH });
    const raw = await rawSocket(server, "/todos?token=reader");
    const received: Message[] = [];
    let wake = (): void => undefined;
    raw.ws.on("message", (data: Buffer) => {
      received.push(decodeMessage(new Uint8Array(data)));
      wake();
    });
    const next = (what: string, match: (m: Message) => boolean): Promise<Message> =>
      waitFor(what, () => {
        const i = received.findIndex(match);
        return i >= 0 ? received.splice(i, 1)[0] : undefined;
      }, (w) => {
        wake = w;
        return () => (wake = () => undefined);
      });
    const send = (m: Message): void => raw.ws.send(encodeMessage(m));
    const empty = Y.encodeStateAsUpdate(new Y.Doc());
    const change = new Y.Doc();
    change.getMap("concord").set("mine", 1);

    send({ type: "concord-hello", version: 1 });
    await next("the server's hello", (m) => m.type === "concord-hello");
    send({ type: "sync-step2", update: empty });
    expect(await next("the ack of the empty step 2", (m) => m.type === "concord-ack")).toEqual({ type: "concord-ack", received: 1 });
    send({ type: "sync-update", update: Y.encodeStateAsUpdate(change) });
    expect(await next("permission denied", (m) => m.type === "auth-denied")).toMatchObject({ reason: expect.stringMatching(/read-only/) });
    send({ type: "sync-step2", update: empty });
    // Frames of one connection are handled in order: the answer to this step 1 comes after
    // whatever the empty step 2 caused.
    send({ type: "sync-step1", stateVector: Y.encodeStateVector(new Y.Doc()) });
    await next("the answer to our step 1", (m) => m.type === "sync-step2");
    expect(received.filter((m) => m.type === "concord-ack")).toEqual([]);
    expect(server.stats().metrics.rejectedMessages.read_only).toBe(1);
    expect(raw.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("tells changes from no-ops by the Yjs update's structure (unit)", () => {
    const server = new Y.Doc();
    const client = new Y.Doc();
    client.getMap("m").set("k", 1);
    client.getMap("m").set("k", 2);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(client));
    expect(carriesChanges(Y.encodeStateAsUpdate(new Y.Doc()), server)).toBe(false); // [0, 0]
    // What a synced client sends as step 2: no structs, its whole (already known) delete set.
    const step2 = Y.encodeStateAsUpdate(client, Y.encodeStateVector(server));
    expect(Y.decodeUpdate(step2).structs).toEqual([]);
    expect(carriesChanges(step2, server)).toBe(false);
    expect(carriesChanges(Y.encodeStateAsUpdate(client), server)).toBe(false); // only known structs
    client.getMap("m").set("k", 3);
    expect(carriesChanges(Y.encodeStateAsUpdate(client, Y.encodeStateVector(server)), server)).toBe(true);
    // A delete the server has not seen, alone.
    const before = Y.encodeStateVector(client);
    client.getMap("m").delete("k");
    const deleteOnly = Y.encodeStateAsUpdate(client, before);
    expect(Y.decodeUpdate(deleteOnly).structs).toEqual([]);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(client, Y.encodeStateVector(server)).length > 0 ? Y.encodeStateAsUpdate(client) : deleteOnly);
    expect(carriesChanges(deleteOnly, server)).toBe(false); // now known
    const before2 = Y.encodeStateVector(client);
    client.getMap("m").set("k", 4);
    client.getMap("m").delete("k");
    const unseenDelete = Y.encodeStateAsUpdate(client, before2);
    Y.applyUpdate(server, Y.encodeStateAsUpdate(client, before2));
    expect(carriesChanges(unseenDelete, server)).toBe(false);
    const fresh = new Y.Doc();
    fresh.getMap("m").set("z", 1);
    expect(carriesChanges(deleteOnly, fresh)).toBe(true); // a delete the doc has not seen
    expect(() => carriesChanges(Uint8Array.from([1, 1, 200]), server)).toThrow();
  });
});

describe("limits", () => {
  it("closes connections over maxConnections with 1013, and only them", async () => {
    const { server, logs, logged } = await start({ maxConnections: 2 });
    const a = connect(server, "doc");
    const b = connect(server, "doc");
    await Promise.all([synced(a), synced(b)]);
    const third = await rawSocket(server, "/doc");
    expect(await third.closed).toMatchObject({ code: 1013, reason: expect.stringMatching(/^try again later/) });
    expect(server.stats().metrics.rejectedConnections.over_capacity).toBe(1);
    a.map.set("k", "still syncing");
    await hasValue(b, "k", "still syncing");

    // A slot freed is a slot taken.
    const from = logs.length;
    b.provider.destroy();
    await logged((e) => e.event === "conn.close", from);
    const c = connect(server, "doc");
    await synced(c);
    await hasValue(c, "k", "still syncing");
    expect(server.stats().metrics.rejectedConnections.over_capacity).toBe(1);
  });

  it("refuses a change past maxDocBytes with 4413, never applied, and only for that connection", async () => {
    const { server } = await start({ maxDocBytes: 600 });
    const a = connect(server, "doc");
    const b = connect(server, "doc");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("fits", "y".repeat(250));
    await hasValue(b, "fits", "y".repeat(250));

    const big = new Y.Doc();
    big.getMap("concord").set("big", "x".repeat(1000));
    const raw = await rawSocket(server, "/doc");
    raw.ws.send(syncFrame(2, Y.encodeStateAsUpdate(big)));
    expect(await raw.closed).toMatchObject({ code: 4413, reason: expect.stringMatching(/^document too large: /) });
    expect(server.stats().metrics.rejectedMessages.doc_too_large).toBe(1);

    // Near the limit, an update that changes nothing passes, however big: here the whole document
    // again (what a stock client that missed nothing may send as its step 2).
    const again = Y.encodeStateAsUpdate(a.doc);
    expect(again.byteLength).toBeGreaterThan(250);
    const replay = await rawSocket(server, "/doc");
    const answered = within(
      "the server's step 2 to the replaying socket",
      new Promise<void>((resolve) => replay.ws.on("message", (data: Buffer) => data[0] === 0 && data[1] === 1 && resolve())),
    );
    replay.ws.send(syncFrame(1, again));
    // Frames of one connection are handled in order: once our step 1 is answered, the replay passed.
    replay.ws.send(Uint8Array.from([0, 0, 1, 0]));
    await answered;
    expect(replay.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.stats().metrics.rejectedMessages.doc_too_large).toBe(1);

    a.map.set("after", 1);
    await hasValue(b, "after", 1);
    const fresh = connect(server, "doc");
    await synced(fresh);
    await hasValue(fresh, "after", 1);
    expect(fresh.map.get("big")).toBeUndefined();
    expect(a.closeCodes).toEqual([]);
    expect(b.closeCodes).toEqual([]);
  });

  it("refuses bad limits with InvalidArgument", async () => {
    await expect(startServer({ maxConnections: 0, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument", message: /maxConnections/ });
    await expect(startServer({ maxDocBytes: 1.5, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument", message: /maxDocBytes/ });
    await expect(startServer({ tls: { cert: "", key: "" }, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument", message: /tls/ });
    await expect(startServer({ tls: { cert: "not a cert", key: "not a key" }, onLog: () => undefined })).rejects.toMatchObject({
      code: "InvalidArgument",
      message: /tls/,
    });
  });
});

describe("TLS", () => {
  it("serves wss:// to clients that trust the certificate, auth included", async () => {
    const { cert, key } = selfSignedCert(tempDir());
    const { server } = await start({ tls: { cert, key }, auth: AUTH });
    expect(server.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    // Verify the chain and the name for real: trust our CA, check it against "localhost".
    const trusting = class extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[], options?: ClientOptions) {
        super(url, protocols, { ...options, ca: cert, servername: "localhost" } as ClientOptions);
      }
    };
    const a = connect(server, "todos", { params: { token: "writer" }, WebSocket: trusting });
    const b = connect(server, "todos", { params: { token: "reader" }, WebSocket: trusting });
    await Promise.all([synced(a), synced(b)]);
    a.map.set("k", "over tls");
    await hasValue(b, "k", "over tls");

    // A client that does not trust it never gets in.
    const untrusting = new WebSocket(`${server.url}/todos?token=writer`);
    const failure = await within(
      "the untrusting client to fail",
      new Promise<Error>((resolve) => untrusting.on("error", resolve)),
    );
    expect(failure.message).toMatch(/self[- ]signed|certificate/i);
    untrusting.terminate();
    // Plain ws:// on the TLS port never gets in either.
    const plain = new WebSocket(server.url.replace(/^wss:/, "ws:") + "/todos?token=writer");
    await within("the plain client to fail", new Promise<void>((resolve) => plain.on("error", () => resolve())));
    plain.terminate();
  });
});
