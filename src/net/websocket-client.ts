/**
 * The client end of a WebSocket link as a {@link Transport} (DESIGN.md section 3): one socket to one
 * server, which appears as a single peer. `eventual` mode speaks the y-websocket protocol over it,
 * so the server may be ours or the stock y-websocket server (the path of the URL names the
 * document, y-websocket style).
 *
 * The first socket opens at `listen` (the port's "listen joins"): y-websocket servers send sync
 * step 1 the moment a connection opens, and it must find a listener. The transport reconnects on
 * its own, with exponential backoff and jitter drawn from an injected {@link Rng} and timed by an
 * injected {@link Clock}; protocols resync on every new `up`, so nothing is queued while the link
 * is down. Works with the browser's `WebSocket` and with the `ws` package
 * in Node (loaded lazily so that browser bundles don't pull it in).
 */
import { systemClock, type CancelTimer, type Clock } from "../clock.js";
import { ConcordError, invariant } from "../errors.js";
import { asPeerId, type PeerId } from "../ids.js";
import { seededRng, type Rng } from "../rng.js";
import type { Transport, TransportEvents } from "./transport.js";
import { corkForTurn } from "./cork.js";

/**
 * An event handler property checked bivariantly, so that both the DOM `WebSocket` (handlers take
 * `MessageEvent`, `CloseEvent`...) and the `ws` package (its own event types) fit
 * {@link WebSocketLike}; we only read the fields named here.
 */
type SocketEventHandler<E> = { bivarianceHack(event: E): void }["bivarianceHack"];

/** The part of a WebSocket (WHATWG API, as in browsers and the `ws` package) this transport uses. */
export interface WebSocketLike {
  /** Set to "arraybuffer" before any message can arrive. */
  binaryType: string;
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  onopen: SocketEventHandler<unknown> | null;
  onmessage: SocketEventHandler<{ readonly data: unknown }> | null;
  onclose: SocketEventHandler<{ readonly code: number; readonly reason: string }> | null;
  onerror: SocketEventHandler<unknown> | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Ends the connection at once, without a closing handshake (the `ws` package has it; the DOM's WebSocket does not). */
  terminate?(): void;
}

/**
 * Ends `socket` now: `terminate()` where there is one, else `close(code, reason)` (which waits for
 * the peer's closing handshake, so a silent peer holds it until the platform gives up).
 */
export function endSocket(socket: WebSocketLike, code: number, reason: string): void {
  if (typeof socket.terminate === "function") socket.terminate();
  else socket.close(code, reason);
}

/** A WebSocket constructor: `globalThis.WebSocket`, the `ws` package's default export, or a fake. */
export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

/** Reconnect backoff of a {@link webSocketClient}. All durations in ms on the transport's clock. */
export interface WebSocketBackoffOptions {
  /** Wait before the first reconnect after a failure. > 0. Default 100. */
  initialMs?: number;
  /** Upper bound of the (un-jittered) wait. >= initialMs. Default 10 000. */
  maxMs?: number;
  /** Growth of the wait per consecutive failed attempt. >= 1. Default 2. */
  factor?: number;
  /**
   * Fraction of the wait that is random, in [0, 1]: the wait is `base * (1 - jitter * u)` with `u`
   * uniform in [0, 1) from the rng. 0 = no jitter; 1 = full jitter. Default 0.5.
   */
  jitter?: number;
  /**
   * A connection that stays open this long resets the backoff (the next failure waits `initialMs`
   * again). >= 0. Default 5 000. Counting a first message as proof of health would not do: the
   * y-websocket server sends sync step 1 straight away, even when it is about to drop us.
   */
  resetAfterMs?: number;
}

/** What {@link WebSocketClientOptions.onClose} hears. */
export interface WebSocketCloseInfo {
  /** The close code (1006 when the connection failed without a close frame, or never started). */
  code: number;
  /** The close frame's reason; when that is empty, the message of the error that caused the close. */
  reason: string;
  /** False when the transport gave up: refused by the server (4400-4499) or no WebSocket could be created. */
  willRetry: boolean;
  /** The wait before the next attempt (ms on the transport's clock), when `willRetry`. */
  retryInMs?: number;
}

/** Options of {@link webSocketClient}. */
export interface WebSocketClientOptions {
  /** ws:// or wss:// URL of the room, e.g. ws://127.0.0.1:4321/todos (y-websocket style: the path names the document). No fragment. */
  readonly url: string;
  /** Appended as ?token=... (URL-encoded; replaces a `token` already in the URL) when given. Non-empty. */
  readonly token?: string;
  /**
   * Sent as the FIRST frame of every connection, before `up` is fired (so before anything the
   * receiver sends): e.g. credentials the server wants before anything else. Copied at creation.
   */
  readonly firstFrame?: Uint8Array;
  /** Our id (default: random from rng); the server appears as the peer `serverPeer` (default "server"). They must differ. */
  readonly self?: PeerId;
  readonly serverPeer?: PeerId;
  /** Times the backoff waits and the backoff reset. Default {@link systemClock}. */
  readonly clock?: Clock;
  /** Draws the jitter (and the default `self`). Default: seeded from `Math.random`. */
  readonly rng?: Rng;
  /** Reconnect backoff: first delay, cap, factor, and full jitter fraction. Defaults 100 ms, 10 s, 2, 0.5. */
  readonly backoff?: WebSocketBackoffOptions;
  /** WebSocket constructor; default globalThis.WebSocket, else the `ws` package loaded lazily (dynamic import, so browser bundles don't pull it). */
  readonly WebSocket?: WebSocketConstructorLike;
  /**
   * Called on every close with code and reason (for logs / status), and on errors nobody awaits
   * (those surface as the reason of the close they cause, or as a `willRetry: false` report when
   * no socket can be created at all; that report may come from inside `listen`).
   * Not called for the close that {@link Transport.close} causes.
   * Runs after `down` and after {@link WebSocketClientTransport.status} reflects the close.
   */
  readonly onClose?: (info: WebSocketCloseInfo) => void;
}

/** Connection state of a {@link WebSocketClientTransport}. */
export interface WebSocketClientStatus {
  /**
   * `connecting`: a socket is being opened; `open`: the server is up; `waiting`: backing off
   * before the next attempt; `offline`: disconnected on purpose until `connect()`; `closed`: for
   * good (closed by us, refused by the server with a 4400-4499 code, or no WebSocket could be
   * created).
   */
  state: "connecting" | "open" | "waiting" | "offline" | "closed";
  /**
   * Connection attempts since the backoff last reset, counting the current one: 0 before `listen`
   * (state `connecting`, no socket yet), 1 while the first socket connects, 3 while the third try
   * after two failures connects or waits; back to 0 once a connection has stayed open
   * `backoff.resetAfterMs`.
   */
  attempts: number;
  /** The most recent close of a connection (not the one `close()` causes). */
  lastClose?: { code: number; reason: string };
}

/** A {@link Transport} to one server over a self-reconnecting WebSocket. */
export interface WebSocketClientTransport extends Transport {
  /** A snapshot of the connection state. */
  status(): WebSocketClientStatus;
  /**
   * Skip the backoff wait and connect now (e.g. when the app comes back online). Only acts while
   * `waiting`: a connecting or open link is left alone, a closed one stays closed. Does not reset
   * the backoff: if this attempt fails too, the next wait is the one that was due after it.
   */
  reconnectNow(): void;
  /**
   * Ends the open connection at once (see {@link endSocket}) as a failure with `reason`, then
   * reconnects after the backoff wait, as after any failure: for a peer that went silent. Does
   * nothing unless a connection is open.
   */
  dropConnection(reason: string): void;
  /**
   * Goes offline (y-websocket's `provider.disconnect()`): closes the connection, if any, with
   * 1000 and stops reconnecting until {@link connect}. Nothing sent meanwhile reaches the server;
   * the protocol resyncs on the next connection. No effect once closed or already offline.
   */
  disconnect(): void;
  /** Comes back from {@link disconnect}: connects at once, the backoff reset. No effect unless offline. */
  connect(): void;
}

const CONNECTING = 0;
const OPEN = 1;
/** Close code for failures without a close frame (the WebSocket spec's "abnormal closure"). */
const ABNORMAL = 1006;
/** Close code for a connection dropped because its peer went silent (retried: not a refusal). */
export const SILENT_CLOSE = 4000;

/** True for close codes by which a server says retrying won't help (auth, bad document, limits). */
export function isRefusalCode(code: number): boolean {
  return code >= 4400 && code <= 4499;
}

/**
 * A transport to the server at `options.url`. It connects at `listen` (synchronously: the socket
 * exists when `listen` returns, or once the `ws` package has loaded) and keeps reconnecting until
 * closed or refused. Nothing is opened before `listen`, so no server message is ever dropped for
 * want of a listener.
 *
 * Contracts (beyond the {@link Transport} port's):
 * - The only peer is `serverPeer`. `up(serverPeer)` fires when a socket opens, never inside
 *   `listen`; `down(serverPeer)` fires once when that socket closes or fails, only if `up` was
 *   fired for it. So events alternate up, down, up... and every `message` falls between an `up`
 *   and its `down`, in the order the socket delivered them.
 * - Binary frames are delivered as a `Uint8Array` the receiver owns; text frames are ignored.
 * - `send` copies the bytes and sends them only while the socket is open; otherwise (and to any
 *   peer but `serverPeer`) it drops them silently. It never throws.
 * - After a close or failure, the next attempt comes after the backoff wait; a close code in
 *   4400-4499 means the server refused us: no retry, state `closed`, `onClose` with `willRetry:
 *   false`. Every other close, including a clean 1000 (a server restarting), is retried.
 * - `close()` stops reconnecting, closes the socket with 1000 and fires no more events (no `down`,
 *   no `onClose`). Idempotent.
 *
 * NOT guaranteed: delivery of anything sent shortly before a close (it may be lost in the socket);
 * that a connection that opened is accepted by the server (the server may close it at once); a
 * bound on how long a socket stays `connecting` (that is the platform's connect timeout).
 *
 * @throws ConcordError `InvalidArgument`, naming the option, when an option makes no sense.
 */
export function webSocketClient(options: WebSocketClientOptions): WebSocketClientTransport {
  return new WebSocketClient(checkOptions(options));
}

interface ResolvedOptions {
  readonly url: string;
  readonly firstFrame: Uint8Array | undefined;
  readonly self: PeerId;
  readonly serverPeer: PeerId;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly resetAfterMs: number;
  readonly WebSocket: WebSocketConstructorLike | undefined;
  readonly onClose: ((info: WebSocketCloseInfo) => void) | undefined;
}

/** One socket, from creation to its close event. */
interface Connection {
  readonly socket: WebSocketLike;
  /** The socket opened and `up` was fired for it, so `down` is owed. */
  opened: boolean;
  ended: boolean;
  /** Message of the first error seen on this socket, reported as the close reason if it has none. */
  error?: string;
  cancelStable?: CancelTimer;
}

class WebSocketClient implements WebSocketClientTransport {
  readonly self: PeerId;
  readonly #o: ResolvedOptions;
  readonly #server: PeerId;
  #events: TransportEvents | undefined;
  #listened = false;
  #closed = false;
  #state: WebSocketClientStatus["state"] = "connecting";
  #attempts = 0;
  #lastClose: { code: number; reason: string } | undefined;
  #current: Connection | undefined;
  #cancelRetry: CancelTimer | undefined;
  #Ctor: WebSocketConstructorLike | undefined;
  #offline = false;

  constructor(options: ResolvedOptions) {
    this.#o = options;
    this.self = options.self;
    this.#server = options.serverPeer;
    this.#Ctor = options.WebSocket ?? platformWebSocket();
  }

  listen(events: TransportEvents): void {
    invariant(!this.#listened, `WebSocket transport of ${this.self}: listen called twice`);
    this.#listened = true;
    if (this.#closed) return;
    this.#events = events;
    if (!this.#offline) this.#connect();
  }

  send(to: PeerId, bytes: Uint8Array): void {
    const conn = this.#current;
    if (to !== this.#server || this.#closed || conn === undefined || !conn.opened || conn.socket.readyState !== OPEN) return;
    try {
      // Copied: `ws` keeps a reference to a send queued while it compresses the previous message.
      corkForTurn(conn.socket);
      conn.socket.send(bytes.slice());
    } catch (e) {
      // Unreachable with conforming sockets (send on an open socket doesn't throw). Drop the link
      // rather than a message silently: the protocol resyncs on the next `up`.
      conn.error ??= `send failed: ${errorMessage(e)}`;
      conn.socket.close(1000);
    }
  }

  peers(): readonly PeerId[] {
    return this.#current?.opened === true && !this.#closed ? [this.#server] : [];
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = "closed";
    this.#events = undefined;
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    const conn = this.#current;
    this.#current = undefined;
    if (conn === undefined) return;
    conn.cancelStable?.();
    // Handlers stay attached (and ignore everything): `ws` emits `error` for a socket closed while
    // connecting, and an EventEmitter `error` without a listener would crash the process.
    if (conn.socket.readyState === CONNECTING || conn.socket.readyState === OPEN) conn.socket.close(1000);
  }

  status(): WebSocketClientStatus {
    const status: WebSocketClientStatus = { state: this.#state, attempts: this.#attempts };
    if (this.#lastClose !== undefined) status.lastClose = { ...this.#lastClose };
    return status;
  }

  reconnectNow(): void {
    if (this.#closed || this.#state !== "waiting") return;
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    this.#connect();
  }

  dropConnection(reason: string): void {
    const conn = this.#current;
    if (this.#closed || conn === undefined || !conn.opened || conn.ended) return;
    conn.error ??= reason;
    endSocket(conn.socket, SILENT_CLOSE, reason);
  }

  disconnect(): void {
    if (this.#closed || this.#offline) return;
    this.#offline = true;
    this.#state = "offline";
    this.#cancelRetry?.();
    this.#cancelRetry = undefined;
    const conn = this.#current;
    this.#current = undefined;
    if (conn === undefined) return;
    conn.ended = true;
    conn.cancelStable?.();
    if (conn.socket.readyState === CONNECTING || conn.socket.readyState === OPEN) conn.socket.close(1000, "offline");
    if (conn.opened) this.#events?.down(this.#server);
  }

  connect(): void {
    if (this.#closed || !this.#offline) return;
    this.#offline = false;
    this.#attempts = 0;
    if (this.#listened) this.#connect();
    else this.#state = "connecting";
  }

  #connect(): void {
    this.#state = "connecting";
    this.#attempts++;
    const Ctor = this.#Ctor;
    if (Ctor !== undefined) {
      this.#openSocket(Ctor);
      return;
    }
    loadWsPackage().then(
      (loaded) => {
        this.#Ctor = loaded;
        if (!this.#closed && !this.#offline && this.#state === "connecting" && this.#current === undefined) this.#openSocket(loaded);
      },
      (e: unknown) => {
        if (!this.#closed) this.#giveUp(`no WebSocket: globalThis.WebSocket is missing and the ws package failed to load: ${errorMessage(e)}`);
      },
    );
  }

  #openSocket(Ctor: WebSocketConstructorLike): void {
    let socket: WebSocketLike;
    try {
      socket = new Ctor(this.#o.url);
      socket.binaryType = "arraybuffer";
    } catch (e) {
      this.#giveUp(`could not create a WebSocket for ${this.#o.url}: ${errorMessage(e)}`);
      return;
    }
    const conn: Connection = { socket, opened: false, ended: false };
    this.#current = conn;
    socket.onopen = () => this.#onOpen(conn);
    socket.onmessage = (event) => this.#onMessage(conn, event.data);
    socket.onerror = (event) => {
      conn.error ??= errorMessage(event);
    };
    socket.onclose = (event) => this.#onSocketClose(conn, event.code, event.reason);
  }

  #onOpen(conn: Connection): void {
    if (conn !== this.#current || this.#closed || conn.ended) return;
    conn.opened = true;
    this.#state = "open";
    conn.cancelStable = this.#o.clock.setTimer(this.#o.resetAfterMs, () => {
      if (conn === this.#current && !conn.ended) this.#attempts = 0;
    });
    const first = this.#o.firstFrame;
    if (first !== undefined) this.send(this.#server, first);
    // Sockets are only opened after `listen`, so there is always someone to tell.
    this.#events?.up(this.#server);
  }

  #onMessage(conn: Connection, data: unknown): void {
    if (conn !== this.#current || this.#closed || conn.ended || !conn.opened) return;
    const bytes = binaryFrame(data);
    if (bytes === undefined) return;
    this.#events?.message(this.#server, bytes);
  }

  #onSocketClose(conn: Connection, code: number, reason: string): void {
    if (conn.ended) return;
    conn.ended = true;
    conn.cancelStable?.();
    if (conn !== this.#current || this.#closed) return;
    this.#current = undefined;
    const info = { code, reason: reason !== "" ? reason : (conn.error ?? "") };
    this.#lastClose = { ...info };
    let report: WebSocketCloseInfo;
    if (isRefusalCode(code)) {
      this.#state = "closed";
      report = { ...info, willRetry: false };
    } else {
      const retryInMs = this.#nextDelay();
      this.#state = "waiting";
      this.#cancelRetry = this.#o.clock.setTimer(retryInMs, () => {
        this.#cancelRetry = undefined;
        if (!this.#closed && this.#state === "waiting") this.#connect();
      });
      report = { ...info, willRetry: true, retryInMs };
    }
    if (conn.opened) this.#events?.down(this.#server);
    if (!this.#closed) this.#o.onClose?.(report);
  }

  /** The wait before the next attempt, from the attempts since the backoff last reset. */
  #nextDelay(): number {
    const { initialMs, maxMs, factor, jitter, rng } = this.#o;
    const failures = Math.max(this.#attempts, 1);
    const base = Math.min(maxMs, initialMs * factor ** (failures - 1));
    return base * (1 - jitter * rng.next());
  }

  /** No socket can be created: report it once and stop for good. */
  #giveUp(reason: string): void {
    this.#state = "closed";
    this.#lastClose = { code: ABNORMAL, reason };
    this.#o.onClose?.({ code: ABNORMAL, reason, willRetry: false });
  }
}

/** The platform's WebSocket (browsers, Node >= 22), if any. */
function platformWebSocket(): WebSocketConstructorLike | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket;
}

let wsPackage: Promise<WebSocketConstructorLike> | undefined;

/** The `ws` package's WebSocket, imported once, on first need. */
function loadWsPackage(): Promise<WebSocketConstructorLike> {
  wsPackage ??= import("ws").then((m) => m.default);
  return wsPackage;
}

/** The bytes of a binary frame (a copy the receiver owns), or undefined for text and anything else. */
function binaryFrame(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer || Object.prototype.toString.call(data) === "[object ArrayBuffer]") {
    // With binaryType "arraybuffer", both the DOM and `ws` hand over a fresh buffer per message.
    return new Uint8Array(data as ArrayBuffer);
  }
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  return undefined;
}

function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e && typeof e.message === "string" && e.message !== "") {
    return e.message;
  }
  if (typeof e === "object" && e !== null && "error" in e) return errorMessage(e.error);
  if (typeof e === "object" && e !== null && "type" in e && typeof e.type === "string") return `${e.type} event`;
  return String(e);
}

function checkOptions(options: WebSocketClientOptions): ResolvedOptions {
  const bad = (message: string, option: string): ConcordError =>
    new ConcordError("InvalidArgument", `webSocketClient: ${message}`, { option });
  if (typeof options !== "object" || options === null) throw bad("options must be an object like { url }", "options");
  const { url, token, firstFrame, self, serverPeer, clock, rng, backoff, WebSocket, onClose } = options;

  if (typeof url !== "string") throw bad(`url must be a ws:// or wss:// URL string, got ${describe(url)}`, "url");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad(`url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`, "url");
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw bad(`url must use ws:// or wss://, got ${JSON.stringify(parsed.protocol)} in ${JSON.stringify(url)}`, "url");
  }
  if (parsed.hash !== "") throw bad(`url must not have a #fragment (WebSocket URLs can't), got ${JSON.stringify(url)}`, "url");
  if (token !== undefined) {
    if (typeof token !== "string" || token === "") throw bad(`token must be a non-empty string, got ${describe(token)}`, "token");
    parsed.searchParams.set("token", token);
  }

  if (firstFrame !== undefined && !(firstFrame instanceof Uint8Array)) throw bad(`firstFrame must be a Uint8Array, got ${describe(firstFrame)}`, "firstFrame");
  const isId = (v: unknown): v is string => typeof v === "string" && v !== "";
  if (self !== undefined && !isId(self)) throw bad(`self must be a non-empty string, got ${describe(self)}`, "self");
  if (serverPeer !== undefined && !isId(serverPeer)) throw bad(`serverPeer must be a non-empty string, got ${describe(serverPeer)}`, "serverPeer");
  if (clock !== undefined && (typeof clock !== "object" || clock === null || typeof clock.now !== "function" || typeof clock.setTimer !== "function")) {
    throw bad("clock must be a Clock (now, setTimer)", "clock");
  }
  if (rng !== undefined && (typeof rng !== "object" || rng === null || typeof rng.next !== "function" || typeof rng.uint32 !== "function")) {
    throw bad("rng must be an Rng (next, uint32...)", "rng");
  }
  if (WebSocket !== undefined && typeof WebSocket !== "function") throw bad(`WebSocket must be a constructor, got ${describe(WebSocket)}`, "WebSocket");
  if (onClose !== undefined && typeof onClose !== "function") throw bad(`onClose must be a function, got ${describe(onClose)}`, "onClose");

  if (backoff !== undefined && (typeof backoff !== "object" || backoff === null)) throw bad("backoff must be an object", "backoff");
  const number = (name: keyof WebSocketBackoffOptions, fallback: number, ok: (n: number) => boolean, rule: string): number => {
    const v = backoff?.[name];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw bad(`backoff.${name} must be ${rule}, got ${describe(v)}`, `backoff.${name}`);
    return v;
  };
  const initialMs = number("initialMs", 100, (n) => n > 0, "a finite number of ms > 0");
  const maxMs = number("maxMs", Math.max(10_000, initialMs), (n) => n >= initialMs, `a finite number of ms >= backoff.initialMs (${initialMs})`);
  const factor = number("factor", 2, (n) => n >= 1, "a finite number >= 1");
  const jitter = number("jitter", 0.5, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
  const resetAfterMs = number("resetAfterMs", 5_000, (n) => n >= 0, "a finite number of ms >= 0");

  const random = rng ?? seededRng(Math.floor(Math.random() * 2 ** 32));
  const selfId = self ?? asPeerId(`client-${random.uint32().toString(16).padStart(8, "0")}`);
  const serverId = serverPeer ?? asPeerId("server");
  if (selfId === serverId) throw bad(`self and serverPeer must differ, both are ${JSON.stringify(selfId)}`, "self");

  return {
    url: parsed.toString(),
    firstFrame: firstFrame?.slice(),
    self: selfId,
    serverPeer: serverId,
    clock: clock ?? systemClock,
    rng: random,
    initialMs,
    maxMs,
    factor,
    jitter,
    resetAfterMs,
    WebSocket,
    onClose,
  };
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "function") return "a function";
  if (v === null) return "null";
  if (typeof v === "object") return Array.isArray(v) ? "an array" : "an object";
  return String(v);
}
