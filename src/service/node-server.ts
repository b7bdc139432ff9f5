/**
 * A replication node as a network service (`concord node`): one engine (the {@link ServedEngine}
 * port of `engine.ts`: a primary-mode node, a Raft node) behind one HTTP server with
 * - `ws://host:port/peer`: the node's links to the other nodes of its group (the WebSocket mesh of
 *   `net/websocket-mesh.ts`: each link opens with a hello naming the dialer), handed to the engine
 *   as its transport;
 * - `ws://host:port/client`: the client protocol (`protocol.ts`), one {@link ClientSession} per
 *   socket, one request or response per binary frame; admin requests included;
 * - `GET /healthz`: 200 with the engine's health fields as JSON; 503 while it starts or closes, and
 *   once it failed (`status: "failed"` with the `error` that stopped it: it refuses writes until
 *   restarted) or says it cannot serve;
 * - `GET /metrics`: the engine's metrics, its client sockets and its request outcomes in the
 *   Prometheus text format.
 *
 * Peers are named by id and reached at a base URL (`ws://host:port`; the mesh dials `<url>/peer`).
 * `peers` lists the other nodes of the group (it may include this node, which is skipped, so one
 * list can serve every node): the node dials each of them. What the engine does with them is the
 * mode's (`src/node.ts` composes a node server for each mode).
 *
 * Who gets in (all three optional; without them a node serves anyone and says so at start):
 * - `auth`: the auth file of `ops/auth.ts` (the one `concord serve --auth` reads). A client sends
 *   its token as `?token=` or an `Authorization: Bearer` header; an unknown or missing one is
 *   closed with 4401. Each request is checked against the token's documents and access: reads of
 *   its documents, writes with `read-write` or `admin`, admin requests (promote, membership,
 *   transfer) only with `admin`; anything else is answered `Unauthorized`. {@link NodeServer.reloadAuth}
 *   re-reads the file: connections whose token is gone are closed with 4401, those whose grant
 *   changed with 1012 (they reconnect under the new one).
 * - `peerSecret`: a secret every node of the group shares; the links it dials present it
 *   (`Authorization: Bearer` on the upgrade) and `/peer` refuses a link without it (401). Without
 *   it, the peer hello names a peer without proving it.
 * - `tls`: an `https` server (`wss://`); `tlsCa` is the certificate authority the node trusts when
 *   it dials its peers (a private CA, a self-signed certificate).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocket as WsSocket, WebSocketServer, type WebSocket } from "ws";
import { systemClock, type Clock } from "../clock.js";
import { invalidIdReason } from "../codec/primitives.js";
import { ConcordError } from "../errors.js";
import { asPeerId, type PeerId } from "../ids.js";
import { listenOn, pathOf, respond } from "../net/http-endpoint.js";
import type { WebSocketBackoffOptions, WebSocketConstructorLike } from "../net/websocket-client.js";
import { webSocketMesh, type WebSocketMesh } from "../net/websocket-mesh.js";
import { grantOf, loadAuthFile, parseAuthConfig, tokenOf, type AuthConfig, type TokenGrant } from "../ops/auth.js";
import { ServerLog, stderrLogSink, type LogLevel, type LogSink } from "../ops/log.js";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../ops/prometheus.js";
import { ChangeFeed, DEFAULT_MAX_HISTORY_BYTES } from "./change-feed.js";
import { ClientSocket } from "./client-socket.js";
import type { EngineFactory, ServedEngine } from "./engine.js";
import { RequestCounts, serviceMetricFamilies } from "./node-metrics.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "./node-service.js";

/** Default reconnect backoff of peer links: nodes on one network come back fast. */
export const DEFAULT_PEER_BACKOFF: WebSocketBackoffOptions = { initialMs: 50, maxMs: 1_000 };
/** Default unsent bytes past which a client socket is closed as too slow (64 MiB). */
export const DEFAULT_CLIENT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Default wait for clients to answer the close handshake at shutdown, in ms. */
export const DEFAULT_NODE_SHUTDOWN_TIMEOUT_MS = 2_000;

/** A peer's base URL: `ws://host:port` (`wss://`), no path beyond `/`, no query. */
export type NodeUrl = string;

/** What every node server takes, whatever its engine. */
export interface NodeServiceOptions {
  /** This node's id (1 to 255 characters): how its peers name it. */
  readonly id: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 to 65535; 0 picks a free port (read it from `NodeServer.url`). */
  readonly port: number;
  /** The node's data folder (created if missing). One node per folder. */
  readonly dataDir: string;
  /** The other nodes of the group, id to base URL: dialed by the peer mesh. Default none. */
  readonly peers?: ReadonlyMap<string, NodeUrl>;
  /** Structured logs (`ops/log.ts`). Default JSON lines on stderr. */
  readonly log?: LogSink;
  /** Time of replication, reconnects and shutdown. Default the platform clock. */
  readonly clock?: Clock;
  /** Reconnect backoff of the links this node dials. Default {@link DEFAULT_PEER_BACKOFF}. */
  readonly peerBackoff?: WebSocketBackoffOptions;
  /** Longest client request frame, in bytes. Default 16 MiB. */
  readonly maxRequestBytes?: number;
  /** Unsent bytes past which a client socket is closed with 1013. Default 64 MiB. */
  readonly maxBufferedBytes?: number;
  /** At close, how long clients get to answer the close handshake, in ms. Default 2 000. */
  readonly shutdownTimeoutMs?: number;
  /** Bytes of recent writes kept for subscriptions that start from a past position. Default 32 MiB. */
  readonly maxHistoryBytes?: number;
  /** The auth file's path (re-read by `reloadAuth`), or its contents; default: anyone may connect and administer. */
  readonly auth?: string | AuthConfig;
  /** The secret the group's nodes share on `/peer`; default: peers are not authenticated. */
  readonly peerSecret?: string;
  /** Serve `wss://` with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** The certificate authority (PEM) trusted when dialing `wss://` peers; default the system's. */
  readonly tlsCa?: string | Buffer;
  /**
   * A peer link silent for `deadAfterMs` is dropped (and dialed again), each end sending a
   * keepalive on a link idle for `everyMs` (see `net/websocket-mesh.ts`); null: links last until
   * their sockets close. Default {@link DEFAULT_PEER_LIVENESS}; a strong-mode node derives it from
   * its Raft timing.
   */
  readonly peerLiveness?: PeerLiveness | null;
}

/** See {@link NodeServiceOptions.peerLiveness}. */
export interface PeerLiveness {
  readonly everyMs: number;
  readonly deadAfterMs: number;
}

/** Keepalives every 500 ms; a link silent for 5 s is dropped. */
export const DEFAULT_PEER_LIVENESS: PeerLiveness = { everyMs: 500, deadAfterMs: 5_000 };

/** Options of {@link serveNode}: the service's, and the engine to serve. */
export interface ServeNodeOptions<E extends ServedEngine> extends NodeServiceOptions {
  readonly engine: EngineFactory<E>;
}

export interface NodeServer<E extends ServedEngine = ServedEngine> {
  /** `ws://host:port`: peers dial `<url>/peer`, clients connect to `<url>/client`. */
  readonly url: string;
  readonly engine: E;
  /**
   * Graceful shutdown: stops accepting, ends every client session (answers still pending are not
   * sent) and closes its socket with 1001, closes the engine (pending writes reject with `Closed`,
   * its storage is flushed and closed) and its peer links, then the HTTP server. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Re-reads the auth file (`auth` given as a path): clients whose token is gone are closed with
   * 4401, those whose grant changed with 1012. A bad file changes nothing (logged, and thrown).
   * @throws ConcordError `InvalidArgument` for a bad file, or when the node has no auth file.
   */
  reloadAuth(): { readonly closed: number };
}

/**
 * Starts a node server: listens first (so a port already in use fails before the data folder is
 * touched), then opens the engine, then serves.
 * @throws ConcordError `InvalidArgument` for a bad id, URL or option (naming it); `Io` when the
 *   address can't be listened on; whatever opening the engine throws.
 */
export async function serveNode<E extends ServedEngine>(options: ServeNodeOptions<E>): Promise<NodeServer<E>> {
  const o = resolve(options);
  const server = new NodeServerImpl(o, options.engine, options.peerSecret);
  await server.start();
  return server;
}

/**
 * Checks `options` as {@link serveNode} does, without touching the network or the disk (a CLI
 * turns the refusal into a usage error).
 * @throws ConcordError `InvalidArgument` naming the option and what it must be.
 */
export function checkNodeServiceOptions(options: NodeServiceOptions): void {
  resolve(options);
}

interface Resolved {
  readonly id: PeerId;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Every other node to dial: id to `<url>/peer`. */
  readonly dial: ReadonlyMap<PeerId, string>;
  readonly log: ServerLog;
  readonly clock: Clock;
  readonly backoff: WebSocketBackoffOptions;
  readonly maxRequestBytes: number;
  readonly maxBufferedBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly maxHistoryBytes: number;
  /** The auth file's path, to re-read; null when `auth` was a table or absent. */
  readonly authFile: string | null;
  readonly auth: AuthConfig | null;
  /** The peer secret's digest, for a comparison in constant time. */
  readonly peerSecret: Buffer | null;
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | null;
  readonly tlsCa: string | Buffer | null;
  readonly liveness: PeerLiveness | null;
}

function resolve(o: NodeServiceOptions): Resolved {
  const id = nodeId(o.id, "id");
  const host = o.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0) throw invalidOption("host", host, "a non-empty host name or address");
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw invalidOption("port", o.port, "an integer from 0 to 65535");
  if (typeof o.dataDir !== "string" || o.dataDir.length === 0) throw invalidOption("dataDir", o.dataDir, "a non-empty folder");
  const dial = new Map<PeerId, string>();
  for (const [peer, url] of o.peers ?? []) {
    const at = peerEndpoint(url, `peers (${peer})`);
    const peerId = nodeId(peer, "peers");
    if (peerId !== id) dial.set(peerId, at);
  }
  const count = (name: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < min) throw invalidOption(name, value, `an integer >= ${min}`);
    return value;
  };
  return {
    id,
    host,
    port: o.port,
    dataDir: o.dataDir,
    dial,
    log: new ServerLog(o.log ?? stderrLogSink),
    clock: o.clock ?? systemClock,
    backoff: o.peerBackoff ?? DEFAULT_PEER_BACKOFF,
    maxRequestBytes: count("maxRequestBytes", o.maxRequestBytes, DEFAULT_MAX_REQUEST_BYTES, 1),
    maxBufferedBytes: count("maxBufferedBytes", o.maxBufferedBytes, DEFAULT_CLIENT_MAX_BUFFERED_BYTES, 1),
    shutdownTimeoutMs: count("shutdownTimeoutMs", o.shutdownTimeoutMs, DEFAULT_NODE_SHUTDOWN_TIMEOUT_MS, 0),
    maxHistoryBytes: count("maxHistoryBytes", o.maxHistoryBytes, DEFAULT_MAX_HISTORY_BYTES, 0),
    authFile: typeof o.auth === "string" ? o.auth : null,
    auth: o.auth === undefined ? null : typeof o.auth === "string" ? loadAuthFile(o.auth) : parseAuthConfig(o.auth),
    peerSecret: resolveSecret(o.peerSecret),
    tls: resolveTls(o.tls),
    tlsCa: o.tlsCa === undefined ? null : pemOption("tlsCa", o.tlsCa),
    liveness: resolveLiveness(o.peerLiveness),
  };
}

function resolveLiveness(l: PeerLiveness | null | undefined): PeerLiveness | null {
  if (l === undefined) return DEFAULT_PEER_LIVENESS;
  if (l === null) return null;
  const ok = typeof l === "object" && Number.isSafeInteger(l.everyMs) && l.everyMs > 0 && Number.isSafeInteger(l.deadAfterMs) && l.deadAfterMs > l.everyMs;
  if (!ok) throw invalidOption("peerLiveness", l, "null, or { everyMs, deadAfterMs }: integers with 0 < everyMs < deadAfterMs");
  return { everyMs: l.everyMs, deadAfterMs: l.deadAfterMs };
}

function resolveSecret(secret: unknown): Buffer | null {
  if (secret === undefined) return null;
  if (typeof secret !== "string" || secret.length < 16) throw invalidOption("peerSecret", "(hidden)", "a string of at least 16 characters");
  return digest(secret);
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

function pemOption(name: string, value: unknown): string | Buffer {
  if ((typeof value === "string" || Buffer.isBuffer(value)) && value.length > 0) return value;
  throw invalidOption(name, typeof value, "a non-empty PEM string or Buffer");
}

function resolveTls(tls: NodeServiceOptions["tls"]): Resolved["tls"] {
  if (tls === undefined) return null;
  if (typeof tls !== "object" || tls === null) throw invalidOption("tls", tls, "{ cert, key }");
  return { cert: pemOption("tls.cert", tls.cert), key: pemOption("tls.key", tls.key) };
}

/** `value` as a node id. @throws ConcordError `InvalidArgument` naming the option `what`. */
export function nodeId(value: unknown, what: string): PeerId {
  const reason = typeof value === "string" ? invalidIdReason(value) : "it is not a string";
  if (reason !== null) throw invalidOption(what, value, `a node id (${reason})`);
  return asPeerId(value as string);
}

/** `url` (a node's base URL) as the URL of its peer endpoint. @throws ConcordError `InvalidArgument` naming the option `what`. */
export function peerEndpoint(url: unknown, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw invalidOption(what, url, "a ws:// or wss:// URL such as ws://127.0.0.1:5001");
  }
  if ((parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "" || parsed.hash !== "") {
    throw invalidOption(what, url, "a node's base URL, ws://host:port (or wss://), with no path or query");
  }
  return `${parsed.protocol}//${parsed.host}/peer`;
}

/** The `InvalidArgument` of a node server option: `startNodeServer: <name> must be <expected>, got <value>` (the CLI maps names to flags). */
export function invalidOption(name: string, value: unknown, expected: string): ConcordError {
  return new ConcordError("InvalidArgument", `startNodeServer: ${name} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`, { [name]: value });
}

const PEER_EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  "peer.bad_hello": "warn",
  "peer.link_closed": "debug",
  "peer.link_silent": "warn",
};

class NodeServerImpl<E extends ServedEngine> implements NodeServer<E> {
  url = "";
  readonly #o: Resolved;
  readonly #http: Server;
  readonly #mesh: WebSocketMesh;
  readonly #peerWss = new WebSocketServer({ noServer: true });
  readonly #clientWss: WebSocketServer;
  readonly #clients = new Set<ClientSocket>();
  readonly #requests = new RequestCounts();
  readonly #openEngine: EngineFactory<E>;
  #auth: AuthConfig | null;
  #engine: E | null = null;
  #feed: ChangeFeed | null = null;
  #clientSeq = 0;
  #closing: Promise<void> | null = null;

  constructor(o: Resolved, engine: EngineFactory<E>, peerSecret: string | undefined) {
    this.#o = o;
    this.#openEngine = engine;
    this.#auth = o.auth;
    this.#mesh = webSocketMesh({
      self: o.id,
      dial: o.dial,
      clock: o.clock,
      backoff: o.backoff,
      ...(o.liveness === null ? {} : { liveness: o.liveness }),
      ...(peerSecret === undefined && o.tlsCa === null ? {} : { WebSocket: peerSocket(peerSecret, o.tlsCa) }),
      log: (event, fields) => o.log[PEER_EVENT_LEVELS[event] ?? "info"](event, fields),
    });
    // A longer frame is never read into memory: ws closes its socket with 1009.
    this.#clientWss = new WebSocketServer({ noServer: true, maxPayload: o.maxRequestBytes });
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      try {
        this.#onRequest(req, res);
      } catch (error) {
        o.log.error("handler.error", { handler: "request", error });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    };
    try {
      this.#http = o.tls === null ? createServer(onRequest) : createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, onRequest);
    } catch (error) {
      throw new ConcordError("InvalidArgument", `startNodeServer: tls: the certificate or key is not usable: ${(error as Error).message}`, {}, { cause: error });
    }
    if (o.tls !== null) this.#http.on("tlsClientError", (error: Error) => o.log.debug("tls.client_error", { error }));
    this.#http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.#onUpgrade(req, socket, head);
      } catch (error) {
        // A bug in Concord, never bad input (that is refused without throwing): logged, the socket cut.
        o.log.error("handler.error", { handler: "upgrade", error });
        socket.destroy();
      }
    });
  }

  get engine(): E {
    if (this.#engine === null) throw new ConcordError("Closed", `node ${this.#o.id} is not open`);
    return this.#engine;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const listening = await listenOn(this.#http, o.host, o.port, o.tls !== null);
    this.url = listening.url;
    this.#http.on("error", (error) => o.log.error("server.error", { error }));
    try {
      this.#engine = await this.#openEngine({ id: o.id, dataDir: o.dataDir, transport: this.#mesh, clock: o.clock, log: o.log });
      this.#feed = new ChangeFeed(this.#engine, o.maxHistoryBytes);
    } catch (e) {
      this.#mesh.close();
      await this.#stopHttp(this.#stopAccepting());
      throw e;
    }
    const health = this.#engine.health();
    o.log.info("node.listening", { url: this.url, id: o.id, ...health.fields, data: o.dataDir, peers: Object.fromEntries(o.dial) });
    if (o.auth === null) o.log.warn("node.open_to_all", { note: "no auth file: any client may read, write and administer this node" });
    if (o.peerSecret === null) o.log.warn("node.peers_unauthenticated", { note: "no peer secret: /peer accepts any node that names itself" });
  }

  reloadAuth(): { readonly closed: number } {
    const file = this.#o.authFile;
    if (file === null) throw new ConcordError("InvalidArgument", `node ${this.#o.id} has no auth file to reload`);
    let next: AuthConfig;
    try {
      next = loadAuthFile(file);
    } catch (error) {
      this.#o.log.error("auth.reload_failed", { error });
      throw error;
    }
    this.#auth = next;
    let closed = 0;
    for (const client of [...this.#clients]) {
      const grant = client.token === undefined ? undefined : grantOf(next, client.token);
      if (grant === undefined) {
        void client.close(4401, "unauthorized: the token is no longer valid", this.#o.shutdownTimeoutMs, this.#o.clock);
        closed++;
      } else if (!sameGrant(grant, client.grant)) {
        void client.close(1012, "the token's access changed: reconnect", this.#o.shutdownTimeoutMs, this.#o.clock);
        closed++;
      }
    }
    this.#o.log.info("auth.reloaded", { tokens: Object.keys(next.tokens).length, closed });
    return { closed };
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const o = this.#o;
    o.log.info("node.closing", { clients: this.#clients.size });
    const httpStopped = this.#stopAccepting();
    const clients = [...this.#clients];
    const closed = Promise.all(clients.map((c) => c.close(1001, "node shutting down", o.shutdownTimeoutMs, o.clock)));
    let failure: unknown;
    this.#feed?.close();
    try {
      await this.#engine?.close();
    } catch (error) {
      failure = error;
    }
    this.#mesh.close();
    await closed;
    await this.#stopHttp(httpStopped);
    o.log.info("node.closed", failure === undefined ? {} : { error: failure });
    if (failure !== undefined) throw failure;
  }

  /** Stops accepting connections; resolves once the HTTP server has none left. */
  #stopAccepting(): Promise<void> {
    const stopped = new Promise<void>((done) => this.#http.close(() => done()));
    this.#http.closeIdleConnections();
    return stopped;
  }

  /** Cuts every socket still on the server (peer links that never said hello, clients past the timeout), then awaits `stopped`. */
  async #stopHttp(stopped: Promise<void>): Promise<void> {
    for (const ws of [...this.#peerWss.clients, ...this.#clientWss.clients]) ws.terminate();
    this.#peerWss.close();
    this.#clientWss.close();
    this.#http.closeAllConnections();
    await stopped;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? "GET";
    const path = pathOf(req.url);
    if ((method === "GET" || method === "HEAD") && path === "/healthz") {
      const [status, body] = this.#health();
      respond(res, method, status, "application/json; charset=utf-8", JSON.stringify(body));
      return;
    }
    if ((method === "GET" || method === "HEAD") && path === "/metrics") {
      const engine = this.#engine;
      if (engine === null) respond(res, method, 503, "text/plain; charset=utf-8", "starting: the node is not open yet\n");
      else {
        const families = [...engine.metrics(), ...serviceMetricFamilies(this.#clients.size, this.#requests.counts())];
        respond(res, method, 200, PROMETHEUS_CONTENT_TYPE, renderMetrics(families));
      }
      return;
    }
    respond(res, method, 404, "text/plain; charset=utf-8", "not found: this is a Concord node (WebSocket at /client and /peer, GET /healthz and /metrics)\n");
  }

  /** 503 unless the node serves: starting, closing, `failed` (with the error that stopped it), or an engine that says it cannot serve. */
  #health(): [number, Record<string, unknown>] {
    const engine = this.#engine;
    const failure = engine?.failure ?? null;
    if (engine === null) return [503, { status: this.#closing !== null ? "closing" : "starting", id: this.#o.id }];
    const health = engine.health();
    const state = this.#closing !== null ? "closing" : failure !== null ? "failed" : health.serving ? "ok" : "unavailable";
    return [
      state === "ok" ? 200 : 503,
      { status: state, id: engine.id, ...(failure === null ? {} : { error: { code: failure.code, message: failure.message } }), ...health.fields },
    ];
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    const path = pathOf(req.url);
    if (this.#closing !== null) return refuseUpgrade(socket, "503 Service Unavailable");
    if (path === "/peer") {
      if (!this.#peerAllowed(req)) {
        this.#o.log.warn("peer.unauthorized", { remote: req.socket.remoteAddress });
        return refuseUpgrade(socket, "401 Unauthorized");
      }
      this.#peerWss.handleUpgrade(req, socket, head, (ws) => this.#mesh.accept(ws));
      return;
    }
    if (path !== "/client") return refuseUpgrade(socket, "404 Not Found");
    const engine = this.#engine;
    const feed = this.#feed;
    if (engine === null || feed === null) return refuseUpgrade(socket, "503 Service Unavailable");
    this.#clientWss.handleUpgrade(req, socket, head, (ws) => this.#onClient(ws, engine, feed, req));
  }

  /** True when the node needs no peer secret, or the upgrade presents it. */
  #peerAllowed(req: IncomingMessage): boolean {
    const expected = this.#o.peerSecret;
    if (expected === null) return true;
    const presented = bearerOf(req);
    return presented !== undefined && timingSafeEqual(digest(presented), expected);
  }

  #onClient(ws: WebSocket, engine: E, feed: ChangeFeed, req: IncomingMessage): void {
    const conn = `c${++this.#clientSeq}`;
    const token = tokenOf(req.url) ?? bearerOf(req);
    let grant: TokenGrant | undefined;
    if (this.#auth !== null) {
      grant = token === undefined ? undefined : grantOf(this.#auth, token);
      if (grant === undefined) {
        this.#o.log.info("client.unauthorized", { conn, remote: req.socket.remoteAddress, token: token === undefined ? "none" : "unknown" });
        ws.close(4401, token === undefined ? "unauthorized: no token (connect with ?token=...)" : "unauthorized: unknown token");
        return;
      }
    }
    const client = new ClientSocket(ws, engine, {
      feed,
      conn,
      ...(token === undefined ? {} : { token }),
      ...(grant === undefined ? {} : { grant }),
      maxRequestBytes: this.#o.maxRequestBytes,
      maxBufferedBytes: this.#o.maxBufferedBytes,
      log: this.#o.log,
      requests: this.#requests,
      onGone: () => this.#clients.delete(client),
    });
    this.#clients.add(client);
    this.#o.log.debug("client.open", { conn, remote: req.socket.remoteAddress });
    // Upgraded while shutdown began: closed at once.
    if (this.#closing !== null) void client.close(1001, "node shutting down", this.#o.shutdownTimeoutMs, this.#o.clock);
  }
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
function bearerOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = typeof header === "string" ? /^Bearer (.+)$/.exec(header) : null;
  return match?.[1];
}

function sameGrant(a: TokenGrant, b: TokenGrant | undefined): boolean {
  return b !== undefined && a.access === b.access && a.docs.length === b.docs.length && a.docs.every((d, i) => d === b.docs[i]);
}

/** The WebSocket the node dials its peers with: presenting the peer secret, trusting `ca`. */
function peerSocket(secret: string | undefined, ca: string | Buffer | null): WebSocketConstructorLike {
  const options = { ...(secret === undefined ? {} : { headers: { authorization: `Bearer ${secret}` } }), ...(ca === null ? {} : { ca }) };
  return class PeerSocket extends WsSocket {
    constructor(url: string) {
      super(url, options);
    }
  } as unknown as WebSocketConstructorLike;
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
