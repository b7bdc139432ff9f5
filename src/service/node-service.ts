/**
 * The server side of the client protocol (`protocol.ts`) for any replication engine (the
 * {@link ServedEngine} port of `engine.ts`), independent of any transport: one {@link ClientSession} per client
 * connection turns each {@link Request} into exactly one {@link Response} and pushes `changes` for
 * the connection's subscriptions. A transport feeds it requests (`handle`) or frames
 * (`handleBytes`) and carries what it hands to `send`.
 *
 * Ordering: a read the engine may serve at once, `subscribe`, `unsubscribe`, `status`, `hello` and
 * every refusal the session decides itself are answered before `handle` returns; a write (even one
 * the node refuses), `open-session`, `admin` and a read the engine must prepare (waiting for
 * `after`, a ReadIndex round) are answered later, so answers may arrive in another order than their
 * requests (clients match them by `id`). A subscription's `subscribed` answer comes before any of
 * its `changes`: first those after its `from` position up to the answer's (when `replayed`), then
 * every later one.
 *
 * Reads and pushes agree: the engine pushes a change through `send` while it applies it, before it
 * serves anything else, and a read is served from the state as it is when answered. So a read's
 * answer holds exactly the changes this session's subscriptions were pushed before it, and none
 * pushed after (the client catches a subscription up on that: `subscribe`, then `entries` of its
 * prefix, and the pushes between the two answers are in the snapshot).
 */
import { ConcordError, InvariantError, assertNever, isConcordError, type ErrorCode } from "../errors.js";
import type { Json } from "../json.js";
import type { Change } from "../store.js";
import { ChangeFeed } from "./change-feed.js";
import type { EngineChange, ServedEngine } from "./engine.js";
import { docMatches, type TokenGrant } from "../ops/auth.js";
import type { CountedRequest, RequestCounts } from "./node-metrics.js";
import type { AdminAction, Request, Response } from "./protocol.js";
import { DEFAULT_MAX_REQUEST_BYTES, PROTOCOL_CODEC_VERSION, decodeRequest } from "./protocol-codec.js";

/** Subscriptions one session may hold at once, by default. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 64;
export { DEFAULT_MAX_REQUEST_BYTES };

export interface ClientSessionOptions {
  /** Subscriptions held at once; one more is refused with `TooLarge`. Default {@link DEFAULT_MAX_SUBSCRIPTIONS}. */
  readonly maxSubscriptions?: number;
  /** Longest frame `handleBytes` decodes; a longer one is answered `TooLarge`. Default {@link DEFAULT_MAX_REQUEST_BYTES}. */
  readonly maxBytes?: number;
  /**
   * Structured events: `session.bad_request` (a frame that did not decode), `session.bug` (an
   * unexpected exception, answered `Internal`), `session.send_failed` (`send` threw). MAY throw:
   * a throwing sink is ignored.
   */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
  /** Counts every read and write answered, by outcome (`/metrics`). Shared by the sessions of a server. */
  readonly requests?: RequestCounts;
  /**
   * The engine's changes with their recent history (subscriptions from a past position), shared by
   * the sessions of a server. Default: one of the session's own, started with it.
   */
  readonly feed?: ChangeFeed;
  /**
   * What this connection's token allows (`ops/auth.ts`): the documents it may read, and write when
   * its access is `read-write` or `admin`; `admin` requests only with `admin`. Anything else is
   * refused with `Unauthorized`. Default: everything (a node without authentication trusts its
   * network).
   */
  readonly grant?: TokenGrant;
}

type Read = Extract<Request, { readonly type: "get" | "entries" }>;
type Write = Extract<Request, { readonly type: "write" }>;
type Subscribe = Extract<Request, { readonly type: "subscribe" }>;

/**
 * One client connection to a node. Owns its subscriptions (dropped by {@link close}); does not own
 * the engine. Never throws from `handle`/`handleBytes`: every failure becomes an `error` answer.
 */
export class ClientSession {
  readonly #engine: ServedEngine;
  readonly #send: (r: Response) => void;
  readonly #maxSubscriptions: number;
  readonly #maxBytes: number;
  readonly #log: ClientSessionOptions["log"];
  readonly #requests: RequestCounts | undefined;
  readonly #feed: ChangeFeed;
  /** The feed is the session's own (closed with it). */
  readonly #ownFeed: boolean;
  readonly #grant: TokenGrant | undefined;
  /** Each subscription's id and the function that removes its node listener. */
  readonly #subscriptions = new Map<number, () => void>();
  #lastSubscription = 0;
  #closed = false;

  /**
   * `send` carries one response to the client. It MAY throw (a closed connection): the session
   * logs it and, for an answer, tries an `error` answer in its place.
   */
  constructor(engine: ServedEngine, send: (r: Response) => void, options: ClientSessionOptions = {}) {
    this.#engine = engine;
    this.#send = send;
    this.#maxSubscriptions = limit(options.maxSubscriptions, DEFAULT_MAX_SUBSCRIPTIONS, "maxSubscriptions");
    this.#maxBytes = limit(options.maxBytes, DEFAULT_MAX_REQUEST_BYTES, "maxBytes");
    this.#log = options.log;
    this.#requests = options.requests;
    this.#ownFeed = options.feed === undefined;
    this.#feed = options.feed ?? new ChangeFeed(engine, 0);
    this.#grant = options.grant;
  }

  /** Subscriptions this session holds. */
  get subscriptions(): number {
    return this.#subscriptions.size;
  }

  /**
   * Serves `req`: answers it exactly once through `send`, now or later (see the module comment).
   * Ignored after {@link close}.
   */
  handle(req: Request): void {
    if (this.#closed) return;
    try {
      this.#dispatch(req);
    } catch (e) {
      this.#refuse(req.id, e, counted(req.type));
    }
  }

  /**
   * Decodes one request frame and serves it. A frame that does not decode (`Protocol`) or is over
   * `maxBytes` (`TooLarge`) is answered with an `error` of id 0 and the decoder's message; the
   * session keeps serving. Ignored after {@link close}.
   */
  handleBytes(bytes: Uint8Array): void {
    if (this.#closed) return;
    let req: Request;
    try {
      req = decodeRequest(bytes, { maxBytes: this.#maxBytes });
    } catch (e) {
      if (isConcordError(e, "Protocol") || isConcordError(e, "TooLarge")) {
        this.#emit("session.bad_request", { code: e.code, error: e.message, bytes: bytes.byteLength });
        this.#answer({ type: "error", id: 0, code: e.code, message: versionHint(bytes, e.message), redirect: null });
      } else {
        this.#refuse(0, e);
      }
      return;
    }
    this.handle(req);
  }

  /**
   * Ends the session: drops every subscription; answers still pending (writes, waiting reads) are
   * not sent. Writes already handed to the engine go on: closing does not cancel them. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#subscriptions.values()) unsubscribe();
    this.#subscriptions.clear();
    if (this.#ownFeed) this.#feed.close();
  }

  #dispatch(req: Request): void {
    this.#checkAccess(req);
    switch (req.type) {
      case "get":
      case "entries":
        return this.#read(req);
      case "write":
        return this.#write(req);
      case "subscribe":
        return this.#subscribe(req);
      case "unsubscribe":
        return this.#unsubscribe(req.id, req.subscription);
      case "status":
        this.#answer({ type: "status", id: req.id, status: statusJson(this.#engine.status()) ?? null });
        return;
      case "hello":
        this.#answer({ type: "welcome", id: req.id, node: this.#engine.id, position: this.#engine.freshness().position });
        return;
      case "open-session":
        this.#engine.openSession().then(
          (session) => this.#answer({ type: "session-opened", id: req.id, session }),
          (e: unknown) => this.#refuse(req.id, e),
        );
        return;
      case "admin":
        return this.#runAdmin(req.id, req.action);
      default:
        assertNever(req, "client request");
    }
  }

  #read(req: Read): void {
    const ready = this.#engine.readable(req.read);
    if (ready === undefined) this.#serveRead(req);
    else ready.then(() => this.#serveRead(req), (e: unknown) => this.#refuse(req.id, e, "read"));
  }

  /** Answers `req` from the engine's state as it is now. */
  #serveRead(req: Read): void {
    try {
      const info = this.#engine.freshness();
      const view = this.#engine.view(req.doc);
      if (req.type === "get") this.#answer({ type: "value", id: req.id, value: view.get(req.key), info });
      else this.#answer({ type: "entries", id: req.id, entries: view.entries(req.prefix), info });
      this.#requests?.served("read");
    } catch (e) {
      this.#refuse(req.id, e, "read");
    }
  }

  #write(req: Write): void {
    const { id, doc, conditions, ops, durability, session } = req;
    // engine.write may throw synchronously (an op it refuses) as well as reject: both end in #refuse.
    this.#engine.write({ doc, conditions, ops, durability, session }).then(
      (receipt) => {
        this.#requests?.served("write");
        this.#answer({ type: "written", id, position: receipt.position, replicas: receipt.replicas, succeeded: receipt.succeeded });
      },
      (e: unknown) => this.#refuse(id, e, "write"),
    );
  }

  /** Refuses (throws `Unauthorized`) what this connection's grant does not allow. */
  #checkAccess(req: Request): void {
    const grant = this.#grant;
    if (grant === undefined) return;
    const refuse = (what: string): never => {
      throw new ConcordError("Unauthorized", `this connection's token may not ${what}`, { request: req.type });
    };
    switch (req.type) {
      case "get":
      case "entries":
      case "subscribe":
      case "write":
        if (!grant.docs.some((pattern) => docMatches(pattern, req.doc))) refuse(`open ${JSON.stringify(req.doc)}`);
        if (req.type === "write" && grant.access === "read-only") refuse(`write: it is read-only (the write was not applied)`);
        return;
      case "open-session":
        if (grant.access === "read-only") refuse("open a write session: it is read-only");
        return;
      case "admin":
        if (grant.access !== "admin") refuse(`${req.action.type}: that is an admin action (use a token with "access": "admin")`);
        return;
      default:
        return;
    }
  }

  #runAdmin(id: number, action: AdminAction): void {
    this.#engine.admin(action).then(
      (position) => this.#answer({ type: "admin-done", id, position }),
      (e: unknown) => this.#refuse(id, e),
    );
  }

  #subscribe(req: Subscribe): void {
    const { id, doc, prefix, from } = req;
    if (this.#subscriptions.size >= this.#maxSubscriptions) {
      throw new ConcordError("TooLarge", `this session already holds ${this.#subscriptions.size} subscriptions, the most it may (maxSubscriptions)`, {
        maxSubscriptions: this.#maxSubscriptions,
      });
    }
    const subscription = ++this.#lastSubscription;
    const feed = this.#feed.subscribe(doc, from, (c) => this.#push(subscription, prefix, c));
    this.#subscriptions.set(subscription, feed.unsubscribe);
    const sent = this.#answer({ type: "subscribed", id, subscription, position: feed.position, replayed: feed.replay !== null });
    if (!sent) {
      // The client was told `error`: it must not hear of this subscription.
      feed.unsubscribe();
      this.#subscriptions.delete(subscription);
      return;
    }
    // The past first, then (the engine applies nothing in between: this is one synchronous turn) what comes.
    for (const c of feed.replay ?? []) this.#push(subscription, prefix, c);
  }

  #unsubscribe(id: number, subscription: number): void {
    const unsubscribe = this.#subscriptions.get(subscription);
    if (unsubscribe === undefined) throw new ConcordError("InvalidArgument", `this session holds no subscription ${subscription}`, { subscription });
    unsubscribe();
    this.#subscriptions.delete(subscription);
    this.#answer({ type: "unsubscribed", id });
  }

  /** Runs inside the engine's change delivery: never throws. */
  #push(subscription: number, prefix: string, c: EngineChange): void {
    // The feed tells a copy of its listeners: a `send` that closed this session during this very
    // delivery does not stop this call.
    if (this.#closed) return;
    const matching: readonly Change[] = prefix === "" ? c.changes : c.changes.filter((change) => change.key.startsWith(prefix));
    if (matching.length === 0) return;
    try {
      this.#send({ type: "changes", subscription, position: c.position, changes: matching });
    } catch (e) {
      this.#emit("session.send_failed", { type: "changes", subscription, error: describe(e) });
    }
  }

  /**
   * The `error` answer for `e`: its code and message for a ConcordError (with the primary as
   * `redirect` for ReadOnlyReplica/Fenced), `Internal` naming a server bug for anything else (never a
   * refusal: a write that met a bug may have been ordered before it, so its client must not take it
   * for one that was not applied).
   * Counted under `type` when it is a counted request.
   */
  #refuse(id: number, e: unknown, type: CountedRequest | null = null): void {
    const answer = errorResponse(id, e, (fields) => this.#emit("session.bug", { id, ...fields }));
    if (type !== null) this.#requests?.refused(type, answer.code);
    this.#answer(answer);
  }

  /**
   * Sends `r`. When `send` throws, logs it and sends an `error` in its place (once; a throw from that
   * is only logged). True when `r` itself went out. The one gate of answers after close: pending
   * reads and writes settle into this and are dropped here.
   */
  #answer(r: Response): boolean {
    if (this.#closed) return false;
    try {
      this.#send(r);
      return true;
    } catch (e) {
      this.#emit("session.send_failed", { type: r.type, error: describe(e) });
      if (r.type === "error" || r.type === "changes") return false;
      try {
        this.#send(errorResponse(r.id, e, (fields) => this.#emit("session.bug", { id: r.id, ...fields })));
      } catch (again) {
        this.#emit("session.send_failed", { type: "error", error: describe(again) });
      }
      return false;
    }
  }

  #emit(event: string, fields: Record<string, unknown>): void {
    try {
      this.#log?.(event, { node: this.#engine.id, ...fields });
    } catch {
      // A log sink may throw (ClientSessionOptions.log); serving goes on.
    }
  }
}

const REDIRECTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["ReadOnlyReplica", "Fenced"]);

/** The counter a request of `type` is counted under, if any. */
function counted(type: Request["type"]): CountedRequest | null {
  if (type === "get" || type === "entries") return "read";
  return type === "write" ? "write" : null;
}

function errorResponse(id: number, e: unknown, bug: (fields: Record<string, unknown>) => void): Extract<Response, { type: "error" }> {
  if (e instanceof ConcordError) {
    const primary = e.details["primary"];
    const redirect = REDIRECTED.has(e.code) && typeof primary === "string" ? primary : null;
    return { type: "error", id, code: e.code, message: e.message, redirect };
  }
  bug({ error: describe(e), kind: e instanceof InvariantError ? "invariant" : "exception" });
  return { type: "error", id, code: "Internal", message: `the server failed on this request (a bug in Concord, please report it): ${describe(e)}`, redirect: null };
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function limit(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new ConcordError("InvalidArgument", `${name} must be a non-negative integer, got ${value}`, { [name]: value });
  return value;
}

/**
 * `message`, and what to do when `bytes` are of another version of the client protocol than this
 * node's (the first byte is the version).
 */
function versionHint(bytes: Uint8Array, message: string): string {
  const version = bytes[0];
  if (version === undefined || version === PROTOCOL_CODEC_VERSION) return message;
  const what = version < PROTOCOL_CODEC_VERSION ? "an older" : "a newer";
  return `${message}. The client speaks ${what} version (${version}) of Concord's client protocol than this node (${PROTOCOL_CODEC_VERSION}): use a concord-store release that matches the node's`;
}

/** Nesting past which {@link statusJson} drops a value (a cycle, or a status gone wrong). */
const MAX_STATUS_DEPTH = 32;

/**
 * `value` as JSON for a status answer: `Infinity` (the "never" of silentMs) becomes -1; what JSON
 * can't hold (NaN, -Infinity, undefined, functions, symbols, bigints, class instances, nesting past
 * {@link MAX_STATUS_DEPTH}) is dropped from objects and becomes `null` in arrays, as
 * `JSON.stringify` does. `undefined` when `value` itself is dropped.
 */
function statusJson(value: unknown, depth = 0): Json | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      return value === Number.POSITIVE_INFINITY ? -1 : undefined;
    case "object": {
      if (value === null) return null;
      if (depth >= MAX_STATUS_DEPTH) return undefined;
      if (Array.isArray(value)) return value.map((v: unknown) => statusJson(v, depth + 1) ?? null);
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const out: { [key: string]: Json } = {};
      for (const [k, v] of Object.entries(value)) {
        const json = statusJson(v, depth + 1);
        if (json !== undefined && k !== "__proto__") out[k] = json;
      }
      return out;
    }
    default:
      return undefined;
  }
}
