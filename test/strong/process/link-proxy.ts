/**
 * A TCP proxy on loopback that stands for the network between two nodes (one node dials another
 * through it), so that a test can cut the link the way networks fail: `cut("drop")` closes every
 * connection through it and refuses new ones (a peer that died, a firewall that resets);
 * `cut("hang")` stops moving bytes both ways while connections stay open (a silent partition: no
 * one is told, and what was sent waits, as TCP's retransmissions would); `heal` moves bytes again.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export type CutKind = "drop" | "hang";

/** One connection through the proxy: the dialer's socket, the target's, and the bytes held while hung (in order, with where they go). */
interface Pair {
  readonly down: Socket;
  readonly up: Socket;
  held: [Socket, Buffer][] | null;
}

export class LinkProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #cut: CutKind | null = null;

  private constructor(server: Server, port: number) {
    this.#server = server;
    this.port = port;
  }

  /** Listens on a free loopback port and forwards each connection to `targetPort`. */
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

  get state(): CutKind | "open" {
    return this.#cut ?? "open";
  }

  cut(kind: CutKind): void {
    this.#cut = kind;
    for (const pair of this.#pairs) {
      if (kind === "drop") {
        pair.down.destroy();
        pair.up.destroy();
      } else {
        pair.held ??= [];
      }
    }
  }

  heal(): void {
    this.#cut = null;
    for (const pair of this.#pairs) {
      const held = pair.held ?? [];
      pair.held = null;
      for (const [to, chunk] of held) to.write(chunk);
    }
  }

  async close(): Promise<void> {
    this.cut("drop");
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(down: Socket, targetPort: number): void {
    if (this.#cut === "drop") {
      down.destroy();
      return;
    }
    const up = connect(targetPort, "127.0.0.1");
    const pair: Pair = { down, up, held: this.#cut === "hang" ? [] : null };
    this.#pairs.add(pair);
    const forward = (from: Socket, to: Socket): void => {
      from.on("data", (chunk: Buffer) => {
        if (pair.held === null) to.write(chunk);
        else pair.held.push([to, chunk]);
      });
    };
    forward(down, up);
    forward(up, down);
    const end = (): void => {
      this.#pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on("error", end);
      s.on("close", end);
    }
  }
}
