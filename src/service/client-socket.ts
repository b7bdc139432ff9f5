/**
 * One client WebSocket of a node server (`node-server.ts`) and the {@link ClientSession} it
 * carries: every frame in goes to `session.handleBytes`, every response out is encoded and sent as
 * one binary frame, and the session ends when the socket closes.
 */
import { WebSocket, type RawData } from "ws";
import type { CancelTimer, Clock } from "../clock.js";
import { wouldOverflow } from "../net/http-endpoint.js";
import type { ServerLog } from "../ops/log.js";
import type { TokenGrant } from "../ops/auth.js";
import type { ChangeFeed } from "./change-feed.js";
import type { ServedEngine } from "./engine.js";
import type { RequestCounts } from "./node-metrics.js";
import { ClientSession } from "./node-service.js";
import { encodeResponse } from "./protocol-codec.js";
import { corkForTurn } from "../net/cork.js";

/** Close code for a client that reads slower than it is answered ("try again later"). */
export const TRY_AGAIN_LATER = 1013;

export interface ClientSocketOptions {
  /** Names the connection in logs (`conn`). */
  readonly conn: string;
  /** Longest request frame the session decodes (a longer one is answered `TooLarge`). */
  readonly maxRequestBytes: number;
  /** Unsent bytes past which the socket is closed with {@link TRY_AGAIN_LATER}. */
  readonly maxBufferedBytes: number;
  readonly log: ServerLog;
  /** Where the session counts the reads and writes it answers. */
  readonly requests: RequestCounts;
  /** Runs once, when the socket closed (after the session did). */
  readonly onGone: () => void;
  /** The engine's changes, shared by the server's sessions. */
  readonly feed: ChangeFeed;
  /** The token the client presented, if any (the server re-checks it when its auth file is reloaded). */
  readonly token?: string;
  /** What that token allows; absent: everything. */
  readonly grant?: TokenGrant;
}

/** A client socket serving the client protocol for `engine`. Owns the socket and its session, not the engine. */
export class ClientSocket {
  readonly #ws: WebSocket;
  readonly #o: ClientSocketOptions;
  readonly #session: ClientSession;
  readonly #closedWaiters: (() => void)[] = [];
  #closed = false;

  constructor(ws: WebSocket, engine: ServedEngine, o: ClientSocketOptions) {
    this.#ws = ws;
    this.#o = o;
    this.#session = new ClientSession(engine, (r) => this.#send(encodeResponse(r)), {
      maxBytes: o.maxRequestBytes,
      requests: o.requests,
      feed: o.feed,
      ...(o.grant === undefined ? {} : { grant: o.grant }),
      log: (event, fields) => logSession(o.log, event, { conn: o.conn, ...fields }),
    });
    ws.on("message", (data: RawData) => this.#session.handleBytes(toBytes(data)));
    ws.on("close", (code: number, reason: Buffer) => this.#gone(code, reason.toString("utf8")));
    // `ws` closes the socket itself after an error (a bad frame, an oversized message).
    ws.on("error", (error: Error) => o.log.debug("client.socket_error", { conn: o.conn, error }));
  }

  /** The token the client presented, if any. */
  get token(): string | undefined {
    return this.#o.token;
  }

  /** What the client's token allows (undefined: everything). */
  get grant(): TokenGrant | undefined {
    return this.#o.grant;
  }

  /**
   * Ends the session (pending answers are dropped) and starts the close handshake with `code`.
   * Resolves once the socket closed, terminating it if the client has not answered within `ms`.
   */
  close(code: number, reason: string, ms: number, clock: Clock): Promise<void> {
    this.#session.close();
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) this.#ws.close(code, reason);
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel: CancelTimer = clock.setTimer(ms, () => {
        this.#o.log.warn("client.close_timeout", { conn: this.#o.conn, ms });
        this.#ws.terminate();
      });
      this.#closedWaiters.push(() => {
        cancel();
        resolve();
      });
    });
  }

  /** Sends one encoded response; a socket already closing drops it (the session ends with it). */
  #send(bytes: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (wouldOverflow(this.#ws, bytes.byteLength, this.#o.maxBufferedBytes)) {
      this.#o.log.warn("client.slow_consumer", { conn: this.#o.conn, bufferedBytes: this.#ws.bufferedAmount, maxBufferedBytes: this.#o.maxBufferedBytes });
      this.#session.close();
      this.#ws.close(TRY_AGAIN_LATER, `too slow: more than ${this.#o.maxBufferedBytes} bytes waiting to be sent; reconnect`);
      return;
    }
    corkForTurn(this.#ws);
    this.#ws.send(bytes, { binary: true });
  }

  #gone(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session.close();
    this.#o.log.debug("client.close", { conn: this.#o.conn, code, reason });
    this.#o.onGone();
    for (const waiter of this.#closedWaiters.splice(0)) waiter();
  }
}

/** Session events at the level an operator needs them. */
function logSession(log: ServerLog, event: string, fields: Record<string, unknown>): void {
  if (event === "session.bug") log.error(event, fields);
  else if (event === "session.bad_request") log.warn(event, fields);
  else log.debug(event, fields);
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
