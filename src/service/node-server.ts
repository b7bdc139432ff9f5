/**
 * A `primary`-mode node as a network service (`concord node`): one {@link ReplicationNode} on a
 * file storage, behind one HTTP server with
 * - `ws://host:port/peer`: the node's links to the other nodes of its group (the WebSocket mesh of
 *   `net/websocket-mesh.ts`: each link opens with a hello naming the dialer);
 * - `ws://host:port/client`: the client protocol (`protocol.ts`), one {@link ClientSession} per
 *   socket, one request or response per binary frame; `promote` (admin) included;
 * - `GET /healthz`: 200 with the node's role, epoch, position, fencing and the replication
 *   messages it dropped as JSON; 503 while it starts or closes, and once its storage failed
 *   (`status: "failed"` with the `error` that stopped it: the node refuses writes until restarted);
 * - `GET /metrics`: the same state, its client sockets and its request outcomes in the Prometheus
 *   text format (`node-metrics.ts`).
 *
 * Peers are named by id and reached at a base URL (`ws://host:port`; the mesh dials
 * `<url>/peer`). A replica is told its primary's id AND URL (`role: { replicaOf: { id, url } }`),
 * because replication messages are addressed by id and the mesh must know whom it dialed before
 * the link opens. `peers` lists the other nodes of the group (it may include this node, which is
 * skipped, so one list can serve every node): the node dials each of them and, once promoted,
 * tells each of them of its new epoch. The primary needs no list to be reached: replicas dial it,
 * and it answers over the links they opened. Whatever `role` says, a node that already has a log
 * takes its role from it (see ReplicationNode): a restarted old primary leads its old epoch until
 * it hears of the newer one, then follows the new primary, discarding what diverged (`discarded`
 * in /healthz and `replica.snapshot_installed` in the log).
 *
 * Neither endpoint authenticates: the peer hello names a peer without proving it, and any client
 * may promote. Run nodes on a trusted network.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { systemClock, type Clock } from "../clock.js";
import { invalidIdReason } from "../codec/primitives.js";
import { ConcordError, isConcordError } from "../errors.js";
import { asDocId, asPeerId, type PeerId } from "../ids.js";
import { webSocketMesh, type WebSocketMesh } from "../net/websocket-mesh.js";
import type { WebSocketBackoffOptions } from "../net/websocket-client.js";
import type { PrimaryRoleOptions } from "../primary/primary-driver.js";
import type { ReplicaRoleOptions } from "../primary/replica-driver.js";
import { ReplicationNode } from "../primary/replication-node.js";
import { listenOn, pathOf, respond } from "../net/http-endpoint.js";
import { ServerLog, stderrLogSink, type LogLevel, type LogSink } from "../ops/log.js";
import { docFolderName, joinPath } from "../storage/file-layout.js";
import { fileStorage } from "../storage/file-storage.js";
import type { DocStorage } from "../storage/storage.js";
import { ClientSocket } from "./client-socket.js";
import { METRICS_CONTENT_TYPE, nodeMetricsText, RequestCounts } from "./node-metrics.js";
import { DEFAULT_MAX_REQUEST_BYTES } from "./node-service.js";

/** The document a node keeps its write-ahead log in, under `dataDir`. */
export const NODE_DOC = asDocId("node");
/** Default reconnect backoff of peer links: nodes on one network come back fast. */
export const DEFAULT_PEER_BACKOFF: WebSocketBackoffOptions = { initialMs: 50, maxMs: 1_000 };
/** Default unsent bytes past which a client socket is closed as too slow (64 MiB). */
export const DEFAULT_CLIENT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** Default wait for clients to answer the close handshake at shutdown, in ms. */
export const DEFAULT_NODE_SHUTDOWN_TIMEOUT_MS = 2_000;

/** A peer's base URL: `ws://host:port` (`wss://`), no path beyond `/`, no query. */
export type NodeUrl = string;

export interface NodeServerOptions {
  /** This node's id (1 to 255 characters): how its peers name it. */
  readonly id: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 to 65535; 0 picks a free port (read it from `NodeServer.url`). */
  readonly port: number;
  /** Folder of the node's write-ahead log (created if missing). One node per folder. */
  readonly dataDir: string;
  /** First start only (empty log): lead, or follow this primary. */
  readonly role: "primary" | { readonly replicaOf: { readonly id: string; readonly url: NodeUrl } };
  /** The other nodes of the group, id to base URL: dialed, and told of a promotion. Default none. */
  readonly peers?: ReadonlyMap<string, NodeUrl>;
  /** Structured logs (`server/log.ts`). Default JSON lines on stderr. */
  readonly log?: LogSink;
  /** Time of replication, reconnects and shutdown. Default the platform clock. */
  readonly clock?: Clock;
  /** Used whenever this node leads (now or once promoted): minReplicas, maxLagMs... */
  readonly primaryOptions?: PrimaryRoleOptions;
  /** Used whenever this node follows. */
  readonly replicaOptions?: ReplicaRoleOptions;
  /** Reconnect backoff of the links this node dials. Default {@link DEFAULT_PEER_BACKOFF}. */
  readonly peerBackoff?: WebSocketBackoffOptions;
  /** Longest client request frame, in bytes. Default 16 MiB. */
  readonly maxRequestBytes?: number;
  /** Unsent bytes past which a client socket is closed with 1013. Default 64 MiB. */
  readonly maxBufferedBytes?: number;
  /** At close, how long clients get to answer the close handshake, in ms. Default 2 000. */
  readonly shutdownTimeoutMs?: number;
}

export interface NodeServer {
  /** `ws://host:port`: peers dial `<url>/peer`, clients connect to `<url>/client`. */
  readonly url: string;
  readonly node: ReplicationNode;
  /**
   * Graceful shutdown: stops accepting, ends every client session (answers still pending are not
   * sent) and closes its socket with 1001, closes the node (pending writes reject with `Closed`,
   * the log is flushed and closed) and its peer links, then the HTTP server. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts a node server: listens first (so a port already in use fails before the data folder is
 * touched), then opens the node from its log, then serves.
 * @throws ConcordError `InvalidArgument` for a bad id, URL or option (naming it); `Io` when the
 *   address can't be listened on; whatever opening the log throws (`Io`; `Corrupt` naming the
 *   damaged file or, for a record that does not decode, the log's folder).
 */
export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const o = resolve(options);
  const server = new NodeServerImpl(o);
  await server.start();
  return server;
}

/**
 * Checks `options` as {@link startNodeServer} does, without touching the network or the disk (a
 * CLI turns the refusal into a usage error).
 * @throws ConcordError `InvalidArgument` naming the option and what it must be.
 */
export function checkNodeServerOptions(options: NodeServerOptions): void {
  resolve(options);
}

interface Resolved {
  readonly id: PeerId;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly role: "primary" | { readonly replicaOf: PeerId };
  /** Every other node to dial: id to `<url>/peer`. */
  readonly dial: ReadonlyMap<PeerId, string>;
  readonly log: ServerLog;
  readonly clock: Clock;
  readonly primary: PrimaryRoleOptions | undefined;
  readonly replica: ReplicaRoleOptions | undefined;
  readonly backoff: WebSocketBackoffOptions;
  readonly maxRequestBytes: number;
  readonly maxBufferedBytes: number;
  readonly shutdownTimeoutMs: number;
}

function resolve(o: NodeServerOptions): Resolved {
  const id = peerId(o.id, "id");
  const host = o.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0) throw invalid("host", host, "a non-empty host name or address");
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw invalid("port", o.port, "an integer from 0 to 65535");
  if (typeof o.dataDir !== "string" || o.dataDir.length === 0) throw invalid("dataDir", o.dataDir, "a non-empty folder");
  const dial = new Map<PeerId, string>();
  const addPeer = (peerName: string, url: string, what: string): PeerId => {
    const peer = peerId(peerName, what);
    const at = peerUrl(url, `${what} (${peerName})`);
    const known = dial.get(peer);
    if (known !== undefined && known !== at) throw invalid(what, url, `the URL ${peer} has elsewhere (${known.replace(/\/peer$/, "")})`);
    if (peer !== id) dial.set(peer, at);
    return peer;
  };
  let role: Resolved["role"] = "primary";
  if (o.role !== "primary") {
    const primary = o.role?.replicaOf;
    if (typeof primary !== "object" || primary === null) throw invalid("role", o.role, `"primary" or { replicaOf: { id, url } }`);
    const peer = addPeer(primary.id, primary.url, "role.replicaOf");
    if (peer === id) throw invalid("role.replicaOf.id", primary.id, `another node's id: ${id} cannot follow itself`);
    role = { replicaOf: peer };
  }
  for (const [peer, url] of o.peers ?? []) addPeer(peer, url, "peers");
  const count = (name: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isSafeInteger(value) || value < min) throw invalid(name, value, `an integer >= ${min}`);
    return value;
  };
  return {
    id,
    host,
    port: o.port,
    dataDir: o.dataDir,
    role,
    dial,
    log: new ServerLog(o.log ?? stderrLogSink),
    clock: o.clock ?? systemClock,
    primary: o.primaryOptions,
    replica: o.replicaOptions,
    backoff: o.peerBackoff ?? DEFAULT_PEER_BACKOFF,
    maxRequestBytes: count("maxRequestBytes", o.maxRequestBytes, DEFAULT_MAX_REQUEST_BYTES, 1),
    maxBufferedBytes: count("maxBufferedBytes", o.maxBufferedBytes, DEFAULT_CLIENT_MAX_BUFFERED_BYTES, 1),
    shutdownTimeoutMs: count("shutdownTimeoutMs", o.shutdownTimeoutMs, DEFAULT_NODE_SHUTDOWN_TIMEOUT_MS, 0),
  };
}

function peerId(value: unknown, what: string): PeerId {
  const reason = typeof value === "string" ? invalidIdReason(value) : "it is not a string";
  if (reason !== null) throw invalid(what, value, `a node id (${reason})`);
  return asPeerId(value as string);
}

/** `url` (a node's base URL) as the URL of its peer endpoint. */
function peerUrl(url: unknown, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw invalid(what, url, "a ws:// or wss:// URL such as ws://127.0.0.1:5001");
  }
  if ((parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "" || parsed.hash !== "") {
    throw invalid(what, url, "a node's base URL, ws://host:port (or wss://), with no path or query");
  }
  return `${parsed.protocol}//${parsed.host}/peer`;
}

function invalid(name: string, value: unknown, expected: string): ConcordError {
  return new ConcordError("InvalidArgument", `startNodeServer: ${name} must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`, { [name]: value });
}

const EVENT_LEVELS: Readonly<Record<string, LogLevel>> = {
  "node.failed": "error",
  "node.listener_error": "error",
  "node.fenced": "warn",
  "node.promoted": "warn",
  "replication.bad_message": "warn",
  "peer.bad_hello": "warn",
  "peer.link_closed": "debug",
};

/** The level an operator needs a replication, peer-link or node event at: a discard is a warning. */
function levelOf(event: string, fields: Record<string, unknown>): LogLevel {
  if (event === "replica.snapshot_installed" && fields["discarded"] !== 0) return "warn";
  return EVENT_LEVELS[event] ?? "info";
}

class NodeServerImpl implements NodeServer {
  url = "";
  readonly #o: Resolved;
  readonly #http: Server;
  readonly #mesh: WebSocketMesh;
  readonly #peerWss = new WebSocketServer({ noServer: true });
  readonly #clientWss: WebSocketServer;
  readonly #clients = new Set<ClientSocket>();
  readonly #requests = new RequestCounts();
  #node: ReplicationNode | null = null;
  #clientSeq = 0;
  #closing: Promise<void> | null = null;

  constructor(o: Resolved) {
    this.#o = o;
    this.#mesh = webSocketMesh({ self: o.id, dial: o.dial, clock: o.clock, backoff: o.backoff, log: (event, fields) => o.log[levelOf(event, fields)](event, fields) });
    // A longer frame is never read into memory: ws closes its socket with 1009.
    this.#clientWss = new WebSocketServer({ noServer: true, maxPayload: o.maxRequestBytes });
    this.#http = createServer((req, res) => {
      try {
        this.#onRequest(req, res);
      } catch (error) {
        o.log.error("handler.error", { handler: "request", error });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    });
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

  get node(): ReplicationNode {
    if (this.#node === null) throw new ConcordError("Closed", `node ${this.#o.id} is not open`);
    return this.#node;
  }

  async start(): Promise<void> {
    const o = this.#o;
    const listening = await listenOn(this.#http, o.host, o.port);
    this.url = listening.url;
    this.#http.on("error", (error) => o.log.error("server.error", { error }));
    let storage: DocStorage | undefined;
    const folder = joinPath(o.dataDir, docFolderName(NODE_DOC));
    try {
      // A dedicated process: appends fsync on the event loop, as Redis's appendfsync always does
      // (no thread hand-offs; lag p50 1.0 -> 0.75 ms in `npm run bench -- primary`).
      storage = await fileStorage(o.dataDir, { fsync: "always", clock: o.clock, blockingAppends: true }).open(NODE_DOC);
      this.#node = await ReplicationNode.open({
        id: o.id,
        storage,
        transport: this.#mesh,
        clock: o.clock,
        role: o.role,
        peers: [...o.dial.keys()],
        ...(o.primary === undefined ? {} : { primary: o.primary }),
        ...(o.replica === undefined ? {} : { replica: o.replica }),
        log: (event, fields) => o.log[levelOf(event, fields)](event, fields),
      });
    } catch (e) {
      await storage?.close().catch(() => undefined); // the failure to report is `e`
      this.#mesh.close();
      await this.#stopHttp(this.#stopAccepting());
      throw storage !== undefined && isConcordError(e, "Corrupt") ? damagedLog(e, folder) : e;
    }
    const st = this.#node.status();
    o.log.info("node.listening", { url: this.url, id: o.id, role: st.role, primary: st.primary, epoch: st.epoch, lsn: st.lsn, data: o.dataDir, peers: Object.fromEntries(o.dial) });
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
    try {
      await this.#node?.close();
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
      const node = this.#node;
      if (node === null) respond(res, method, 503, "text/plain; charset=utf-8", "starting: the node is not open yet\n");
      else {
        const sample = { status: node.status(), failed: node.failure !== null, clientConnections: this.#clients.size, requests: this.#requests.counts() };
        respond(res, method, 200, METRICS_CONTENT_TYPE, nodeMetricsText(sample));
      }
      return;
    }
    respond(res, method, 404, "text/plain; charset=utf-8", "not found: this is a Concord node (WebSocket at /client and /peer, GET /healthz and /metrics)\n");
  }

  /** 503 unless the node serves: starting, closing, or `failed` (with the error that stopped it). */
  #health(): [number, Record<string, unknown>] {
    const node = this.#node;
    const failure = node?.failure ?? null;
    const state = this.#closing !== null ? "closing" : node === null ? "starting" : failure !== null ? "failed" : "ok";
    if (node === null) return [503, { status: state, id: this.#o.id }];
    const st = node.status();
    return [
      state === "ok" ? 200 : 503,
      {
        status: state,
        id: st.id,
        ...(failure === null ? {} : { error: { code: failure.code, message: failure.message } }),
        role: st.role,
        primary: st.primary,
        epoch: st.epoch,
        lsn: st.lsn,
        position: st.position,
        fenced: st.fenced,
        discarded: st.discarded,
        dropped: st.dropped,
        lagLsn: st.lagLsn,
        silentMs: st.silentMs === Number.POSITIVE_INFINITY ? -1 : Math.ceil(st.silentMs),
        replicas: st.replicas,
      },
    ];
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    const path = pathOf(req.url);
    if (this.#closing !== null) return refuseUpgrade(socket, "503 Service Unavailable");
    if (path === "/peer") {
      this.#peerWss.handleUpgrade(req, socket, head, (ws) => this.#mesh.accept(ws));
      return;
    }
    if (path !== "/client") return refuseUpgrade(socket, "404 Not Found");
    const node = this.#node;
    if (node === null) return refuseUpgrade(socket, "503 Service Unavailable");
    this.#clientWss.handleUpgrade(req, socket, head, (ws) => this.#onClient(ws, node, req));
  }

  #onClient(ws: WebSocket, node: ReplicationNode, req: IncomingMessage): void {
    const conn = `c${++this.#clientSeq}`;
    const client = new ClientSocket(ws, node, {
      conn,
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

/**
 * `e`, a record of the node's log that does not decode, with the folder it is in and what to do
 * about it. (A checksum failure is refused by the file storage, naming the file, before this.)
 */
function damagedLog(e: ConcordError, folder: string): ConcordError {
  return new ConcordError(
    "Corrupt",
    `${folder}: ${e.message}. The node's write-ahead log is damaged: restore the folder from a backup, or move it aside and start this node as a replica of the current primary (it copies the primary's state; writes only this node held are lost)`,
    { ...e.details, folder },
    { cause: e },
  );
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
