/**
 * The sync server on real sockets (127.0.0.1, port 0), driven by the stock y-websocket client
 * (`WebsocketProvider`) and, for broken input, by raw `ws` sockets. No sleeps: every wait is on an
 * event (a doc update, an awareness change, a socket close, a server log entry), bounded by a
 * timeout that only fails the test.
 */
import * as encoding from "lib0/encoding";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import * as Y from "yjs";
import { openStore } from "../../src/open-store.js";
import { startServer } from "../../src/server/server.js";
import { memoryStorage } from "../../src/storage/memory-storage.js";
import {
  awarenessState,
  connect,
  docState,
  hasValue,
  httpGet,
  onCleanup,
  presenceOf,
  rawSocket,
  recordingPersistence,
  runCleanups,
  start,
  synced,
  tempDir,
  waitFor,
  within,
} from "./fixtures.js";

afterEach(runCleanups);

function frame(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder();
  write(e);
  return encoding.toUint8Array(e);
}

/** Binary frames the y-websocket codec must refuse. */
const MALFORMED: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["a truncated sync update", Uint8Array.from([0, 2, 5, 1, 2])],
  ["an unknown sync sub-type", Uint8Array.from([0, 9, 0])],
  [
    "an update that is not a Yjs update",
    frame((e) => {
      encoding.writeVarUint(e, 0);
      encoding.writeVarUint(e, 2);
      encoding.writeVarUint8Array(e, Uint8Array.from([1, 1, 200, 200, 200, 1, 9, 9]));
    }),
  ],
  [
    "an awareness update whose state is not JSON",
    frame((e) => {
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint8Array(
        e,
        frame((a) => {
          encoding.writeVarUint(a, 1);
          encoding.writeVarUint(a, 77);
          encoding.writeVarUint(a, 1);
          encoding.writeVarString(a, "{not json");
        }),
      );
    }),
  ],
];

// --- tests -------------------------------------------------------------------------------------

describe("sync server with stock y-websocket clients", () => {
  it("syncs edits both ways between two clients of one room, and between rich types", async () => {
    const { server } = await start();
    const a = connect(server, "todos");
    const b = connect(server, "todos");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("todo:1", { title: "milk" });
    await hasValue(b, "todo:1", { title: "milk" });
    b.map.set("todo:2", { title: "eggs" });
    b.doc.getText("notes").insert(0, "hello");
    await hasValue(a, "todo:2", { title: "eggs" });
    await docState(a, "the text", (doc) => doc.getText("notes").toString() === "hello");
    expect(server.stats()).toMatchObject({ documents: 1, connections: 2, rooms: [{ doc: "todos", state: "open", connections: 2 }] });
  });

  it("relays presence both ways and removes a client's presence when it disconnects", async () => {
    const { server } = await start();
    const a = connect(server, "room");
    const b = connect(server, "room");
    await Promise.all([synced(a), synced(b)]);
    a.provider.awareness.setLocalState({ user: "ada" });
    b.provider.awareness.setLocalState({ user: "bob" });
    await awarenessState(b, "ada's presence at bob", () => JSON.stringify(presenceOf(b, a.doc.clientID)) === '{"user":"ada"}');
    await awarenessState(a, "bob's presence at ada", () => JSON.stringify(presenceOf(a, b.doc.clientID)) === '{"user":"bob"}');
    a.provider.awareness.setLocalState({ user: "ada", cursor: 3 });
    await awarenessState(b, "ada's new presence", () => (presenceOf(b, a.doc.clientID) as { cursor?: number } | undefined)?.cursor === 3);

    // A client that joins later gets the presence already there.
    const c = connect(server, "room");
    await awarenessState(c, "both presences at a late joiner", () => presenceOf(c, a.doc.clientID) !== undefined && presenceOf(c, b.doc.clientID) !== undefined);

    // A client that drops off without a goodbye (a crash, a lost network): the server removes the
    // presence its connection brought, at once.
    b.provider.shouldConnect = false;
    (b.provider.ws as unknown as WebSocket).terminate();
    await awarenessState(a, "bob's presence gone at ada", () => presenceOf(a, b.doc.clientID) === undefined);
    await awarenessState(c, "bob's presence gone at the late joiner", () => presenceOf(c, b.doc.clientID) === undefined);
    expect(presenceOf(a, a.doc.clientID)).toEqual({ user: "ada", cursor: 3 });

    // A client that leaves properly is gone too.
    c.provider.awareness.setLocalState({ user: "cy" });
    await awarenessState(a, "cy's presence at ada", () => presenceOf(a, c.doc.clientID) !== undefined);
    c.provider.destroy();
    await awarenessState(a, "cy's presence gone at ada", () => presenceOf(a, c.doc.clientID) === undefined);
  });

  it("serves a Concord client too: edits and presence with stock clients, writes acknowledged at level server", async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    const store = await openStore({
      mode: "eventual",
      doc: "mixed room",
      persistence: memoryStorage(),
      sync: { url: first.server.url, WebSocket: WebSocket as never },
    });
    let storeClosed = false;
    onCleanup(() => (storeClosed ? undefined : store.close()));
    const stock = connect(first.server, "mixed room");
    await store.whenSynced();
    // The server answered our hello: it acks what it stores (a stock server would be "stock").
    expect(store.status().server).toMatchObject({ connected: true, protocol: "concord" });

    expect(await store.set("from:concord", { n: 1 }, { ack: "server" })).toEqual({ level: "server" });
    await hasValue(stock, "from:concord", { n: 1 });
    stock.map.set("from:stock", "hi");
    store.setPresence({ user: "concord" });
    stock.provider.awareness.setLocalState({ user: "stock" });
    await waitFor(
      "the stock edit at the Concord client",
      () => store.getLocal("from:stock") === "hi",
      (wake) => store.subscribe({}, wake),
    );
    await awarenessState(stock, "the Concord client's presence", () => [...stock.provider.awareness.getStates().values()].some((s) => s["user"] === "concord"));

    // Acknowledged at level "server" means durable there: it survives the server, not the client.
    await store.set("acked", "durable at the server", { ack: "server" });
    storeClosed = true;
    await store.close();
    await first.server.close();
    const second = await start({ dataDir });
    const later = connect(second.server, "mixed room");
    await hasValue(later, "acked", "durable at the server");
  });

  it("keeps rooms apart, whatever their names", async () => {
    const { server } = await start();
    const names = ["one", "two", "with space/and slash", "ünïcødé 🎉"];
    const clients = names.map((name) => [connect(server, name), connect(server, name)] as const);
    await Promise.all(clients.flat().map(synced));
    clients.forEach(([writer], i) => writer.map.set("name", names[i]));
    for (const [i, [, reader]] of clients.entries()) await hasValue(reader, "name", names[i]);
    for (const [i, pair] of clients.entries()) for (const client of pair) expect(client.map.toJSON()).toEqual({ name: names[i] });
    expect(server.stats().rooms.map((r) => r.doc)).toEqual([...names].sort());
  });

  it("keeps documents across a restart on the same data folder", async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    const a = connect(first.server, "todos");
    const b = connect(first.server, "todos");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("todo:1", { title: "milk" });
    a.doc.getText("notes").insert(0, "kept");
    await hasValue(b, "todo:1", { title: "milk" });
    a.provider.destroy();
    b.provider.destroy();
    await first.server.close();

    const second = await start({ dataDir });
    const c = connect(second.server, "todos");
    await synced(c);
    await hasValue(c, "todo:1", { title: "milk" });
    expect(c.doc.getText("notes").toString()).toBe("kept");
  });

  it("unloads a room after idle, flushed, and reloads it on the next connection", async () => {
    const { server, logs, logged } = await start({ idleUnloadMs: 20 });
    const a = connect(server, "idle");
    await synced(a);
    a.map.set("k", "v");
    const b = connect(server, "idle");
    await hasValue(b, "k", "v");
    expect(server.stats().documents).toBe(1);
    a.provider.destroy();
    b.provider.destroy();
    await logged((e) => e.event === "room.unloaded" && e.doc === "idle");
    expect(server.stats()).toMatchObject({ documents: 0, rooms: [] });

    const from = logs.length;
    const c = connect(server, "idle");
    await synced(c);
    await hasValue(c, "k", "v");
    await logged((e) => e.event === "room.opened" && e.doc === "idle", from);
    expect(server.stats().documents).toBe(1);
  });

  it("shares one open between concurrent first connections", async () => {
    const recording = recordingPersistence();
    const release = recording.holdOpens();
    const { server, logs, logged } = await start({ persistence: recording.persistence });
    const a = connect(server, "shared");
    const b = connect(server, "shared");
    await logged((e) => e.event === "conn.open" && logs.filter((f) => f.event === "conn.open").length === 2);
    expect(recording.events).toEqual(["open shared"]);
    release();
    await Promise.all([synced(a), synced(b)]);
    a.map.set("k", 1);
    await hasValue(b, "k", 1);
    expect(recording.events.filter((e) => e.startsWith("open "))).toEqual(["open shared"]);
  });

  it("makes a connection that arrives while its room unloads wait for the unload, then reopens", async () => {
    const recording = recordingPersistence();
    const { server, logs, logged } = await start({ persistence: recording.persistence, idleUnloadMs: 0 });
    const a = connect(server, "doc");
    await synced(a);
    a.map.set("k", "before unload");
    const b = connect(server, "doc");
    await hasValue(b, "k", "before unload");
    const release = recording.holdCloses();
    a.provider.destroy();
    b.provider.destroy();
    await logged((e) => e.event === "room.unloading");
    const from = logs.length;
    const c = connect(server, "doc");
    await logged((e) => e.event === "conn.open", from);
    expect(server.stats().rooms).toMatchObject([{ doc: "doc", state: "unloading", connections: 0 }]);
    expect(c.provider.synced).toBe(false);
    release();
    await synced(c);
    await hasValue(c, "k", "before unload");
    // Never two storages open on one document: the reopen came after the close finished.
    expect(recording.events).toEqual(["open doc", "opened doc", "close doc", "closed doc", "open doc", "opened doc"]);
  });

  it("forwards an update to other clients at once, and acknowledges it to its author only once it is durable", async () => {
    const recording = recordingPersistence();
    const { server } = await start({ persistence: recording.persistence });
    const author = await openStore({ mode: "eventual", doc: "doc", persistence: memoryStorage(), sync: { url: server.url, WebSocket: WebSocket as never } });
    onCleanup(() => author.close());
    const b = connect(server, "doc");
    await Promise.all([author.whenSynced(), synced(b)]);
    const held = recording.holdAppends();
    let acked = false;
    const ack = author.set("k", "v", { ack: "server" }).then(() => (acked = true));
    await within("the server to append the author's update", held.reached);
    // Forwarded before its fsync: b has it while the server's append is held.
    await hasValue(b, "k", "v");
    // An HTTP round trip: the server's event loop has run well past the author's message.
    await httpGet(server, "/healthz");
    expect(acked).toBe(false);
    held.release();
    await within("the server's ack once the update is durable", ack);
    expect(acked).toBe(true);
  });

  it("drops a room whose storage failed (1011) and reopens it from disk for the clients that come back", async () => {
    const recording = recordingPersistence();
    const { server, logs, logged } = await start({ persistence: recording.persistence });
    const a = connect(server, "doc");
    await synced(a);
    a.map.set("k", "durable");
    const b = connect(server, "doc");
    await hasValue(b, "k", "durable");
    b.provider.destroy();

    recording.control.failAppends = true;
    const from = logs.length;
    a.map.set("k2", "written while the disk fails");
    await logged((e) => e.event === "room.stopped", from);
    await waitFor(
      "a's connection to be closed with 1011",
      () => a.closeCodes.includes(1011),
      (wake) => {
        a.provider.on("connection-close", wake);
        return () => a.provider.off("connection-close", wake);
      },
    );
    recording.control.failAppends = false;
    await logged((e) => e.event === "room.unloaded" || e.event === "room.unload_failed", from);
    expect(server.stats().documents).toBe(0);

    // The stock client reconnects by itself (1011 is transient) and hands its write over again.
    await synced(a);
    const c = connect(server, "doc");
    await hasValue(c, "k2", "written while the disk fails");
    expect(c.map.get("k")).toBe("durable");
    expect(recording.events.filter((e) => e.startsWith("open "))).toEqual(["open doc", "open doc"]);
  });

  it("closes a client that sends malformed frames with 4400, and only it; the document is untouched", async () => {
    const { server, logs } = await start();
    const a = connect(server, "doc");
    const b = connect(server, "doc");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("k", "before");
    a.provider.awareness.setLocalState({ user: "ada" });
    await hasValue(b, "k", "before");
    const before = Y.encodeStateVector(b.doc);

    for (const [what, bytes] of MALFORMED) {
      const raw = await rawSocket(server, "/doc");
      raw.ws.send(bytes);
      const closed = await raw.closed;
      expect(closed.code, what).toBe(4400);
      expect(closed.reason, what).toMatch(/^protocol error: /);
    }
    const text = await rawSocket(server, "/doc");
    text.ws.send("hello");
    expect(await text.closed).toMatchObject({ code: 4400, reason: expect.stringMatching(/text frames/) });

    // The stock clients were not disturbed: still connected, still syncing both ways.
    a.map.set("k", "after");
    await hasValue(b, "k", "after");
    b.map.set("k2", "from b");
    await hasValue(a, "k2", "from b");
    expect(a.closeCodes).toEqual([]);
    expect(b.closeCodes).toEqual([]);
    // Nothing of the malformed frames reached the document: only a and b ever wrote to it.
    expect([...Y.decodeStateVector(Y.encodeStateVector(b.doc)).keys()].sort()).toEqual([a.doc.clientID, b.doc.clientID].sort());
    expect(Y.decodeStateVector(before).size).toBe(1);
    // A fresh client sees exactly what b has.
    const c = connect(server, "doc");
    await synced(c);
    await hasValue(c, "k2", "from b");
    expect(Y.encodeStateAsUpdate(c.doc)).toEqual(Y.encodeStateAsUpdate(b.doc));
    expect(presenceOf(c, a.doc.clientID)).toEqual({ user: "ada" });
    expect(presenceOf(c, 77)).toBeUndefined();

    expect(server.stats().metrics.rejectedMessages).toMatchObject({ protocol: MALFORMED.length, text_frame: 1 });
    expect(logs.filter((e) => e.event === "message.rejected").map((e) => e["reason"])).toEqual([
      ...MALFORMED.map(() => "protocol"),
      "text_frame",
    ]);
  });

  it("closes a client whose message is over maxMessageBytes, and only it", async () => {
    const { server } = await start({ maxMessageBytes: 1024 });
    const a = connect(server, "doc");
    await synced(a);
    const raw = await rawSocket(server, "/doc");
    raw.ws.send(new Uint8Array(2048));
    expect((await raw.closed).code).toBe(1009);
    a.map.set("k", "still fine");
    const b = connect(server, "doc");
    await hasValue(b, "k", "still fine");
    expect(server.stats().metrics.rejectedMessages.too_large).toBe(1);
  });

  it("refuses an empty, undecodable or over-long room name with 4400", async () => {
    const { server } = await start();
    for (const path of ["/", "/%E0%A4%A", "/?x=1", `/${"x".repeat(256)}`]) {
      const raw = await rawSocket(server, path);
      const closed = await raw.closed;
      expect(closed.code, path).toBe(4400);
      expect(closed.reason.length, path).toBeGreaterThan(0);
    }
    expect(server.stats().metrics.rejectedConnections.bad_room).toBe(4);
    expect(server.stats().documents).toBe(0);
  });

  it("answers /healthz and /metrics, and 404 for anything else", async () => {
    const { server } = await start();
    const idle = await httpGet(server, "/healthz");
    expect(idle.status).toBe(200);
    expect(JSON.parse(idle.body)).toEqual({ status: "ok", documents: 0, connections: 0 });

    const a = connect(server, "doc");
    const b = connect(server, "doc");
    await Promise.all([synced(a), synced(b)]);
    a.map.set("k", "v");
    await hasValue(b, "k", "v");
    const raw = await rawSocket(server, "/doc");
    raw.ws.send(Uint8Array.from([0, 9, 0]));
    await raw.closed;

    const health = await httpGet(server, "/healthz");
    expect(health.type).toMatch(/^application\/json/);
    expect(JSON.parse(health.body)).toEqual({ status: "ok", documents: 1, connections: 2 });

    const metrics = await httpGet(server, "/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(metrics.body);
    expect(samples.get("concord_documents_loaded")).toBe(1);
    expect(samples.get("concord_connections")).toBe(2);
    expect(samples.get("concord_messages_in_total")).toBeGreaterThan(0);
    expect(samples.get("concord_messages_out_total")).toBeGreaterThan(0);
    expect(samples.get("concord_bytes_in_total")).toBeGreaterThan(samples.get("concord_messages_in_total")!);
    expect(samples.get("concord_bytes_out_total")).toBeGreaterThan(samples.get("concord_messages_out_total")!);
    expect(samples.get("concord_updates_persisted_total")).toBeGreaterThanOrEqual(1);
    expect(samples.get('concord_rejected_messages_total{reason="protocol"}')).toBe(1);
    expect(samples.get('concord_rejected_messages_total{reason="text_frame"}')).toBe(0);

    // Counters move.
    const persisted = samples.get("concord_updates_persisted_total")!;
    const messagesIn = samples.get("concord_messages_in_total")!;
    a.map.set("k", "v2");
    await hasValue(b, "k", "v2");
    const laterText = (await httpGet(server, "/metrics")).body;
    const later = parsePrometheus(laterText);
    expect(later.get("concord_updates_persisted_total")).toBe(persisted + 1);
    expect(later.get("concord_messages_in_total")).toBe(messagesIn + 1);
    // The persist-latency histogram: cumulative buckets ending in +Inf = count, and a sum.
    expect(later.get("concord_persist_seconds_count")).toBe(persisted + 1);
    expect(later.get('concord_persist_seconds_bucket{le="+Inf"}')).toBe(persisted + 1);
    const buckets = [...later.entries()].filter(([k]) => k.startsWith("concord_persist_seconds_bucket")).map(([, v]) => v);
    expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
    expect(later.get("concord_persist_seconds_sum")).toBeGreaterThanOrEqual(0);
    expect(laterText).toMatch(/# TYPE concord_persist_seconds histogram/);

    for (const path of ["/", "/nope", "/healthz/x", "/metricsx"]) expect((await httpGet(server, path)).status, path).toBe(404);
  });

  it("shuts down gracefully: 1001 to every client, and a write sent just before close is kept", async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    const a = connect(first.server, "doc");
    const b = connect(first.server, "other");
    await Promise.all([synced(a), synced(b)]);
    const closedA = waitFor(
      "a's connection to close",
      () => a.closeCodes.length > 0,
      (wake) => {
        a.provider.on("connection-close", wake);
        return () => a.provider.off("connection-close", wake);
      },
    );
    a.map.set("last", "written just before close");
    b.map.set("last", "in another room");
    await first.server.close();
    await closedA;
    expect(a.closeCodes[0]).toBe(1001);
    expect(b.closeCodes[0]).toBe(1001);
    expect(first.server.stats()).toMatchObject({ documents: 0, connections: 0 });
    a.provider.destroy();
    b.provider.destroy();

    const second = await start({ dataDir });
    const c = connect(second.server, "doc");
    const d = connect(second.server, "other");
    await hasValue(c, "last", "written just before close");
    await hasValue(d, "last", "in another room");
  });

  it("refuses bad options with InvalidArgument and a busy port with Io", async () => {
    await expect(startServer({ port: 70000, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument", message: /port/ });
    await expect(startServer({ idleUnloadMs: -1, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument" });
    await expect(startServer({ maxMessageBytes: 0, onLog: () => undefined })).rejects.toMatchObject({ code: "InvalidArgument" });
    const { server } = await start();
    await expect(startServer({ port: server.port, persistence: memoryStorage(), onLog: () => undefined })).rejects.toMatchObject({
      code: "Io",
      message: /EADDRINUSE/,
    });
  });
});

/** Parses Prometheus text: every line is a HELP, a TYPE or a sample; returns samples by name{labels}. */
function parsePrometheus(text: string): Map<string, number> {
  expect(text.endsWith("\n")).toBe(true);
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP (concord_[a-z_]+) \S.*$/.exec(line);
    const type = /^# TYPE (concord_[a-z_]+) (counter|gauge|histogram)$/.exec(line);
    const sample = /^(concord_[a-z_]+)(\{[a-z_]+="[^"\\\n]*"\})? (\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(line);
    if (type) typed.add(type[1]!);
    else if (sample) {
      // A histogram's samples are <name>_bucket, <name>_sum and <name>_count.
      const family = typed.has(sample[1]!) ? sample[1]! : sample[1]!.replace(/_(bucket|sum|count)$/, "");
      expect(typed.has(family), `TYPE before ${line}`).toBe(true);
      if (sample[1]!.endsWith("_total")) expect(line).toMatch(/_total/);
      samples.set(`${sample[1]}${sample[2] ?? ""}`, Number(sample[3]));
    } else expect(help, `not a Prometheus line: ${JSON.stringify(line)}`).not.toBeNull();
  }
  return samples;
}
