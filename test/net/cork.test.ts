/**
 * Write coalescing (`net/cork.ts`) on a real `ws` connection over loopback: the frames one turn
 * sends reach the wire in one write of the TCP socket, in order, and nothing is held past the turn.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { corkForTurn, flushCorked } from "../../src/net/cork.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A server socket and a client connected to it; `writes` counts the server socket's writes to the TCP socket. */
async function pair(): Promise<{ server: WebSocket; writes: () => number; received: Buffer[]; receivedAll: (n: number) => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await once(wss, "listening");
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const [server] = (await once(wss, "connection")) as [WebSocket];
  await once(client, "open");
  cleanups.push(() => {
    client.terminate();
    wss.close();
  });
  const socket = (server as unknown as { _socket: { _writeGeneric: (...a: unknown[]) => unknown } })._socket;
  let writes = 0;
  const inner = socket._writeGeneric.bind(socket);
  socket._writeGeneric = (...a: unknown[]) => {
    writes++;
    return inner(...a);
  };
  const received: Buffer[] = [];
  const waits: { n: number; done: () => void }[] = [];
  client.on("message", (data: Buffer) => {
    received.push(data);
    for (const w of waits.filter((w) => received.length >= w.n)) w.done();
  });
  const receivedAll = (n: number): Promise<void> => new Promise((done) => (received.length >= n ? done() : waits.push({ n, done })));
  return { server, writes: () => writes, received, receivedAll };
}

describe("corkForTurn", { timeout: 10_000 }, () => {
  it("sends the frames of one turn in one socket write, in order", async () => {
    const { server, writes, received, receivedAll } = await pair();
    for (let i = 0; i < 50; i++) {
      corkForTurn(server);
      server.send(Buffer.from([i]));
    }
    expect(writes()).toBe(0); // held until the end of the turn
    await receivedAll(50);
    expect(writes()).toBe(1);
    expect(received.map((b) => b[0])).toStrictEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("without it each frame is its own write (what the test above would see if corking broke)", async () => {
    const { server, writes, receivedAll } = await pair();
    for (let i = 0; i < 50; i++) server.send(Buffer.from([i]));
    await receivedAll(50);
    expect(writes()).toBe(50);
  });

  it("flushCorked writes what the turn held so far at once; later sends of the turn cork again and leave at its end", async () => {
    const { server, writes, received, receivedAll } = await pair();
    for (let i = 0; i < 10; i++) {
      corkForTurn(server);
      server.send(Buffer.from([i]));
    }
    flushCorked();
    expect(writes()).toBe(1); // on the wire before the turn ends (before a blocking fsync, say)
    for (let i = 10; i < 20; i++) {
      corkForTurn(server);
      server.send(Buffer.from([i]));
    }
    expect(writes()).toBe(1);
    await receivedAll(20);
    expect(writes()).toBe(2);
    expect(received.map((b) => b[0])).toStrictEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("leaves sockets it can't cork alone", () => {
    expect(() => corkForTurn({})).not.toThrow();
    expect(() => corkForTurn(null)).not.toThrow();
    expect(() => corkForTurn({ _socket: { cork: 1 } })).not.toThrow();
  });
});
