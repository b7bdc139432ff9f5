/**
 * One client connection to one node (the client protocol of `service/protocol.ts`): requests go
 * out with fresh ids and settle with the response of that id. The connection is any
 * {@link Transport} on which the node is a peer: the WebSocket client transport to the node's
 * `/client` endpoint (`websocket-link.ts`, which reconnects with backoff), or the simulator's
 * network. This adds request ids, timeouts and the link's up/down state.
 *
 * Contracts:
 * - Every request settles exactly once: with its answer (an `error` answer rejects with a
 *   ConcordError of its code, the node's message and `details.redirect`), with `Timeout` after
 *   `timeoutMs`, with `Unavailable` when the link is down when it is made or goes down before the
 *   answer, or with `Closed` after {@link NodeLink.close}.
 * - A write's failure says what became of it in `details.outcome`: `"not-applied"` (never sent),
 *   `"refused"` (the node answered with a code it only gives before ordering a write, see
 *   {@link refusedBeforeOrdering}), or `"unknown"` (sent and unanswered, or answered with a code
 *   a node also gives a write it had ordered: `Fenced`, `Io`, `Closed`...).
 * - Frames are handled one at a time, in the order they arrive: a request's `onAnswer` and every
 *   push (`onChanges`) run synchronously as their frame is read, so a caller can tell which pushes
 *   came before an answer and which after (a promise's continuation runs too late for that).
 * - A request made while the link's FIRST connection is still being opened waits for it (within
 *   its timeout); once a connection has failed, requests made while it is down reject at once.
 * - Every connection opens with a `hello` (sent before anything else on it); its answer names the
 *   node and the position its state was at ({@link NodeLink.welcome}, `onWelcome`).
 * - Pushed `changes` go to `onChanges`; `onUp` runs each time a connection opens, after the
 *   `hello` and BEFORE the requests queued for it are sent.
 */
import type { CancelTimer, Clock } from "../clock.js";
import { ConcordError, type ErrorCode } from "../errors.js";
import type { PeerId } from "../ids.js";
import type { Transport } from "../net/transport.js";
import type { Request, Response, WirePosition } from "../service/protocol.js";
import { decodeResponse, DEFAULT_MAX_REQUEST_BYTES, encodeRequest } from "../service/protocol-codec.js";

/** A response that answers a request and is not a refusal. */
export type Answer = Exclude<Response, { readonly type: "changes" | "error" }>;
/** A request before the link gives it its id. */
export type LinkRequest = Request extends infer R ? (R extends Request ? Omit<R, "id"> : never) : never;
/** A push of a subscription. */
export type Changes = Extract<Response, { readonly type: "changes" }>;
/** What a node says of itself when a connection opens. */
export interface Welcome {
  readonly node: string;
  readonly position: WirePosition;
}

/** How long a connection's `hello` may take, in ms: its answer is not awaited by anything but {@link NodeLink.whenWelcomed}. */
const HELLO_TIMEOUT_MS = 10_000;

/** Options of a {@link NodeLink}. */
export interface NodeLinkOptions {
  /** The node's name for people and for the group: its base URL, ws://host:port. */
  readonly url: string;
  /**
   * The connection: frames to and from `node`, which the transport says `up` while it is
   * connected. Owned by the link from now on (closed by `close`). Handlers are installed at once.
   */
  readonly transport: Transport;
  /** The node's peer id on `transport`. */
  readonly node: PeerId;
  /** Times request timeouts. */
  readonly clock: Clock;
  /** Hears every push. MUST NOT throw. */
  readonly onChanges: (c: Changes) => void;
  /** Hears the answer to each connection's `hello`, as its frame is read. MUST NOT throw. */
  readonly onWelcome?: (w: Welcome) => void;
  /** Runs when a connection opens, before queued requests go out. MUST NOT throw. */
  readonly onUp: () => void;
}

interface Pending {
  readonly type: LinkRequest["type"];
  /** Runs as the answer frame is read, before the next frame. MUST NOT throw. */
  readonly resolve: (r: Answer) => void;
  readonly reject: (e: ConcordError) => void;
  readonly cancelTimer: CancelTimer;
  /** Sent on a socket (false while queued for the first connection). */
  sent: boolean;
}

/**
 * The link's state: `connecting` until the first connection opens or fails; `open`; `down` (a
 * connection failed, reconnecting with backoff); `closed` for good.
 */
export type LinkState = "connecting" | "open" | "down" | "closed";

/** A self-reconnecting request/response connection to one node (see the module comment). Owns its socket. */
export class NodeLink {
  readonly url: string;
  readonly #o: NodeLinkOptions;
  readonly #transport: Transport;
  readonly #pending = new Map<number, Pending>();
  /** Requests waiting for the first connection, in order. */
  readonly #queued: { id: number; bytes: Uint8Array }[] = [];
  #lastId = 0;
  #state: LinkState = "connecting";
  #lastError = "";
  readonly #openWaiters: { resolve: () => void; reject: (e: ConcordError) => void }[] = [];
  /** Settled by the next welcome, or by anything that ends the wait for it (see whenWelcomed). */
  #welcomeWaiters: (() => void)[] = [];
  #welcome: Welcome | undefined;
  /** The node refused this client (4401, 4403): requests fail with `Unauthorized`, not `Unavailable`. */
  #refusedWith: "Unauthorized" | null = null;
  /** The open connection's `hello` was answered. */
  #welcomedNow = false;
  /** Until when the link counts as silent (see {@link silent}); 0: it does not. */
  #silentUntil = 0;

  constructor(o: NodeLinkOptions) {
    this.url = o.url;
    this.#o = o;
    this.#transport = o.transport;
    this.#transport.listen({
      up: (peer) => {
        if (peer === o.node) this.#up();
      },
      down: (peer) => {
        if (peer === o.node) this.#down();
      },
      message: (from: PeerId, bytes: Uint8Array) => {
        if (from === o.node) this.#message(bytes);
      },
    });
  }

  get state(): LinkState {
    return this.#state;
  }

  /**
   * A request sent on the open connection got no answer within its timeout and nothing came over
   * the connection since (a paused or cut-off node, whose connection looks open): for as long as that
   * timeout again, after which the link is worth a new try.
   */
  get silent(): boolean {
    return this.#silentUntil > this.#o.clock.now();
  }

  /** What the node said when the newest connection opened; undefined before its first welcome. */
  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /**
   * Resolves once a connection's `hello` is answered, or the link fails to connect, closes, or
   * `timeoutMs` pass: never rejects (a store opening waits for its nodes this way, and goes on
   * without them).
   */
  whenWelcomed(timeoutMs: number): Promise<void> {
    if (this.#state === "closed" || this.#state === "down" || this.#welcomedNow) return Promise.resolve();
    return new Promise((resolve) => {
      let cancel: CancelTimer = () => undefined;
      const done = (): void => {
        cancel();
        resolve();
      };
      cancel = this.#o.clock.setTimer(timeoutMs, done);
      this.#welcomeWaiters.push(done);
    });
  }

  /** Requests awaiting their answer. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends `req` and resolves with its answer (never an `error`: that rejects). `timeoutMs` bounds
   * the wait on the client side, whatever the node does. `onAnswer`, when given, hears the answer
   * synchronously as its frame is read: BEFORE the link handles any later frame (a push included).
   * It MUST NOT throw.
   */
  request(req: LinkRequest, timeoutMs: number, onAnswer?: (r: Answer) => void): Promise<Answer> {
    if (this.#state === "closed") return Promise.reject(new ConcordError("Closed", `the connection to ${this.url} is closed`));
    if (this.#state === "down") return Promise.reject(this.#unavailable(req.type, false));
    const id = ++this.#lastId;
    const bytes = encodeRequest({ ...req, id } as Request);
    if (bytes.length > DEFAULT_MAX_REQUEST_BYTES) {
      return Promise.reject(
        new ConcordError(
          "TooLarge",
          `${req.type} to ${this.url}: the request takes ${bytes.length} bytes, over the ${DEFAULT_MAX_REQUEST_BYTES} a node reads in one request; nothing was sent${req.type === "write" ? " (the write was not applied)" : ""}`,
          { node: this.url, bytes: bytes.length, limit: DEFAULT_MAX_REQUEST_BYTES, ...(req.type === "write" ? { outcome: "not-applied" } : {}) },
        ),
      );
    }
    return new Promise<Answer>((resolve, reject) => {
      const cancelTimer = this.#o.clock.setTimer(timeoutMs, () => {
        const p = this.#pending.get(id);
        if (p === undefined) return;
        this.#settle(id);
        if (p.sent && this.#state === "open") this.#silentUntil = this.#o.clock.now() + timeoutMs;
        const what = p.sent ? "no answer" : "no connection";
        reject(
          new ConcordError("Timeout", `${req.type} to ${this.url}: ${what} within ${timeoutMs} ms${fateOf(req.type, p.sent)}`, {
            node: this.url,
            timeoutMs,
            ...(req.type === "write" ? { outcome: p.sent ? "unknown" : "not-applied" } : {}),
          }),
        );
      });
      const answered =
        onAnswer === undefined
          ? resolve
          : (r: Answer): void => {
              onAnswer(r);
              resolve(r);
            };
      const p: Pending = { type: req.type, resolve: answered, reject, cancelTimer, sent: false };
      this.#pending.set(id, p);
      if (this.#state === "open") this.#send(p, bytes);
      else this.#queued.push({ id, bytes });
    });
  }

  /** Stops the link: pending requests reject with `Closed` (a write's fate is then unknown). Idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#transport.close();
    this.#queued.length = 0;
    for (const waiter of this.#openWaiters.splice(0)) waiter.reject(new ConcordError("Closed", `the connection to ${this.url} was closed`));
    this.#wakeWelcomeWaiters();
    for (const [id, p] of [...this.#pending]) {
      this.#settle(id);
      p.reject(new ConcordError("Closed", `the store was closed before ${this.url} answered this ${p.type}${fateOf(p.type, p.sent)}`, writeOutcome(p)));
    }
  }

  /**
   * An attempt to connect ended (`reason`: what the transport knows, such as a close code): the
   * link is `down`, and requests waiting for the first connection fail with `Unavailable` naming
   * it. A transport that cannot tell leaves them waiting until their timeout.
   */
  connectionFailed(reason: string, code?: number): void {
    this.#lastError = reason;
    this.#refusedWith = code === 4401 || code === 4403 ? "Unauthorized" : null;
    if (this.#state !== "closed") this.#state = "down";
    this.#failQueued();
    this.#wakeWelcomeWaiters();
  }

  #wakeWelcomeWaiters(): void {
    const waiters = this.#welcomeWaiters;
    this.#welcomeWaiters = [];
    for (const w of waiters) w();
  }

  #send(p: Pending, bytes: Uint8Array): void {
    p.sent = true;
    this.#transport.send(this.#o.node, bytes);
  }

  #up(): void {
    if (this.#state === "closed") return;
    this.#state = "open";
    this.#silentUntil = 0;
    this.#refusedWith = null;
    // First on the connection: who the node is and where its state is.
    this.request({ type: "hello" }, HELLO_TIMEOUT_MS, (a) => {
      if (a.type !== "welcome") return;
      this.#welcome = { node: a.node, position: a.position };
      this.#welcomedNow = this.#state === "open";
      this.#o.onWelcome?.(this.#welcome);
      this.#wakeWelcomeWaiters();
    }).catch(() => undefined);
    // Before the queued requests: a subscription made before a write is in place when it lands.
    this.#o.onUp();
    for (const { id, bytes } of this.#queued.splice(0)) {
      const p = this.#pending.get(id);
      if (p !== undefined) this.#send(p, bytes);
    }
    for (const waiter of this.#openWaiters.splice(0)) waiter.resolve();
  }

  /** Resolves once a connection is open (now, or later); rejects with `Closed` if the link closes first. */
  whenOpen(): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    if (this.#state === "closed") return Promise.reject(new ConcordError("Closed", `the connection to ${this.url} is closed`));
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
  }

  #down(): void {
    if (this.#state === "closed") return;
    this.#state = "down";
    this.#welcomedNow = false;
    for (const [id, p] of [...this.#pending]) {
      if (!p.sent) continue;
      this.#settle(id);
      p.reject(this.#unavailable(p.type, true));
    }
  }

  /** The first connection failed: what waited for it fails too. */
  #failQueued(): void {
    for (const { id } of this.#queued.splice(0)) {
      const p = this.#pending.get(id);
      if (p === undefined) continue;
      this.#settle(id);
      p.reject(this.#unavailable(p.type, false));
    }
  }

  #message(bytes: Uint8Array): void {
    this.#silentUntil = 0;
    let r: Response;
    try {
      r = decodeResponse(bytes);
    } catch {
      return; // A frame of a newer release or garbage: its request times out.
    }
    if (r.type === "changes") {
      this.#o.onChanges(r);
      return;
    }
    const p = this.#pending.get(r.id);
    if (p === undefined) return; // timed out already, or id 0 (a frame the node could not decode)
    this.#settle(r.id);
    if (r.type === "error") {
      const refused = refusedBeforeOrdering(r.code);
      const where = r.redirect === null ? "" : ` (writes go to ${r.redirect})`;
      const fate = p.type === "write" && !refused ? fateOf(p.type, true) : "";
      p.reject(
        new ConcordError(r.code, `${r.message}${where}${fate}`, {
          node: this.url,
          redirect: r.redirect,
          ...(p.type === "write" ? { outcome: refused ? "refused" : "unknown" } : {}),
        }),
      );
    } else {
      p.resolve(r);
    }
  }

  #settle(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    p.cancelTimer();
    this.#pending.delete(id);
  }

  #unavailable(type: LinkRequest["type"], sent: boolean): ConcordError {
    const why = this.#lastError === "" ? "" : ` (last close: ${this.#lastError})`;
    if (this.#refusedWith !== null) {
      return new ConcordError(this.#refusedWith, `${type} to ${this.url}: the node refused this client${why}: check its token${fateOf(type, false)}`, {
        node: this.url,
        ...(type === "write" ? { outcome: "not-applied" } : {}),
      });
    }
    const what = sent ? "the connection dropped before it answered" : "it is not connected; reconnecting in the background";
    return new ConcordError("Unavailable", `${type} to ${this.url}: ${what}${why}${fateOf(type, sent)}`, {
      node: this.url,
      ...(type === "write" ? { outcome: sent ? "unknown" : "not-applied" } : {}),
    });
  }
}

/**
 * Codes a node answers a write with only before it orders it (gives it a log position): such a
 * write was not applied anywhere. Any other code (`Fenced`: the primary was fenced while the write waited for
 * its replicas, which may hold it; `Io`, `Closed`, `Corrupt`: the node failed or closed after
 * ordering it) leaves the write's fate unknown. A code added later counts as unknown until it is
 * listed here.
 */
function refusedBeforeOrdering(code: ErrorCode): boolean {
  return REFUSED_BEFORE_ORDERING.has(code);
}

const REFUSED_BEFORE_ORDERING: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "ReadOnlyReplica",
  "NotLeader",
  "Unavailable",
  "InvalidArgument",
  "InvalidValue",
  "TooLarge",
  "Protocol",
  "Unauthorized",
]);

/** What a failed request's message must say about a write's fate. */
function fateOf(type: LinkRequest["type"], sent: boolean): string {
  if (type !== "write") return "";
  return sent
    ? "; the write may or may not have been applied: read it back before retrying"
    : "; the write was not sent, so it was not applied";
}

function writeOutcome(p: Pending): Record<string, unknown> {
  return p.type === "write" ? { outcome: p.sent ? "unknown" : "not-applied" } : {};
}
