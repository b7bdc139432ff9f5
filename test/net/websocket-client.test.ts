/**
 * The WebSocket client transport against real sockets on 127.0.0.1: a `ws` server started here,
 * and the stock y-websocket 2.1.0 server as a child process. Backoff timing is driven by a
 * VirtualClock; nothing here sleeps or asserts wall-clock time: every wait is on an event, with a
 * generous timeout that only turns a hang into a readable failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import * as decoding from "lib0/decoding";
import * as encoding from "lib0/encoding";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket as WsWebSocket, WebSocketServer } from "ws";
import * as syncProtocol from "y-protocols/sync";
import * as Y from "yjs";
import { ConcordError } from "../../src/errors.js";
import { asPeerId, type PeerId } from "../../src/ids.js";
import {
  webSocketClient,
  type WebSocketClientOptions,
  type WebSocketClientTransport,
  type WebSocketCloseInfo,
  type WebSocketConstructorLike,
} from "../../src/net/websocket-client.js";
import { seededRng } from "../../src/rng.js";
import { VirtualClock } from "../../src/sim/virtual-clock.js";

// Both real constructors fit the port's socket type (checked at compile time).
type Fits<T extends WebSocketConstructorLike> = T;
type DomWebSocketFits = Fits<typeof globalThis.WebSocket>;
type WsWebSocketFits = Fits<typeof WsWebSocket>;

/** How long any single wait may take before the test fails (a loaded 2-core CI box is slow). */
const WAIT_MS = 15_000;
const SERVER = asPeerId("server");
const ME = asPeerId("me");

// ---- waiting on events ---------------------------------------------------------------------------

const waiters = new Set<() => void>();
/** Every recorder calls this after recording; pending waits re-check their predicate. */
function changed(): void {
  for (const check of [...waiters]) check();
}
/** Resolves once `predicate()` holds (checked now and after every recorded event). */
function waitFor(predicate: () => boolean, what: string): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    const check = (): void => {
      if (!predicate()) return;
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
    }, WAIT_MS);
    waiters.add(check);
  });
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// ---- a real ws server ----------------------------------------------------------------------------

/** One connection as the server saw it. */
interface ServerSide {
  readonly socket: WsWebSocket;
  /** The request path and query, e.g. "/todos?token=abc". */
  readonly url: string;
  readonly received: Uint8Array[];
  readonly texts: string[];
  closed?: { code: number; reason: string };
}

interface TestServer {
  readonly port: number;
  readonly connections: ServerSide[];
  url(path?: string): string;
  /** Drops every connection (no close frame, like a crashed process) and stops listening. */
  kill(): Promise<void>;
}

/** Starts a ws server on 127.0.0.1 (`port` 0 = any free one); `onConnection` may act on each. */
async function startServer(
  port = 0,
  onConnection?: (side: ServerSide, index: number) => void,
  options: { perMessageDeflate?: boolean } = {},
): Promise<TestServer> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: options.perMessageDeflate ?? false });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  const address = wss.address();
  if (address === null || typeof address === "string") throw new Error(`unexpected address ${String(address)}`);
  const connections: ServerSide[] = [];
  wss.on("connection", (socket, request) => {
    const side: ServerSide = { socket, url: request.url ?? "", received: [], texts: [] };
    connections.push(side);
    socket.on("message", (data, isBinary) => {
      const buffers = Array.isArray(data) ? data : [data instanceof ArrayBuffer ? Buffer.from(data) : data];
      const bytes = new Uint8Array(Buffer.concat(buffers));
      if (isBinary) side.received.push(bytes);
      else side.texts.push(new TextDecoder().decode(bytes));
      changed();
    });
    socket.on("close", (code, reason) => {
      side.closed = { code, reason: reason.toString() };
      changed();
    });
    onConnection?.(side, connections.length - 1);
    changed();
  });
  let killed = false;
  const server: TestServer = {
    port: address.port,
    connections,
    url: (path = "/room") => `ws://127.0.0.1:${address.port}${path}`,
    kill: async () => {
      if (killed) return;
      killed = true;
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  cleanups.push(server.kill);
  return server;
}

/** A port nothing listens on (bound, read, released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

// ---- a recorded client ---------------------------------------------------------------------------

type Heard = ["up", PeerId] | ["down", PeerId] | ["message", PeerId, Uint8Array];

interface Watched {
  readonly t: WebSocketClientTransport;
  readonly heard: Heard[];
  readonly closes: WebSocketCloseInfo[];
  ups(): number;
  messages(): Uint8Array[];
}

/** A client listening from the start, recording events and close reports; closed after the test. */
function client(options: Omit<WebSocketClientOptions, "onClose"> & { listen?: boolean }): Watched {
  const heard: Heard[] = [];
  const closes: WebSocketCloseInfo[] = [];
  const t = webSocketClient({
    self: ME,
    ...options,
    onClose: (info) => {
      closes.push(info);
      changed();
    },
  });
  cleanups.push(() => t.close());
  if (options.listen !== false) listenTo(t, heard);
  return {
    t,
    heard,
    closes,
    ups: () => heard.filter((h) => h[0] === "up").length,
    messages: () => heard.flatMap((h) => (h[0] === "message" ? [h[2]] : [])),
  };
}

function listenTo(t: WebSocketClientTransport, heard: Heard[]): void {
  t.listen({
    up: (peer) => {
      heard.push(["up", peer]);
      changed();
    },
    down: (peer) => {
      heard.push(["down", peer]);
      changed();
    },
    message: (from, bytes) => {
      heard.push(["message", from, bytes]);
      changed();
    },
  });
}

/** The kinds of events heard, without payloads: ["up", "down", "up"]. */
const kinds = (heard: Heard[]): string[] => heard.map((h) => h[0]);

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = seededRng(seed);
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = rng.uint32() & 0xff;
  return bytes;
}

/** Byte equality without vitest diffing a megabyte on failure. */
function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a).equals(Buffer.from(b));
}

// ---- tests ---------------------------------------------------------------------------------------

describe("webSocketClient", () => {
  it("connects at listen and fires up(server) on open, loading the ws package by default", async () => {
    const server = await startServer();
    const c = client({ url: server.url("/todos") });
    expect(c.t.status()).toEqual({ state: "connecting", attempts: 1 });
    expect(c.heard).toEqual([]);
    expect(c.t.peers()).toEqual([]);
    await waitFor(() => c.ups() === 1, "up");
    expect(c.heard).toEqual([["up", SERVER]]);
    expect(c.t.self).toBe(ME);
    expect(c.t.peers()).toEqual([SERVER]);
    expect(c.t.status()).toEqual({ state: "open", attempts: 1 });
    await waitFor(() => server.connections.length === 1, "server side");
    expect(server.connections[0]!.url).toBe("/todos");
  });

  it("carries binary messages both ways byte-exact and in order, 1 MiB ones included; ignores text frames", async () => {
    const hub = asPeerId("hub");
    const server = await startServer();
    const c = client({ url: server.url(), serverPeer: hub, WebSocket: WsWebSocket });
    await waitFor(() => c.ups() === 1 && server.connections.length === 1, "connection");
    const side = server.connections[0]!;
    const big = randomBytes(1 << 20, 1);
    const small = Uint8Array.of(0, 1, 2, 255);
    c.t.send(hub, small);
    c.t.send(hub, new Uint8Array(0));
    c.t.send(hub, big);
    c.t.send(SERVER, Uint8Array.of(9)); // not our server's peer id: dropped
    const bigBack = randomBytes((1 << 20) + 3, 2);
    side.socket.send("a text frame");
    side.socket.send(small.slice().reverse());
    side.socket.send(bigBack);
    side.socket.send(Buffer.from("text as binary"));
    await waitFor(() => side.received.length === 3 && c.messages().length === 3, "3 messages each way");
    expect(side.received[0]).toEqual(small);
    expect(side.received[1]).toEqual(new Uint8Array(0));
    expect(sameBytes(side.received[2], big)).toBe(true);
    expect(side.texts).toEqual([]);
    expect(c.heard.map((h) => h[1])).toEqual([hub, hub, hub, hub]);
    const [m0, m1, m2] = c.messages();
    expect(m0).toBeInstanceOf(Uint8Array);
    expect(m0).toEqual(Uint8Array.of(255, 2, 1, 0));
    expect(sameBytes(m1, bigBack)).toBe(true);
    expect(new TextDecoder().decode(m2)).toBe("text as binary");
    // One more round trip proves nothing else was on its way (the dropped send, the text frame).
    c.t.send(hub, Uint8Array.of(7));
    await waitFor(() => side.received.length === 4, "the 4th message");
    expect(side.received[3]).toEqual(Uint8Array.of(7));
    expect(c.messages()).toHaveLength(3);
  });

  it("copies bytes at send: a later write by the sender doesn't reach the server", async () => {
    // With permessage-deflate, `ws` queues a send made while it compresses the previous message by
    // reference: only the transport's own copy keeps the caller's later writes out of it.
    const server = await startServer(0, undefined, { perMessageDeflate: true });
    const c = client({ url: server.url() });
    await waitFor(() => c.ups() === 1 && server.connections.length === 1, "connection");
    const compressed = new Uint8Array(256 * 1024).fill(7);
    const buffer = randomBytes(64 * 1024, 3);
    const original = buffer.slice();
    c.t.send(SERVER, compressed);
    c.t.send(SERVER, buffer);
    buffer.fill(0);
    await waitFor(() => server.connections[0]!.received.length === 2, "both messages");
    expect(sameBytes(server.connections[0]!.received[0], compressed)).toBe(true);
    expect(sameBytes(server.connections[0]!.received[1], original)).toBe(true);
  });

  it("opens nothing before listen, so the server's first message always finds a listener", async () => {
    const server = await startServer(0, (side) => side.socket.send(Uint8Array.of(side.url === "/late" ? 1 : 0)));
    const late = client({ url: server.url("/late"), listen: false });
    expect(late.t.status()).toEqual({ state: "connecting", attempts: 0 });
    expect(() => late.t.send(SERVER, Uint8Array.of(0xde, 0xad))).not.toThrow();
    // Another client's whole session gives the first plenty of I/O turns to (wrongly) connect.
    const other = client({ url: server.url("/other") });
    await waitFor(() => other.messages().length === 1, "the other client's greeting");
    expect(server.connections.map((side) => side.url)).toEqual(["/other"]);
    listenTo(late.t, late.heard);
    expect(late.heard).toEqual([]); // up comes with the open event, never inside listen
    expect(late.t.status()).toEqual({ state: "connecting", attempts: 1 });
    await waitFor(() => late.heard.length === 2, "up and the greeting");
    expect(late.heard).toEqual([["up", SERVER], ["message", SERVER, Uint8Array.of(1)]]);
    expect(() => late.t.listen({ up() {}, down() {}, message() {} })).toThrow(/listen called twice/);
  });

  it("drops sends while not open", async () => {
    const server = await startServer();
    const c = client({ url: server.url() });
    c.t.send(SERVER, Uint8Array.of(0xde, 0xad)); // connecting: dropped
    await waitFor(() => c.ups() === 1 && server.connections.length === 1, "connection");
    c.t.send(SERVER, Uint8Array.of(0xbe, 0xef));
    await waitFor(() => server.connections[0]!.received.length === 1, "the message");
    expect(server.connections[0]!.received).toEqual([Uint8Array.of(0xbe, 0xef)]);
  });

  it("fires down once when the server closes the connection, then reconnects after the backoff", async () => {
    const clock = new VirtualClock();
    const server = await startServer(0, (side, i) => {
      if (i === 0) side.socket.close(1011, "going away for a bit");
    });
    const c = client({ url: server.url(), clock, rng: seededRng(7), backoff: { initialMs: 100, jitter: 0.5 } });
    await waitFor(() => c.closes.length === 1, "the server's close");
    expect(kinds(c.heard)).toEqual(["up", "down"]);
    const [info] = c.closes;
    expect(info).toMatchObject({ code: 1011, reason: "going away for a bit", willRetry: true });
    expect(info!.retryInMs).toBeGreaterThanOrEqual(50);
    expect(info!.retryInMs).toBeLessThanOrEqual(100);
    expect(c.t.status()).toEqual({ state: "waiting", attempts: 1, lastClose: { code: 1011, reason: "going away for a bit" } });
    expect(c.t.peers()).toEqual([]);
    c.t.send(SERVER, Uint8Array.of(1)); // dropped while waiting
    await clock.advance(info!.retryInMs!);
    expect(c.t.status().state).toBe("connecting");
    await waitFor(() => c.ups() === 2 && server.connections.length === 2, "the reconnect");
    expect(kinds(c.heard)).toEqual(["up", "down", "up"]);
    expect(c.t.status()).toMatchObject({ state: "open", attempts: 2 });
    c.t.send(SERVER, Uint8Array.of(2));
    await waitFor(() => server.connections[1]!.received.length === 1, "a message on the new connection");
    expect(server.connections[1]!.received).toEqual([Uint8Array.of(2)]);
    expect(server.connections[0]!.received).toEqual([]);
  });

  it("reconnects with the default system clock when no clock is given", async () => {
    const server = await startServer(0, (side, i) => {
      if (i === 0) side.socket.close(1001);
    });
    const c = client({ url: server.url(), backoff: { initialMs: 5, maxMs: 50 } });
    await waitFor(() => c.ups() === 2, "up after the reconnect");
    expect(kinds(c.heard)).toEqual(["up", "down", "up"]);
    expect(c.closes).toEqual([expect.objectContaining({ code: 1001, willRetry: true })]);
  });

  it("reconnects after the server restarts on the same port; failed attempts fire no up/down", async () => {
    const clock = new VirtualClock();
    const first = await startServer();
    const c = client({ url: first.url(), clock, rng: seededRng(8), backoff: { jitter: 0 } });
    await waitFor(() => c.ups() === 1, "up");
    await first.kill();
    await waitFor(() => c.closes.length === 1, "the drop");
    expect(c.closes[0]).toMatchObject({ code: 1006, willRetry: true, retryInMs: 100 });
    await clock.advance(100);
    await waitFor(() => c.closes.length === 2, "a refused attempt");
    expect(c.closes[1]).toMatchObject({ code: 1006, willRetry: true, retryInMs: 200 });
    expect(c.closes[1]!.reason).toMatch(/ECONNREFUSED/);
    expect(c.t.status()).toMatchObject({ state: "waiting", attempts: 2 });
    const second = await startServer(first.port);
    await clock.advance(200);
    await waitFor(() => c.ups() === 2 && second.connections.length === 1, "up on the restarted server");
    expect(kinds(c.heard)).toEqual(["up", "down", "up"]);
    c.t.send(SERVER, Uint8Array.of(42));
    await waitFor(() => second.connections[0]!.received.length === 1, "a message to the restarted server");
  });

  it("backoff waits grow by the factor up to the cap, jittered by the injected rng", async () => {
    const port = await freePort();
    const clock = new VirtualClock();
    const backoff = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
    const c = client({ url: `ws://127.0.0.1:${port}/room`, clock, rng: seededRng(42), backoff });
    const bases = [100, 200, 400, 800, 1000, 1000, 1000];
    for (let k = 1; k <= bases.length; k++) {
      await waitFor(() => c.closes.length === k, `failed attempt ${k}`);
      expect(c.t.status()).toMatchObject({ state: "waiting", attempts: k });
      if (k < bases.length) await clock.advance(c.closes[k - 1]!.retryInMs!);
    }
    const waits = c.closes.map((info) => info.retryInMs!);
    const twin = seededRng(42);
    expect(waits).toEqual(bases.map((base) => base * (1 - 0.5 * twin.next())));
    waits.forEach((wait, i) => {
      expect(wait).toBeGreaterThanOrEqual(bases[i]! / 2);
      expect(wait).toBeLessThanOrEqual(bases[i]!);
    });
    expect(new Set(waits.slice(4)).size).toBe(3); // capped, yet not all the same
    expect(c.heard).toEqual([]);
  });

  it("resets the backoff once a connection stayed open resetAfterMs, not before", async () => {
    const clock = new VirtualClock();
    const server = await startServer(0, (side, i) => {
      if (i < 3) side.socket.close(1011);
    });
    const backoff = { initialMs: 100, factor: 2, jitter: 0, resetAfterMs: 5000 };
    const c = client({ url: server.url(), clock, rng: seededRng(9), backoff });
    for (const [k, wait] of [[1, 100], [2, 200], [3, 400]] as const) {
      await waitFor(() => c.closes.length === k, `close ${k}`);
      expect(c.closes[k - 1]!.retryInMs).toBe(wait);
      await clock.advance(wait);
    }
    await waitFor(() => c.ups() === 4 && server.connections.length === 4, "the 4th connection");
    expect(c.t.status()).toMatchObject({ state: "open", attempts: 4 });
    await clock.advance(4999);
    expect(c.t.status().attempts).toBe(4);
    await clock.advance(1);
    expect(c.t.status()).toMatchObject({ state: "open", attempts: 0 });
    server.connections[3]!.socket.close(1012);
    await waitFor(() => c.closes.length === 4, "close 4");
    expect(c.closes[3]).toMatchObject({ code: 1012, willRetry: true, retryInMs: 100 });
    expect(kinds(c.heard)).toEqual(["up", "down", "up", "down", "up", "down", "up", "down"]);
  });

  it("reconnectNow skips the wait; leaves an open or closed link alone", async () => {
    const clock = new VirtualClock();
    const server = await startServer(0, (side, i) => {
      if (i === 0) side.socket.close(1011);
    });
    const c = client({ url: server.url(), clock, rng: seededRng(10) });
    await waitFor(() => c.closes.length === 1, "the close");
    expect(clock.pendingTimers()).toBe(1);
    c.t.reconnectNow();
    expect(c.t.status()).toMatchObject({ state: "connecting", attempts: 2 });
    expect(clock.pendingTimers()).toBe(0);
    await waitFor(() => c.ups() === 2, "up without advancing the clock");
    expect(clock.now()).toBe(0);
    c.t.reconnectNow();
    expect(c.t.status()).toMatchObject({ state: "open", attempts: 2 });
    c.t.close();
    c.t.reconnectNow();
    expect(c.t.status().state).toBe("closed");
    expect(clock.pendingTimers()).toBe(0);
  });

  describe("disconnect() and connect(): the offline switch", () => {
    it("while open: the server sees 1000 offline, down fires once, nothing is retried or sent until connect", async () => {
      const clock = new VirtualClock();
      const server = await startServer();
      const c = client({ url: server.url(), clock, rng: seededRng(21) });
      await waitFor(() => c.ups() === 1, "up");
      c.t.disconnect();
      expect(c.t.status()).toMatchObject({ state: "offline" });
      expect(c.t.peers()).toEqual([]);
      expect(kinds(c.heard)).toEqual(["up", "down"]);
      await waitFor(() => server.connections[0]?.closed !== undefined, "the server's side closed");
      expect(server.connections[0]?.closed).toEqual({ code: 1000, reason: "offline" });
      c.t.send(SERVER, Uint8Array.of(1));
      c.t.disconnect();
      expect(clock.pendingTimers()).toBe(0);
      await clock.advance(60_000);
      expect(server.connections.length).toBe(1);
      expect(c.closes).toEqual([]);
      c.t.connect();
      await waitFor(() => c.ups() === 2, "up again");
      expect(c.t.status()).toMatchObject({ state: "open", attempts: 1 });
      expect(server.connections.length).toBe(2);
      expect(server.connections[1]?.received).toEqual([]);
      c.t.connect();
      expect(server.connections.length).toBe(2);
    });

    it("while waiting: cancels the reconnect; connect starts afresh with the backoff reset", async () => {
      const clock = new VirtualClock();
      const server = await startServer(0, (side, i) => {
        if (i < 2) side.socket.close(1011);
      });
      const c = client({ url: server.url(), clock, rng: seededRng(22) });
      await waitFor(() => c.closes.length === 1, "the first close");
      await clock.advance(60_000);
      await waitFor(() => c.closes.length === 2, "the second close");
      expect(c.t.status()).toMatchObject({ state: "waiting", attempts: 2 });
      c.t.disconnect();
      expect(c.t.status()).toMatchObject({ state: "offline" });
      expect(clock.pendingTimers()).toBe(0);
      c.t.connect();
      expect(c.t.status()).toMatchObject({ state: "connecting", attempts: 1 });
      await waitFor(() => c.ups() === 3, "up on the third connection");
    });

    it("before listen: listen opens nothing while offline; connect opens it; close wins over both", async () => {
      const server = await startServer();
      const c = client({ url: server.url(), listen: false });
      c.t.disconnect();
      listenTo(c.t, c.heard);
      expect(c.t.status().state).toBe("offline");
      c.t.connect();
      await waitFor(() => c.ups() === 1, "up after connect");
      c.t.close();
      c.t.connect();
      c.t.disconnect();
      expect(c.t.status().state).toBe("closed");
    });
  });

  describe("refusals (close codes 4400-4499) stop retrying", () => {
    it.each([
      [4400, "Bad Request"],
      [4401, "Unauthorized"],
      [4403, "Forbidden"],
      [4413, "TooLarge"],
      [4499, ""],
    ])("close %i: closed for good, onClose says willRetry false", async (code, reason) => {
      const clock = new VirtualClock();
      const server = await startServer(0, (side) => side.socket.close(code, reason));
      const c = client({ url: server.url(), clock, rng: seededRng(11) });
      await waitFor(() => c.closes.length === 1, "the refusal");
      expect(c.closes).toEqual([{ code, reason, willRetry: false }]);
      expect(c.t.status()).toEqual({ state: "closed", attempts: 1, lastClose: { code, reason } });
      expect(kinds(c.heard)).toEqual(["up", "down"]);
      expect(clock.pendingTimers()).toBe(0);
      c.t.reconnectNow();
      expect(c.t.status().state).toBe("closed");
      expect(c.t.peers()).toEqual([]);
      expect(() => c.t.send(SERVER, Uint8Array.of(1))).not.toThrow();
    });

    it.each([1000, 1001, 1011, 4000, 4399, 4500, 4999])("close %i is retried", async (code) => {
      const clock = new VirtualClock();
      const server = await startServer(0, (side, i) => {
        if (i === 0) side.socket.close(code);
      });
      const c = client({ url: server.url(), clock, rng: seededRng(12) });
      await waitFor(() => c.closes.length === 1, "the close");
      expect(c.closes[0]).toMatchObject({ code, willRetry: true });
      expect(c.t.status().state).toBe("waiting");
      await clock.advance(c.closes[0]!.retryInMs!);
      await waitFor(() => c.ups() === 2, "the reconnect");
    });
  });

  describe("close()", () => {
    it("while open: the server sees 1000; no down, no onClose, nothing sent after; idempotent", async () => {
      const clock = new VirtualClock();
      const server = await startServer();
      const c = client({ url: server.url(), clock, rng: seededRng(13) });
      await waitFor(() => c.ups() === 1 && server.connections.length === 1, "connection");
      c.t.close();
      c.t.close();
      expect(c.t.status().state).toBe("closed");
      expect(c.t.peers()).toEqual([]);
      expect(clock.pendingTimers()).toBe(0);
      c.t.send(SERVER, Uint8Array.of(1));
      server.connections[0]!.socket.send(Uint8Array.of(2));
      await waitFor(() => server.connections[0]!.closed !== undefined, "the server-side close");
      expect(server.connections[0]!.closed!.code).toBe(1000);
      expect(server.connections[0]!.received).toEqual([]);
      expect(c.heard).toEqual([["up", SERVER]]);
      expect(c.closes).toEqual([]);
      await clock.advance(60_000);
      expect(server.connections).toHaveLength(1);
    });

    it("before listen: never connects, and a later listen is ignored", () => {
      const c = client({ url: "ws://127.0.0.1:1/room", WebSocket: WsWebSocket, listen: false });
      c.t.close();
      listenTo(c.t, c.heard);
      expect(c.t.status()).toEqual({ state: "closed", attempts: 0 });
      c.t.reconnectNow();
      expect(c.t.status()).toEqual({ state: "closed", attempts: 0 });
    });

    it("while waiting: cancels the reconnect", async () => {
      const clock = new VirtualClock();
      const server = await startServer(0, (side) => side.socket.close(1011));
      const c = client({ url: server.url(), clock, rng: seededRng(14) });
      await waitFor(() => c.closes.length === 1, "the close");
      expect(clock.pendingTimers()).toBe(1);
      c.t.close();
      expect(clock.pendingTimers()).toBe(0);
      expect(c.t.status()).toMatchObject({ state: "closed", attempts: 1 });
      await clock.advance(60_000);
      expect(c.t.status().state).toBe("closed");
      expect(kinds(c.heard)).toEqual(["up", "down"]);
    });

    it.each([
      ["an injected ws constructor", WsWebSocket],
      ["the lazily loaded ws package", undefined],
    ])("while connecting (%s): no event ever, no stray error", async (_name, WebSocket) => {
      const server = await startServer();
      const early = client(WebSocket === undefined ? { url: server.url("/early") } : { url: server.url("/early"), WebSocket });
      early.t.close();
      expect(early.t.status().state).toBe("closed");
      // A later client's whole session bounds the time anything from the first could take.
      const later = client({ url: server.url("/later") });
      await waitFor(() => later.ups() === 1 && server.connections.some((s) => s.url === "/later"), "the later client");
      later.t.send(SERVER, Uint8Array.of(1));
      await waitFor(() => server.connections.find((s) => s.url === "/later")!.received.length === 1, "its message");
      expect(early.heard).toEqual([]);
      expect(early.closes).toEqual([]);
      const earlySide = server.connections.find((s) => s.url === "/early");
      if (earlySide !== undefined) {
        await waitFor(() => earlySide.closed !== undefined, "the early socket's end");
      }
    });
  });

  it("puts the token in the query string, URL-encoded, keeping the rest of the URL", async () => {
    const server = await startServer();
    const token = "a b&c=d/é?";
    const c = client({ url: `${server.url("/docs/todos")}?x=1`, token });
    await waitFor(() => c.ups() === 1 && server.connections.length === 1, "connection");
    const requested = new URL(server.connections[0]!.url, "ws://127.0.0.1");
    expect(requested.pathname).toBe("/docs/todos");
    expect(requested.searchParams.get("token")).toBe(token);
    expect(requested.searchParams.get("x")).toBe("1");
    expect(server.connections[0]!.url).not.toContain(" ");
  });

  it("rejects bad options with InvalidArgument naming the option", () => {
    let constructed = 0;
    class CountingWebSocket extends WsWebSocket {
      constructor(url: string) {
        constructed++;
        super(url);
      }
    }
    const url = "ws://127.0.0.1:1/room";
    const cases: [Record<string, unknown>, string][] = [
      [{ url: "http://127.0.0.1/room" }, "url"],
      [{ url: "ftp://x/room" }, "url"],
      [{ url: "not a url" }, "url"],
      [{ url: 42 }, "url"],
      [{ url: "ws://127.0.0.1/room#frag" }, "url"],
      [{ url, token: "" }, "token"],
      [{ url, token: 7 }, "token"],
      [{ url, self: "" }, "self"],
      [{ url, serverPeer: 3 }, "serverPeer"],
      [{ url, self: "server" }, "self"],
      [{ url, clock: {} }, "clock"],
      [{ url, rng: { next: 0.5 } }, "rng"],
      [{ url, WebSocket: "ws" }, "WebSocket"],
      [{ url, onClose: true }, "onClose"],
      [{ url, backoff: 5 }, "backoff"],
      [{ url, backoff: { initialMs: -1 } }, "backoff.initialMs"],
      [{ url, backoff: { initialMs: 0 } }, "backoff.initialMs"],
      [{ url, backoff: { initialMs: Number.NaN } }, "backoff.initialMs"],
      [{ url, backoff: { initialMs: 500, maxMs: 100 } }, "backoff.maxMs"],
      [{ url, backoff: { maxMs: Number.POSITIVE_INFINITY } }, "backoff.maxMs"],
      [{ url, backoff: { factor: 0.5 } }, "backoff.factor"],
      [{ url, backoff: { jitter: 1.5 } }, "backoff.jitter"],
      [{ url, backoff: { jitter: -0.1 } }, "backoff.jitter"],
      [{ url, backoff: { resetAfterMs: -1 } }, "backoff.resetAfterMs"],
    ];
    for (const [bad, option] of cases) {
      const options = { WebSocket: CountingWebSocket, ...bad } as unknown as WebSocketClientOptions;
      let thrown: unknown;
      try {
        const t = webSocketClient(options);
        t.listen({ up() {}, down() {}, message() {} });
        t.close();
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(bad)).toBeInstanceOf(ConcordError);
      expect((thrown as ConcordError).code).toBe("InvalidArgument");
      expect((thrown as ConcordError).details["option"], JSON.stringify(bad)).toBe(option);
      expect((thrown as ConcordError).message).toContain(option);
    }
    expect(() => webSocketClient(null as unknown as WebSocketClientOptions)).toThrow(ConcordError);
    expect(constructed).toBe(0);
  });

  it("reports a constructor that throws once, with willRetry false", () => {
    const closes: WebSocketCloseInfo[] = [];
    const Throwing = function () {
      throw new SyntaxError("blocked by policy");
    } as unknown as WebSocketConstructorLike;
    const t = webSocketClient({ url: "ws://127.0.0.1:1/room", WebSocket: Throwing, onClose: (info) => closes.push(info) });
    t.listen({ up() {}, down() {}, message() {} });
    expect(closes).toEqual([{ code: 1006, reason: expect.stringContaining("blocked by policy"), willRetry: false }]);
    expect(t.status().state).toBe("closed");
    t.close();
  });
});

// ---- interop with the stock y-websocket server ---------------------------------------------------

describe("webSocketClient against the stock y-websocket 2.1.0 server", () => {
  let stock: ChildProcess | undefined;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    const script = fileURLToPath(new URL("../../node_modules/y-websocket-stock/bin/server.cjs", import.meta.url));
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, HOST: "127.0.0.1", PORT: String(port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    stock = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stock server not ready after ${WAIT_MS} ms: ${output}`)), WAIT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes("running at")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`stock server exited with ${code}: ${output}`));
      });
    });
  });

  afterAll(async () => {
    const child = stock;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill();
    await exited;
  });

  /** A y-websocket frame: messageSync (0), then what `write` adds. */
  function syncFrame(write: (e: encoding.Encoder) => void): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 0);
    write(e);
    return encoding.toUint8Array(e);
  }

  it("connects and receives the server's sync step 1 first", async () => {
    const c = client({ url: `ws://127.0.0.1:${port}/interop-step1` });
    await waitFor(() => c.messages().length >= 1, "the first message");
    expect(kinds(c.heard).slice(0, 2)).toEqual(["up", "message"]);
    const first = c.messages()[0]!;
    expect([...first.subarray(0, 2)]).toEqual([0, 0]); // messageSync, syncStep1
  });

  it("syncs a document through it: an update sent by one client reaches another", async () => {
    const room = `ws://127.0.0.1:${port}/interop-update`;
    const writer = client({ url: room, self: asPeerId("writer") });
    await waitFor(() => writer.messages().length >= 1, "the writer's sync step 1");
    const source = new Y.Doc();
    source.getMap("m").set("k", "from concord");
    writer.t.send(SERVER, syncFrame((e) => syncProtocol.writeUpdate(e, Y.encodeStateAsUpdate(source))));

    const reader = client({ url: room, self: asPeerId("reader") });
    const target = new Y.Doc();
    await waitFor(() => reader.ups() === 1, "the reader's up");
    reader.t.send(SERVER, syncFrame((e) => syncProtocol.writeSyncStep1(e, target)));
    const applied = (): boolean => {
      for (const bytes of reader.messages()) {
        const d = decoding.createDecoder(bytes);
        if (decoding.readVarUint(d) !== 0) continue;
        syncProtocol.readSyncMessage(d, encoding.createEncoder(), target, "stock");
      }
      return target.getMap("m").get("k") === "from concord";
    };
    // The writer's update may reach the server after the reader's step 1: then the server forwards it.
    await waitFor(applied, "the update at the reader");
    expect(target.getMap("m").get("k")).toBe("from concord");
  });
});
