/**
 * A node's links to the other nodes of its group, over WebSockets, as one {@link Transport}
 * (DESIGN.md section 3): the node DIALS the peers whose address it knows (one self-reconnecting
 * {@link webSocketClient} each) and ACCEPTS the peers that dial it (sockets its HTTP server hands
 * over). Every link opens with a hello frame naming the dialer, so both ends know who is at the
 * other end. A peer is `up` while at least one link to it is open; `send` uses one of them (a
 * dialed one first, else the one accepted last), so a replica that dials its primary needs no
 * address of its own to be answered, and a promoted primary dials the peers it must tell.
 *
 * Liveness ({@link WebSocketMeshOptions.liveness}): a link is dropped once nothing came over it
 * for `deadAfterMs` (a dialed one is dialed again), so a peer whose machine died without closing
 * its sockets, or that is paused, is seen `down` in about that time rather than when TCP gives up
 * (minutes). Each end sends an empty frame on a link it sent nothing on for `everyMs`; empty frames
 * are never delivered (no message of the protocols above is empty).
 *
 * The peer endpoint carries replication between trusted nodes: it is not meant to face the
 * internet (the hello names a peer; it does not prove it).
 */
import { decodeVersioned, encodeVersioned, type BinaryFormat } from "../codec/primitives.js";
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { asPeerId, type PeerId } from "../ids.js";
import type { Rng } from "../rng.js";
import type { Transport, TransportEvents } from "./transport.js";
import { systemClock } from "../clock.js";
import { endSocket, SILENT_CLOSE, webSocketClient, type WebSocketBackoffOptions, type WebSocketConstructorLike, type WebSocketLike } from "./websocket-client.js";
import { corkForTurn, flushCorked } from "./cork.js";

const HELLO_FORMAT: BinaryFormat = { name: "peer hello", version: 1, idName: "peer id" };
/** First byte after the version: tells a peer hello from any other protocol's first frame. */
const HELLO_MAGIC = 0x70;

/** The first frame of a link: the dialer's id. */
export function encodePeerHello(self: PeerId): Uint8Array {
  return encodeVersioned(HELLO_FORMAT, (w) => {
    w.tag(HELLO_MAGIC);
    w.id(self, "peer");
  });
}

/** Decodes a peer hello; malformed bytes give `Protocol`. */
export function decodePeerHello(bytes: Uint8Array): PeerId {
  return decodeVersioned(HELLO_FORMAT, "peer hello", bytes, { maxBytes: 1024 }, (r) => {
    const at = r.offset;
    const magic = r.u8("magic");
    if (magic !== HELLO_MAGIC) r.fail("magic", `is ${magic}, not a peer hello (${HELLO_MAGIC})`, at);
    return asPeerId(r.id("peer"));
  });
}

/** Close code for a link whose first frame is not a peer hello (the dialer must not retry blindly). */
export const BAD_HELLO_CLOSE = 4400;

export interface WebSocketMeshOptions {
  readonly self: PeerId;
  /** Peers to dial: id -> ws:// URL of its peer endpoint. */
  readonly dial?: ReadonlyMap<PeerId, string>;
  readonly clock?: Clock;
  readonly rng?: Rng;
  readonly backoff?: WebSocketBackoffOptions;
  readonly WebSocket?: WebSocketConstructorLike;
  /** Link events for logs: a refused hello, a dialed link that closed, a link dropped as silent. */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
  /**
   * Drop a link that was silent for `deadAfterMs`; keep each link busy with an empty frame every
   * `everyMs` (`0 < everyMs < deadAfterMs`). Give every node of a group the same setting. Default:
   * off (a link lasts until its socket closes).
   */
  readonly liveness?: { readonly everyMs: number; readonly deadAfterMs: number };
}

const KEEPALIVE = new Uint8Array(0);

/** The {@link Transport} of a node's peer links, plus the hand-over of accepted sockets. */
export interface WebSocketMesh extends Transport {
  /**
   * Takes a socket the node's server accepted on its peer endpoint. Its first binary frame must be
   * a peer hello (else it is closed with {@link BAD_HELLO_CLOSE}); from then on it is a link to
   * that peer.
   */
  accept(socket: WebSocketLike): void;
}

interface Link {
  readonly send: (bytes: Uint8Array) => void;
  readonly close: () => void;
  /** Ends the link's connection as failed (a dialed link dials again). */
  readonly drop: (reason: string) => void;
  readonly dialed: boolean;
  /** Clock times of the last frame received and sent. */
  heardAt: number;
  sentAt: number;
}

const OPEN = 1;

class Mesh implements WebSocketMesh {
  readonly self: PeerId;
  readonly #o: WebSocketMeshOptions;
  readonly #links = new Map<PeerId, Set<Link>>();
  readonly #dialers: Transport[] = [];
  #events: TransportEvents | null = null;
  #closed = false;
  readonly #clock: Clock;
  #cancelLiveness: (() => void) | null = null;

  constructor(o: WebSocketMeshOptions) {
    this.self = o.self;
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    for (const [peer, url] of o.dial ?? []) {
      if (peer === o.self) throw new ConcordError("InvalidArgument", `node ${o.self} cannot dial itself (${url})`, { peer, url });
    }
    const l = o.liveness;
    if (l !== undefined && !(Number.isFinite(l.everyMs) && l.everyMs > 0 && Number.isFinite(l.deadAfterMs) && l.deadAfterMs > l.everyMs)) {
      throw new ConcordError("InvalidArgument", `liveness needs 0 < everyMs < deadAfterMs, got everyMs ${l.everyMs} and deadAfterMs ${l.deadAfterMs}`, { ...l });
    }
  }

  listen(events: TransportEvents): void {
    if (this.#events !== null || this.#closed) return;
    this.#events = events;
    for (const peer of this.#links.keys()) events.up(peer);
    for (const [peer, url] of this.#o.dial ?? []) this.#dial(peer, url);
    if (this.#o.liveness !== undefined) this.#checkLiveness(this.#o.liveness);
  }

  send(to: PeerId, bytes: Uint8Array): void {
    const links = this.#links.get(to);
    if (links === undefined || this.#closed) return;
    // Links in the order they came up: a peer that dialed again is answered on its new link, while
    // the old one may linger half-open (or be held by another socket that said the same hello).
    let chosen: Link | undefined;
    for (const l of links) if (chosen === undefined || l.dialed || !chosen.dialed) chosen = l;
    if (chosen === undefined) return;
    chosen.sentAt = this.#clock.now();
    chosen.send(bytes);
  }

  /** Every `everyMs`: drops the links silent for `deadAfterMs`, and sends a keepalive on the idle ones. */
  #checkLiveness(l: { readonly everyMs: number; readonly deadAfterMs: number }): void {
    this.#cancelLiveness = this.#clock.setTimer(l.everyMs, () => {
      if (this.#closed) return;
      const now = this.#clock.now();
      for (const [peer, links] of this.#links) {
        for (const link of [...links]) {
          if (now - link.heardAt >= l.deadAfterMs) {
            this.#o.log?.("peer.link_silent", { peer, dialed: link.dialed, silentMs: Math.round(now - link.heardAt) });
            this.#remove(peer, link);
            link.drop(`nothing heard for ${Math.round(now - link.heardAt)} ms`);
          } else if (now - link.sentAt >= l.everyMs) {
            link.sentAt = now;
            link.send(KEEPALIVE);
          }
        }
      }
      this.#checkLiveness(l);
    });
  }

  flush(): void {
    flushCorked();
  }

  peers(): readonly PeerId[] {
    return [...this.#links.keys()];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelLiveness?.();
    for (const d of this.#dialers) d.close();
    for (const links of this.#links.values()) for (const l of links) l.close();
    this.#links.clear();
  }

  accept(socket: WebSocketLike): void {
    if (this.#closed) {
      socket.close(1001, "node shutting down");
      return;
    }
    socket.binaryType = "arraybuffer";
    let link: Link | null = null;
    let peer: PeerId | null = null;
    socket.onmessage = (event) => {
      const bytes = toBytes(event.data);
      if (bytes === null) return;
      if (link !== null && peer !== null) {
        this.#deliver(peer, link, bytes);
        return;
      }
      try {
        peer = decodePeerHello(bytes);
      } catch (e) {
        this.#o.log?.("peer.bad_hello", { error: e instanceof Error ? e.message : String(e) });
        socket.close(BAD_HELLO_CLOSE, "the first frame must be a peer hello");
        return;
      }
      const now = this.#clock.now();
      link = {
        dialed: false,
        heardAt: now,
        sentAt: now,
        send: (b) => {
          if (socket.readyState !== OPEN) return;
          corkForTurn(socket);
          socket.send(b);
        },
        close: () => socket.close(1001, "node shutting down"),
        drop: (reason) => endSocket(socket, SILENT_CLOSE, reason),
      };
      this.#add(peer, link);
    };
    socket.onclose = () => {
      if (link !== null && peer !== null) this.#remove(peer, link);
    };
    socket.onerror = () => undefined;
  }

  #dial(peer: PeerId, url: string): void {
    const client = webSocketClient({
      url,
      self: this.self,
      serverPeer: peer,
      firstFrame: encodePeerHello(this.self),
      ...(this.#o.clock === undefined ? {} : { clock: this.#o.clock }),
      ...(this.#o.rng === undefined ? {} : { rng: this.#o.rng }),
      ...(this.#o.backoff === undefined ? {} : { backoff: this.#o.backoff }),
      ...(this.#o.WebSocket === undefined ? {} : { WebSocket: this.#o.WebSocket }),
      onClose: (info) => this.#o.log?.("peer.link_closed", { peer, url, code: info.code, reason: info.reason, willRetry: info.willRetry }),
    });
    const link: Link = { dialed: true, heardAt: 0, sentAt: 0, send: (b) => client.send(peer, b), close: () => client.close(), drop: (reason) => client.dropConnection(reason) };
    this.#dialers.push(client);
    client.listen({
      up: () => {
        link.heardAt = link.sentAt = this.#clock.now();
        this.#add(peer, link);
      },
      down: () => this.#remove(peer, link),
      message: (_from, bytes) => this.#deliver(peer, link, bytes),
    });
  }

  #add(peer: PeerId, link: Link): void {
    if (this.#closed) return;
    let links = this.#links.get(peer);
    if (links === undefined) {
      links = new Set();
      this.#links.set(peer, links);
    }
    links.add(link);
    if (links.size === 1) this.#events?.up(peer);
  }

  #remove(peer: PeerId, link: Link): void {
    const links = this.#links.get(peer);
    if (links === undefined || !links.delete(link)) return;
    if (links.size > 0) return;
    this.#links.delete(peer);
    if (!this.#closed) this.#events?.down(peer);
  }

  #deliver(peer: PeerId, link: Link, bytes: Uint8Array): void {
    link.heardAt = this.#clock.now();
    if (bytes.byteLength === 0) return; // a keepalive
    if (!this.#closed) this.#events?.message(peer, bytes);
  }
}

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return null;
}

/**
 * A mesh for node `self`. Dialing starts at `listen`.
 * @throws ConcordError `InvalidArgument` when asked to dial itself (the dial URLs are checked by webSocketClient).
 */
export function webSocketMesh(options: WebSocketMeshOptions): WebSocketMesh {
  return new Mesh(options);
}
