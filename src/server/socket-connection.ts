/**
 * One client WebSocket of the sync server: what a room sees of it (a `ClientConnection`: send a
 * frame, be refused, be closed), and the socket's events (frames buffered until the room is ready,
 * closes awaited at shutdown). What waits to be sent to it counts against its own cap and the
 * server's (`buffer-budget.ts`); past either, it is cut at once, its buffers released (a polite
 * close would wait behind those very bytes for a client that does not read).
 */
import { WebSocket, type RawData } from "ws";
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import type { PeerId } from "../ids.js";
import { encodeMessage } from "../eventual/sync/protocol.js";
import { wouldOverflow } from "../net/http-endpoint.js";
import type { ServerLog } from "../ops/log.js";
import type { BufferBudget, BufferedConnection, Held } from "./buffer-budget.js";
import type { ServerMetrics, RejectReason } from "./metrics.js";
import { CloseCode, type ClientConnection, type RoomMember } from "./rooms.js";
import { corkForTurn } from "../net/cork.js";

/** One client WebSocket: what a room sees of it ({@link ClientConnection}), and its socket events. */
export class SocketConnection implements ClientConnection, BufferedConnection {
  #member: RoomMember | undefined;
  /** Frames that arrived before the room was ready, in order. */
  #pending: Uint8Array[] = [];
  /** Frames are dropped (the connection was refused or closed for a reason other than shutdown). */
  #dropping = false;
  #closeStarted = false;
  /** Takes the next binary frame instead of the room (admission reading a token). */
  #firstFrameTaker: ((bytes: Uint8Array) => void) | undefined;
  #closed = false;
  /** This connection in the server's buffer budget. */
  readonly #held: Held;
  /** Counted against `maxConnections` (set by the server once it let the connection into a room). */
  admitted = false;
  readonly #closedWaiters: Array<() => void> = [];

  constructor(
    private readonly ws: WebSocket,
    readonly peer: PeerId,
    private readonly doc: string | undefined,
    private readonly log: ServerLog,
    private readonly metrics: ServerMetrics,
    /** Unsent bytes past which the connection is cut as too slow (see {@link send}). */
    private readonly maxBufferedBytes: number,
    /** The server-wide cap on unsent bytes. */
    private readonly budget: BufferBudget,
    private readonly onGone: () => void,
  ) {
    this.#held = budget.track(this);
  }

  /**
   * Queues `bytes` on the socket. A client that reads slower than its room writes would make the
   * server buffer without bound: once the bytes waiting for it would pass `maxBufferedBytes`, it is
   * cut instead (it reconnects and resyncs by state vector, so it loses nothing); and the server's
   * budget may cut the biggest holders when the sum over every connection passes its cap.
   */
  send(bytes: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (wouldOverflow(this.ws, bytes.byteLength, this.maxBufferedBytes)) {
      this.metrics.slowConsumer();
      this.log.warn("conn.slow_consumer", { doc: this.doc, conn: this.peer, bufferedBytes: this.ws.bufferedAmount, maxBufferedBytes: this.maxBufferedBytes });
      this.drop(`too slow: more than ${this.maxBufferedBytes} bytes waiting to be sent`);
      return;
    }
    try {
      corkForTurn(this.ws);
      this.ws.send(bytes, { binary: true });
    } catch (error) {
      this.log.warn("conn.send_failed", { doc: this.doc, conn: this.peer, error });
    }
    this.budget.update(this.#held);
  }

  /** Bytes waiting to be sent to this client now. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /** Cuts the connection at once, releasing what waited for it; `why` goes to the log. */
  drop(why: string): void {
    if (this.#closed) return;
    this.log.warn("conn.dropped", { doc: this.doc, conn: this.peer, reason: why, bufferedBytes: this.ws.bufferedAmount });
    this.#dropping = true;
    this.#pending = [];
    this.budget.remove(this.#held);
    this.ws.terminate();
  }

  /** True once a close started (by either side). */
  get isClosing(): boolean {
    return this.#closeStarted || this.#closed;
  }

  /** The next binary frame goes to `take` (never to the room); later ones queue as usual. */
  takeFirstFrame(take: (bytes: Uint8Array) => void): void {
    this.#firstFrameTaker = take;
  }

  /** Gives back a frame `takeFirstFrame` took: it goes to the room first, before later frames. */
  putBack(bytes: Uint8Array): void {
    if (this.#dropping || this.#closed) return;
    if (this.#member) this.#member.receive(bytes);
    else this.#pending.unshift(bytes);
  }

  /** Runs `fn` once the socket closed (at once if it has). */
  onClosed(fn: () => void): void {
    if (this.#closed) fn();
    else this.#closedWaiters.push(fn);
  }

  /** The room is opening: stop reading (TCP pushes back) until it is. */
  pauseUntilJoined(): void {
    if (!this.#closeStarted) this.ws.pause();
  }

  joined(member: RoomMember): void {
    if (this.#closed || this.#dropping) {
      member.leave();
      return;
    }
    this.#member = member;
    const pending = this.#pending;
    this.#pending = [];
    for (const bytes of pending) {
      if (this.#dropping) break;
      member.receive(bytes);
    }
    this.ws.resume();
  }

  onMessage(data: RawData, isBinary: boolean): void {
    const bytes = toBytes(data);
    this.metrics.received(bytes.byteLength);
    if (this.#dropping || this.#closed) return;
    if (!isBinary) {
      this.refuse("text_frame", new ConcordError("Protocol", "text frames are not part of the y-websocket protocol; send binary frames"));
      return;
    }
    const taker = this.#firstFrameTaker;
    if (taker !== undefined) {
      this.#firstFrameTaker = undefined;
      taker(bytes);
    } else if (this.#member) this.#member.receive(bytes);
    else this.#pending.push(bytes);
  }

  refuse(reason: RejectReason, error: unknown): void {
    if (this.#dropping || this.#closed) return;
    this.metrics.rejectedMessage(reason);
    const message = error instanceof Error ? error.message : String(error);
    this.log.warn("message.rejected", { doc: this.doc, conn: this.peer, reason, error });
    if (reason === "doc_too_large") this.close(CloseCode.documentTooLarge, `document too large: ${message}`);
    else this.close(CloseCode.protocolError, `${reason === "too_large" ? "message too large" : "protocol error"}: ${message}`);
    // Called from inside the store's delivery: leave the room once that returned.
    queueMicrotask(() => this.#member?.leave());
  }

  denyWrite(reason: string): void {
    if (this.#dropping || this.#closed) return;
    this.metrics.rejectedMessage("read_only");
    this.log.warn("message.rejected", { doc: this.doc, conn: this.peer, reason: "read_only" });
    const denied = encodeMessage({ type: "auth-denied", reason });
    this.send(denied);
    this.metrics.sent(denied.byteLength);
  }

  close(code: number, reason: string): void {
    if (code !== CloseCode.goingAway) {
      this.#dropping = true;
      this.#pending = [];
    }
    if (this.#closeStarted || this.#closed) return;
    this.#closeStarted = true;
    try {
      this.ws.resume(); // the close handshake needs the client's answer read
      this.ws.close(code, closeReason(reason));
    } catch (error) {
      this.log.warn("conn.close_failed", { doc: this.doc, conn: this.peer, error });
      this.ws.terminate();
    }
  }

  /** Cuts the socket without a handshake. */
  terminate(): void {
    if (!this.#closed) this.ws.terminate();
  }

  /** Resolves once the socket closed; cuts it after `ms` if the client did not answer the close. */
  closedWithin(ms: number, clock: Clock): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      let cancel: CancelTimer | undefined = clock.setTimer(ms, () => {
        cancel = undefined;
        this.log.warn("conn.close_timeout", { doc: this.doc, conn: this.peer, ms });
        this.terminate();
      });
      this.#closedWaiters.push(() => {
        cancel?.();
        resolve();
      });
    });
  }

  onClose(code: number, reason: Buffer): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = [];
    this.budget.remove(this.#held);
    this.#member?.leave();
    this.onGone();
    this.log.info("conn.close", { doc: this.doc, conn: this.peer, code, reason: reason.toString("utf8") });
    for (const waiter of this.#closedWaiters.splice(0)) waiter();
  }

  /** `ws` reports a broken frame or an oversized message; it closes the connection itself. */
  onError(error: Error): void {
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("WS_ERR_")) {
      const reason: RejectReason = code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "too_large" : "frame";
      this.metrics.rejectedMessage(reason);
      this.#dropping = true;
      this.log.warn("message.rejected", { doc: this.doc, conn: this.peer, reason, error });
      return;
    }
    this.log.warn("conn.error", { doc: this.doc, conn: this.peer, error });
  }
}

/** The frame's bytes as a plain `Uint8Array` view (no copy). */
function toBytes(data: RawData): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    const joined = Buffer.concat(data);
    return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A close reason fits 123 bytes of UTF-8 (RFC 6455); longer ones are cut at a character boundary. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 120);
  while (Buffer.byteLength(`${cut}...`) > 123) cut = cut.slice(0, -1);
  // Never end on half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}...`;
}
