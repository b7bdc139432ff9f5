/**
 * The WebSocket mesh of a node's peer links, on real sockets on loopback: a dialed link and an
 * accepted one form one peer each way, hellos name the dialer, bad first frames are refused, a
 * restarted peer is dialed again, close silences everything. Waits on events, never on time.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { isConcordError } from "../../src/errors.js";
import { asPeerId, type PeerId } from "../../src/ids.js";
import { BAD_HELLO_CLOSE, decodePeerHello, encodePeerHello, webSocketMesh, type WebSocketMesh } from "../../src/net/websocket-mesh.js";
import type { WebSocketConstructorLike } from "../../src/net/websocket-client.js";

type Heard = ["up", PeerId] | ["down", PeerId] | ["message", PeerId, string];

/** Records what a mesh hears and resolves waits as soon as what they wait for has been heard. */
function listenTo(mesh: WebSocketMesh): { heard: Heard[]; until: (what: (h: Heard[]) => boolean) => Promise<void> } {
  const heard: Heard[] = [];
  const waits: { what: (h: Heard[]) => boolean; done: () => void }[] = [];
  const check = (): void => {
    for (const w of [...waits]) {
      if (w.what(heard)) {
        waits.splice(waits.indexOf(w), 1);
        w.done();
      }
    }
  };
  mesh.listen({
    up: (p) => (heard.push(["up", p]), check()),
    down: (p) => (heard.push(["down", p]), check()),
    message: (p, b) => (heard.push(["message", p, new TextDecoder().decode(b)]), check()),
  });
  return {
    heard,
    until: (what) => (what(heard) ? Promise.resolve() : new Promise<void>((done) => waits.push({ what, done }))),
  };
}

const has = (...want: Heard) => (h: Heard[]): boolean => h.some((x) => JSON.stringify(x) === JSON.stringify(want));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const A = asPeerId("a");
const B = asPeerId("b");

/** A node's peer endpoint: an HTTP server whose WebSocket upgrades go to `mesh.accept`. */
async function endpoint(accept: (ws: WebSocket) => void, port = 0): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, accept));
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/peer`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fastBackoff = { initialMs: 5, maxMs: 20, jitter: 0 };
const WS = WebSocket as unknown as WebSocketConstructorLike;

async function pair(): Promise<{ a: WebSocketMesh; b: WebSocketMesh; ha: ReturnType<typeof listenTo>; hb: ReturnType<typeof listenTo>; bEnd: Awaited<ReturnType<typeof endpoint>> }> {
  const b = webSocketMesh({ self: B });
  const bEnd = await endpoint((ws) => b.accept(ws));
  const a = webSocketMesh({ self: A, dial: new Map([[B, bEnd.url]]), backoff: fastBackoff, WebSocket: WS });
  cleanups.push(() => bEnd.close(), () => b.close(), () => a.close());
  const hb = listenTo(b);
  const ha = listenTo(a);
  await Promise.all([ha.until(has("up", B)), hb.until(has("up", A))]);
  return { a, b, ha, hb, bEnd };
}

describe("peer hello", () => {
  it("round-trips the dialer's id; anything else is a Protocol error", () => {
    expect(decodePeerHello(encodePeerHello(asPeerId("node-1")))).toBe("node-1");
    for (const bad of [new Uint8Array(), Uint8Array.of(1, 0x71, 1, 0x61), Uint8Array.of(2, 0x70, 1, 0x61), Uint8Array.of(1, 0x70, 0)]) {
      expect(() => decodePeerHello(bad)).toThrow(expect.objectContaining({ code: "Protocol" }));
    }
  });
});

describe("WebSocket mesh", { timeout: 10_000 }, () => {
  it("a dialed link makes each node a peer of the other, and messages flow both ways with the sender's id", async () => {
    const { a, b, ha, hb } = await pair();
    a.send(B, text("to b"));
    b.send(A, text("to a"));
    await Promise.all([hb.until(has("message", A, "to b")), ha.until(has("message", B, "to a"))]);
    expect(a.peers()).toEqual([B]);
    expect(b.peers()).toEqual([A]);
  });

  it("refuses a link whose first frame is not a peer hello, and keeps serving the others", async () => {
    const { a, hb } = await pair();
    const events: string[] = [];
    const c = webSocketMesh({ self: asPeerId("c"), log: (e) => events.push(e) });
    cleanups.push(() => c.close());
    const cEnd = await endpoint((ws) => c.accept(ws));
    cleanups.push(() => cEnd.close());
    const raw = new WebSocket(cEnd.url);
    const code = await new Promise<number>((resolve) => {
      raw.on("open", () => raw.send(Uint8Array.of(9, 9, 9)));
      raw.on("close", (c) => resolve(c));
    });
    expect(code).toBe(BAD_HELLO_CLOSE);
    expect(events).toContain("peer.bad_hello");
    a.send(B, text("still"));
    await hb.until(has("message", A, "still"));
  });

  it("a peer that goes away is down; once back it is dialed again and up", async () => {
    const { a, b, ha, hb, bEnd } = await pair();
    const port = Number(new URL(bEnd.url).port);
    await bEnd.close();
    await ha.until(has("down", B));
    const again = await endpoint((ws) => b.accept(ws), port);
    cleanups.push(() => again.close());
    await ha.until((h) => h.filter((x) => x[0] === "up").length === 2);
    a.send(B, text("after restart"));
    await hb.until(has("message", A, "after restart"));
    expect(a.peers()).toEqual([B]);
  });

  it("close() stops dialing and silences the mesh; the other side sees it go down", async () => {
    const { a, ha, hb } = await pair();
    a.close();
    await hb.until(has("down", A));
    const before = ha.heard.length;
    a.send(B, text("after close"));
    a.close();
    expect(ha.heard.length).toBe(before);
    expect(a.peers()).toEqual([]);
  });

  const liveness = { everyMs: 20, deadAfterMs: 150 };

  it("with liveness, idle links stay up on keepalives (empty frames), which are never delivered", async () => {
    let keepalives = 0;
    let enough: () => void = () => undefined;
    const b = webSocketMesh({ self: B, liveness });
    const bEnd = await endpoint((ws) => {
      ws.on("message", (data: ArrayBuffer) => {
        // The mesh sets binaryType "arraybuffer" on the sockets it accepts.
        if (data.byteLength === 0 && ++keepalives === 20) enough();
      });
      b.accept(ws);
    });
    const a = webSocketMesh({ self: A, dial: new Map([[B, bEnd.url]]), backoff: fastBackoff, WebSocket: WS, liveness });
    cleanups.push(() => bEnd.close(), () => b.close(), () => a.close());
    const [hb, ha] = [listenTo(b), listenTo(a)];
    // 20 keepalives from a: about 400 ms of silence above, well past deadAfterMs.
    await new Promise<void>((resolve) => (enough = resolve));
    expect(ha.heard).toEqual([["up", B]]);
    expect(hb.heard).toEqual([["up", A]]);
    a.send(B, text("still up"));
    await hb.until(has("message", A, "still up"));
  });

  it("with liveness, a dialed peer that goes silent without closing is down after deadAfterMs, and is dialed again", async () => {
    const sockets: WebSocket[] = [];
    let second: () => void = () => undefined;
    const silent = await endpoint((ws) => {
      sockets.push(ws); // takes the hello, then never sends a frame nor closes
      if (sockets.length === 2) second();
    });
    const events: Array<[string, Record<string, unknown>]> = [];
    const a = webSocketMesh({ self: A, dial: new Map([[B, silent.url]]), backoff: fastBackoff, WebSocket: WS, liveness, log: (e, f) => events.push([e, f]) });
    cleanups.push(() => silent.close(), () => a.close());
    const ha = listenTo(a);
    await ha.until(has("down", B));
    expect(ha.heard).toEqual([["up", B], ["down", B]]);
    expect(events).toContainEqual(["peer.link_silent", expect.objectContaining({ peer: B, dialed: true })]);
    expect(events.find(([e]) => e === "peer.link_silent")![1]["silentMs"]).toBeGreaterThanOrEqual(liveness.deadAfterMs);
    await new Promise<void>((resolve) => (sockets.length >= 2 ? resolve() : (second = resolve)));
  });

  it("with liveness, a peer that dialed in and went silent is down after deadAfterMs, its socket ended", async () => {
    const b = webSocketMesh({ self: B, liveness });
    const bEnd = await endpoint((ws) => b.accept(ws));
    cleanups.push(() => bEnd.close(), () => b.close());
    const hb = listenTo(b);
    const raw = new WebSocket(bEnd.url);
    const closed = new Promise<void>((resolve) => raw.on("close", () => resolve()));
    raw.on("open", () => raw.send(encodePeerHello(A))); // and nothing more, ever
    await hb.until(has("down", A));
    await closed;
    expect(hb.heard).toEqual([["up", A], ["down", A]]);
  });

  it("refuses liveness settings that make no sense", () => {
    for (const bad of [{ everyMs: 0, deadAfterMs: 10 }, { everyMs: 10, deadAfterMs: 10 }, { everyMs: Number.NaN, deadAfterMs: 10 }]) {
      expect(() => webSocketMesh({ self: A, liveness: bad })).toThrow(expect.objectContaining({ code: "InvalidArgument" }));
    }
  });

  it("refuses to dial itself", () => {
    let error: unknown;
    try {
      webSocketMesh({ self: A, dial: new Map([[A, "ws://127.0.0.1:1/peer"]]) });
    } catch (e) {
      error = e;
    }
    expect(isConcordError(error, "InvalidArgument")).toBe(true);
  });
});
