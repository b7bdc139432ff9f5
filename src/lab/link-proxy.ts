/**
 * A TCP proxy on loopback that stands for the network between a dialer (a node, or the clients
 * that sit with a node) and one node, so that the lab (`--real`) and the real-process tests can
 * break the link the way networks break:
 *
 * - `drop()` closes every connection through it and refuses new ones (a peer that died, a firewall
 *   that resets, TCP giving up);
 * - `hold(direction)` stops moving bytes one way or both while connections stay open (a silent
 *   partition: no one is told, and what was sent waits, as TCP's retransmissions would);
 * - `flaky(...)` delays every chunk at random, in order (what loss looks like under TCP: a lost
 *   segment is sent again after a retransmission timeout; duplicates never reach the application);
 * - `heal()` moves every held byte on and makes the link whole again.
 *
 * `forward` is the dialer-to-node direction, `back` the other.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { Rng } from "../rng.js";

export type Direction = "forward" | "back" | "both";

/** How a flaky link delays each chunk (ms), and the share of chunks "lost" (delayed by a retransmission). */
export interface FlakyLink {
  readonly loss: number;
  readonly medianMs: number;
  readonly maxMs: number;
  readonly rng: Rng;
}

/** TCP's smallest retransmission timeout (RFC 6298 allows 200 ms; Linux uses it): what a lost segment costs. */
export const RETRANSMIT_MS = 200;

/** One direction of one connection: what waits to go out (held or delayed), in order, and when each may. */
interface Flow {
  readonly way: "forward" | "back";
  readonly to: Socket;
  readonly queue: { readonly chunk: Buffer; readonly at: number }[];
  timer: ReturnType<typeof setTimeout> | null;
}

interface Pair {
  readonly down: Socket;
  readonly up: Socket;
  readonly forward: Flow;
  readonly back: Flow;
}

export class LinkProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #dropped = false;
  readonly #held = { forward: false, back: false };
  #flaky: FlakyLink | null = null;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  /** Listens on a free loopback port and forwards each connection to `targetPort` on loopback. */
  static async start(targetPort: number): Promise<LinkProxy> {
    let proxy: LinkProxy | undefined;
    const server = createServer((down) => proxy!.#accept(down, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("link proxy: no port");
    proxy = new LinkProxy(server, address.port);
    return proxy;
  }

  /** `open`, `dropped`, or which way bytes are held. */
  get state(): "open" | "dropped" | Direction {
    if (this.#dropped) return "dropped";
    if (this.#held.forward && this.#held.back) return "both";
    if (this.#held.forward) return "forward";
    if (this.#held.back) return "back";
    return "open";
  }

  /** Closes every connection through the link and refuses new ones until {@link heal}. */
  drop(): void {
    this.#dropped = true;
    for (const pair of this.#pairs) {
      pair.down.destroy();
      pair.up.destroy();
    }
  }

  /** Holds the bytes going `direction` (connections stay open) until {@link heal}. */
  hold(direction: Direction): void {
    if (direction !== "back") this.#held.forward = true;
    if (direction !== "forward") this.#held.back = true;
  }

  /** Delays every chunk from now on (see {@link FlakyLink}), until {@link heal}. */
  flaky(how: FlakyLink): void {
    this.#flaky = how;
  }

  /** Accepts connections again, moves held bytes on, and stops delaying. */
  heal(): void {
    this.#dropped = false;
    this.#held.forward = false;
    this.#held.back = false;
    this.#flaky = null;
    for (const pair of this.#pairs) {
      for (const flow of [pair.forward, pair.back]) {
        for (const item of flow.queue.splice(0)) if (!flow.to.destroyed) flow.to.write(item.chunk);
      }
    }
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(down: Socket, targetPort: number): void {
    if (this.#dropped) {
      down.destroy();
      return;
    }
    const up = connect(targetPort, "127.0.0.1");
    // As the endpoints do (ws sets it): no Nagle delay on small frames, or every request and
    // answer through the proxy can wait for a delayed ACK (40 ms on Linux).
    down.setNoDelay(true);
    up.setNoDelay(true);
    const pair: Pair = { down, up, forward: { way: "forward", to: up, queue: [], timer: null }, back: { way: "back", to: down, queue: [], timer: null } };
    this.#pairs.add(pair);
    down.on("data", (chunk: Buffer) => this.#pass(pair.forward, chunk));
    up.on("data", (chunk: Buffer) => this.#pass(pair.back, chunk));
    const end = (): void => {
      this.#pairs.delete(pair);
      for (const flow of [pair.forward, pair.back]) if (flow.timer !== null) clearTimeout(flow.timer);
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on("error", end);
      s.on("close", end);
    }
  }

  #pass(flow: Flow, chunk: Buffer): void {
    const f = this.#flaky;
    if (f === null && flow.queue.length === 0 && !this.#held[flow.way]) {
      flow.to.write(chunk);
      return;
    }
    // In order: never before the chunk ahead of it.
    const delay = f === null ? 0 : f.rng.next() < f.loss ? RETRANSMIT_MS + f.rng.int(0, f.medianMs) : Math.min(f.maxMs, f.rng.int(0, 2 * f.medianMs));
    const last = flow.queue[flow.queue.length - 1]?.at ?? 0;
    flow.queue.push({ chunk, at: Math.max(last, performance.now() + delay) });
    this.#pump(flow);
  }

  /** Writes what is due of `flow` unless its direction is held; wakes again for the next. */
  #pump(flow: Flow): void {
    if (flow.timer !== null || this.#held[flow.way]) return;
    while (flow.queue.length > 0 && flow.queue[0]!.at <= performance.now()) {
      const { chunk } = flow.queue.shift()!;
      if (!flow.to.destroyed) flow.to.write(chunk);
    }
    const next = flow.queue[0];
    if (next === undefined) return;
    flow.timer = setTimeout(() => {
      flow.timer = null;
      this.#pump(flow);
    }, Math.max(0, next.at - performance.now()));
  }
}
