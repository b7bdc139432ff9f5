/**
 * The lab's loopback proxy (`src/lab/link-proxy.ts`) on real sockets: an echo-less target that
 * records what reaches it, and a dialer that records what comes back. Every wait ends on an event
 * (bytes arriving, a socket closing), bounded by the harness's timeout.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LinkProxy } from "../../src/lab/link-proxy.js";
import { seededRng } from "../../src/rng.js";
import { onCleanup, runCleanups, waitFor } from "../reliability/harness.js";

afterEach(runCleanups);

/** A target on loopback: the sockets it accepted and every byte each one received. */
async function target(): Promise<{ port: number; accepted: Socket[]; received: () => string; wake: Set<() => void> }> {
  const accepted: Socket[] = [];
  const chunks: string[] = [];
  const wake = new Set<() => void>();
  const server: Server = createServer((s) => {
    accepted.push(s);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      chunks.push(d);
      for (const w of [...wake]) w();
    });
    s.on("error", () => undefined);
    for (const w of [...wake]) w();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  onCleanup(() => accepted.forEach((s) => s.destroy()));
  return { port: (server.address() as { port: number }).port, accepted, received: () => chunks.join(""), wake };
}

/** A dialer through `proxy`: every byte it got back, and whether it closed. */
async function dial(port: number): Promise<{ socket: Socket; got: () => string; closed: () => boolean; wake: Set<() => void> }> {
  const socket = connect(port, "127.0.0.1");
  const chunks: string[] = [];
  const wake = new Set<() => void>();
  let closed = false;
  socket.setEncoding("utf8");
  socket.on("data", (d: string) => {
    chunks.push(d);
    for (const w of [...wake]) w();
  });
  socket.on("error", () => undefined);
  socket.on("close", () => {
    closed = true;
    for (const w of [...wake]) w();
  });
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  onCleanup(() => socket.destroy());
  return { socket, got: () => chunks.join(""), closed: () => closed, wake };
}

const on = (wake: Set<() => void>) => (w: () => void) => (wake.add(w), () => wake.delete(w));

async function setup(): Promise<{ proxy: LinkProxy; t: Awaited<ReturnType<typeof target>>; d: Awaited<ReturnType<typeof dial>> }> {
  const t = await target();
  const proxy = await LinkProxy.start(t.port);
  onCleanup(() => proxy.close());
  const d = await dial(proxy.port);
  await waitFor("the target to accept", () => t.accepted.length === 1, on(t.wake));
  return { proxy, t, d };
}

describe("LinkProxy", () => {
  it("moves bytes both ways while open", async () => {
    const { t, d, proxy } = await setup();
    d.socket.write("ping");
    await waitFor("ping at the target", () => t.received() === "ping", on(t.wake));
    t.accepted[0]!.write("pong");
    await waitFor("pong at the dialer", () => d.got() === "pong", on(d.wake));
    expect(proxy.state).toBe("open");
  });

  it("holds one direction only (a one-way cut), then lets the held bytes through in order at the heal", async () => {
    const { t, d, proxy } = await setup();
    proxy.hold("forward");
    expect(proxy.state).toBe("forward");
    d.socket.write("a");
    d.socket.write("b");
    // The other way still flows: the answer arrives while the dialer's bytes are held.
    t.accepted[0]!.write("back");
    await waitFor("the target's bytes at the dialer", () => d.got() === "back", on(d.wake));
    expect(t.received()).toBe("");
    proxy.heal();
    await waitFor("the held bytes, in order", () => t.received() === "ab", on(t.wake));
    expect(proxy.state).toBe("open");
  });

  it("holds the back direction alone", async () => {
    const { t, d, proxy } = await setup();
    proxy.hold("back");
    t.accepted[0]!.write("held");
    d.socket.write("through");
    await waitFor("the dialer's bytes at the target", () => t.received() === "through", on(t.wake));
    expect(d.got()).toBe("");
    proxy.heal();
    await waitFor("the held answer", () => d.got() === "held", on(d.wake));
  });

  it("drop closes the connections through it and refuses new ones until the heal", async () => {
    const { t, d, proxy } = await setup();
    proxy.drop();
    await waitFor("the dialer's socket to close", () => d.closed(), on(d.wake));
    expect(proxy.state).toBe("dropped");
    const again = await dial(proxy.port);
    await waitFor("a new connection to be closed", () => again.closed(), on(again.wake));
    expect(t.accepted.length).toBe(1);
    proxy.heal();
    const healed = await dial(proxy.port);
    healed.socket.write("after");
    await waitFor("bytes through the healed link", () => t.received() === "after", on(t.wake));
  });

  it("a flaky link delays chunks but keeps their order, losses included", async () => {
    const { t, d, proxy } = await setup();
    proxy.flaky({ loss: 0.3, medianMs: 5, maxMs: 20, rng: seededRng(3) });
    const sent = Array.from({ length: 40 }, (_, k) => `<${k}>`);
    for (const s of sent) d.socket.write(s);
    await waitFor("every chunk at the target", () => t.received().length === sent.join("").length, on(t.wake));
    expect(t.received()).toBe(sent.join(""));
  });
});
