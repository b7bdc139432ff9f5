/**
 * The sync server (`concord serve`): a `node:http` server that upgrades `ws://host:port/<room>` to
 * a WebSocket speaking the y-websocket protocol, so that stock Yjs clients (`WebsocketProvider`)
 * and Concord's own client sync through it. Each room is an eventual replica (see `rooms.ts`):
 * updates are forwarded at once and acknowledged once persisted, presence is removed when a connection closes.
 *
 * HTTP: `GET /healthz` answers 200 `{"status":"ok","documents":n,"connections":n}` (503 with
 * `"status":"closing"` during shutdown), `GET /metrics` the Prometheus metrics (`metrics.ts`),
 * anything else 404.
 *
 * Every socket and HTTP handler is guarded: whatever one throws is logged (`handler.error`), never
 * allowed to take the process down. A client that breaks the protocol is closed with 4400 and only
 * it: the document and other connections are untouched.
 *
 * Security (each refusal is counted in `/metrics` and logged; tokens are never logged):
 * - `auth` (`auth.ts`, `admission.ts`): a table of tokens; the client sends its token as `?token=`
 *   or in a first `concord-auth` message. No or an unknown token: closed with 4401
 *   `unauthorized: ...`; a token not allowed the document: 4403
 *   `forbidden: ...` (clients in the 4400-4499 range stop retrying). A read-only token receives
 *   everything; its changes are answered "permission denied" and never applied (`write-gate.ts`).
 *   Without `auth` anyone who reaches the address can read and write every document.
 * - `maxConnections`: counts connections admitted to a room (refused ones are not); one more is closed
 *   with 1013 "try again later" (transient: clients retry with backoff) before it joins its room.
 * - `maxDocBytes`: a client change that would take a document past it is refused, its connection
 *   closed with 4413 `document too large: ...`; the document and other connections are untouched.
 * - `maxMessageBytes`: a larger WebSocket message closes its connection with 1009.
 * - `maxBufferedBytes`: a client reading slower than its room writes is cut once that much waits
 *   to be sent to it (it reconnects and resyncs), so one slow reader can't exhaust memory;
 *   `maxTotalBufferedBytes` bounds the sum over every connection: past it, the biggest holders are
 *   cut. A cut releases the connection's buffers at once.
 * - `tls`: an `https` server; the URL is `wss://`.
 *
 * Not here yet: rate limits (per room and per connection).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { mkdir, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { systemClock, type Clock } from "../clock.js";
import { ConcordError, isConcordError } from "../errors.js";
import { asPeerId } from "../ids.js";
import { fileStorage } from "../storage/file-storage.js";
import { MAX_DOC_ID_LENGTH } from "../storage/log-limits.js";
import type { Persistence } from "../storage/storage.js";
import { listenOn, pathOf, respond } from "../net/http-endpoint.js";
import { Admission, DEFAULT_AUTH_TIMEOUT_MS, type Authenticate, type AuthReload } from "./admission.js";

export type { Authenticate, AuthRequest } from "./admission.js";
export type { AuthDecision } from "../ops/auth.js";
import { loadAuthFile, parseAuthConfig, type Access, type AuthConfig } from "../ops/auth.js";
import { ServerLog, stderrLogSink, type LogSink } from "../ops/log.js";
import { serverMetricFamilies, ServerMetrics, type MetricsSnapshot } from "./metrics.js";
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from "../ops/prometheus.js";
import { CloseCode, Rooms, type FailedDocument, type RoomHooks, type RoomInfo } from "./rooms.js";
import type { ScaleOut, SharedHealth } from "./scale-out.js";

export type { DocumentChange, RoomHooks } from "./rooms.js";
import { BufferBudget } from "./buffer-budget.js";
import { SocketConnection } from "./socket-connection.js";
import { loadStaticFiles, type StaticFile, type StaticFiles } from "./static-files.js";

/** Default `host`: this machine only. */
export const DEFAULT_HOST = "127.0.0.1";
/** Default `port`. */
export const DEFAULT_PORT = 4321;
/** Default `dataDir`, relative to the working directory. */
export const DEFAULT_DATA_DIR = "./concord-data";
/** Default `idleUnloadMs`: 30 s. */
export const DEFAULT_IDLE_UNLOAD_MS = 30_000;
/** Default `maxMessageBytes`: 10 MiB. */
export const DEFAULT_SERVER_MAX_MESSAGE_BYTES = 10 * 1024 * 1024;
/** Default `maxConnections`. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Default `maxDocBytes`: 64 MiB. */
export const DEFAULT_MAX_DOC_BYTES = 64 * 1024 * 1024;
/** Default `maxBufferedBytes`: 128 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;
/** Default `maxTotalBufferedBytes`: 512 MiB. */
export const DEFAULT_MAX_TOTAL_BUFFERED_BYTES = 512 * 1024 * 1024;
/** Default `shutdownTimeoutMs`: 5 s. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5_000;

/** Options of {@link startServer}. Every one has a default that works. */
export interface ServerOptions {
  /** Interface to listen on. Default `127.0.0.1` (this machine only); `0.0.0.0` for every interface. */
  readonly host?: string;
  /** TCP port, 0 to 65535; 0 picks a free one (read it from `SyncServer.port`). Default 4321. */
  readonly port?: number;
  /** Folder of the documents (`fileStorage(dataDir)`), created if missing. Default `./concord-data`. */
  readonly dataDir?: string;
  /** Storage of the documents, instead of `fileStorage(dataDir)` (tests: `memoryStorage()`). */
  readonly persistence?: Persistence;
  /**
   * Scale-out (`connectScaleOut` in `hub/scale-out.ts`: Redis and PostgreSQL): documents live in the
   * shared engines instead of `persistence`/`dataDir`, and every instance serves every document.
   * The server closes it when it stops.
   */
  readonly scaleOut?: ScaleOut;
  /** A room with no connection is unloaded (its store closed, storage flushed) after this many ms. Default 30 000. */
  readonly idleUnloadMs?: number;
  /**
   * Largest WebSocket message accepted, in bytes (`ws`'s `maxPayload`); a larger one closes its
   * connection with 1009. Default 10 MiB.
   */
  readonly maxMessageBytes?: number;
  /**
   * At shutdown, how long to wait for clients to answer the close handshake before cutting their
   * sockets, in ms. Default 5 000.
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * Who may open which document: an {@link AuthConfig} (`{ tokens: { "<token>": { docs, access } } }`,
   * format in `auth.ts`), or the path of a JSON file holding one (read at start and by
   * {@link SyncServer.reloadAuth}). Clients send their token as `?token=` or in a first
   * `concord-auth` message (see `admission.ts`). Missing or unknown token: closed with 4401; token not allowed the
   * document: 4403; `access: "read-only"`: the connection gets everything, its changes are answered
   * "permission denied" and never applied. Default: none, anyone may read and write everything.
   */
  readonly auth?: AuthConfig | string;
  /**
   * The app's own check of who may open which document (a JWT, a session store...), instead of
   * `auth`: see {@link Authenticate}. It gets the document, the token (`?token=` or a first
   * `concord-auth` message), the request's headers and the client's address.
   */
  readonly authenticate?: Authenticate;
  /**
   * Bytes queued for one connection (not yet taken by its TCP socket) past which it is cut as too
   * slow a reader (its buffers released at once); it reconnects and resyncs. Must exceed the largest
   * message the server sends (a document's sync step 2, up to `maxDocBytes`). Default 128 MiB.
   */
  readonly maxBufferedBytes?: number;
  /**
   * Bytes queued for all connections together past which the connections holding the most are cut
   * (their buffers released at once) until the sum is under it: what bounds the server's memory
   * for unsent data however many clients stop reading. At least `maxBufferedBytes`. Default 512 MiB.
   */
  readonly maxTotalBufferedBytes?: number;
  /** How long a connection without `?token=` may take to send its `concord-auth` message, in ms. Default 10 000. */
  readonly authTimeoutMs?: number;
  /**
   * Most WebSocket connections in rooms at once (connections refused for their room name or token
   * don't count); one more is closed with 1013 "try again later" (clients retry with backoff).
   * Default 10 000.
   */
  readonly maxConnections?: number;
  /**
   * Largest a document may grow, in bytes, estimated as its storage's snapshot plus log bytes. A
   * client change that would take it past this is refused, never applied, and its connection closed
   * with 4413. Changes already stored are kept; compaction may bring the estimate back down.
   * Default 64 MiB.
   */
  readonly maxDocBytes?: number;
  /** Serve over TLS (`wss://`): PEM certificate (chain) and private key. Default plain `ws://`. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Time source of idle unloads, shutdown and the stores' timers. Default the platform clock. */
  readonly clock?: Clock;
  /** Where structured log entries go (`log.ts`). Default: JSON lines on stderr. */
  readonly onLog?: LogSink;
  /**
   * A folder of files to serve over plain HTTP at `/` beside the rooms (a web app's built files:
   * `concord serve` serves its demo app this way): read once at start, at most 32 MiB in all;
   * `/` and a folder's path answer its `index.html`. Default: none (`/` answers 404).
   */
  readonly staticDir?: string;
  /** A client's change, once durable on the server; see {@link RoomHooks} (a throw is logged, never blocks data). */
  readonly onChange?: RoomHooks["onChange"];
  /** A document was loaded for its first connection. */
  readonly onLoad?: RoomHooks["onLoad"];
  /** A document was unloaded, flushed. */
  readonly onUnload?: RoomHooks["onUnload"];
}

/** A snapshot of the server's state. */
export interface ServerStats {
  /** Documents loaded in memory (rooms open or unloading). */
  readonly documents: number;
  /** WebSocket connections open (joined to a room or not yet). */
  readonly connections: number;
  /** Bytes waiting to be sent to every connection, as last seen, and the cap on them. */
  readonly buffered: { readonly bytes: number; readonly max: number; readonly dropped: number };
  readonly rooms: readonly RoomInfo[];
  readonly metrics: MetricsSnapshot;
}

/** What `/healthz` answers (see {@link SyncService.health}). */
export interface ServerHealth {
  /**
   * `ok`; `degraded` while documents fail to open for their data (`Corrupt`: the others are
   * served); `failing` while one fails for its storage (`Io`: a disk refusing writes fails them
   * all); `closing` during shutdown.
   */
  readonly status: "ok" | "degraded" | "failing" | "closing";
  readonly documents: number;
  readonly connections: number;
  /** Documents whose last open failed (the latest 100), when there are any. */
  readonly failedDocuments?: readonly FailedDocument[];
  /** With scale-out: the shared engines (either down makes the status `failing`) and the other instances. */
  readonly shared?: SharedHealth;
}

/** The sync service itself, listening on its own port ({@link SyncServer}) or attached to an app's ({@link attachServer}). */
export interface SyncService {
  stats(): ServerStats;
  /** What `/healthz` answers; an app serving its own health endpoint answers with this (HTTP 503 unless `ok` or `degraded`). */
  health(): ServerHealth;
  /**
   * Re-reads the auth file given as `auth` (the CLI does it on SIGHUP). Open connections the new
   * table refuses are closed (4401/4403); those it gives another access are closed with 1012 so
   * they reconnect with it. A bad file changes nothing.
   * @throws ConcordError `InvalidArgument` without an auth file, or naming the file's problem.
   */
  reloadAuth(): AuthReload;
  /**
   * Graceful shutdown: stops accepting connections, closes every connection with 1001 (going away)
   * and waits for it (frames already sent by clients are still persisted), closes every room's
   * store (flushing its storage), then the HTTP server. Rejects, after doing all of that, if a
   * store failed to close (its last updates may not be durable). Idempotent. An attached
   * service leaves the app's HTTP server running (it stops taking upgrades).
   */
  close(): Promise<void>;
}

/** A running sync server on its own port. */
export interface SyncServer extends SyncService {
  /** `ws://host:port` (`wss://` with `tls`); a client connects to `${url}/${encodeURIComponent(room)}`. */
  readonly url: string;
  readonly host: string;
  /** The port listened on (the one picked when `port` was 0). */
  readonly port: number;
}

/** Options of {@link attachServer}: those of {@link startServer} but the listening ones, and a path. */
export interface AttachOptions extends Omit<ServerOptions, "host" | "port" | "tls" | "staticDir"> {
  /**
   * Where the rooms live on the app's server: `/sync` serves `ws://<app>/sync/<room>`; upgrade
   * requests outside it are left to the app's other `upgrade` listeners. Default `/` (every path).
   */
  readonly path?: string;
}

interface ResolvedOptions {
  readonly host: string;
  readonly port: number;
  readonly persistence: Persistence;
  readonly scaleOut: ScaleOut | undefined;
  readonly dataDir: string | undefined;
  readonly staticDir: string | undefined;
  readonly idleUnloadMs: number;
  readonly maxMessageBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly auth: AuthConfig | undefined;
  readonly authenticate: Authenticate | undefined;
  readonly authFile: string | undefined;
  readonly authTimeoutMs: number;
  readonly maxBufferedBytes: number;
  readonly maxTotalBufferedBytes: number;
  readonly maxConnections: number;
  readonly maxDocBytes: number;
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined;
  readonly clock: Clock;
  readonly onLog: LogSink;
  readonly hooks: RoomHooks;
}

/**
 * Starts a sync server and resolves once it listens.
 * @throws ConcordError `InvalidArgument` for an option out of range (naming it), an auth file that
 *   can't be read or is not the format (naming the file and the problem), or a TLS certificate or
 *   key node refuses; `Io` when the address can't be listened on (port in use, no such interface,
 *   permission denied).
 */
export async function startServer(options: ServerOptions = {}): Promise<SyncServer> {
  const resolved = resolveOptions(options);
  if (resolved.dataDir !== undefined) await checkDataDir(resolved.dataDir);
  const files = resolved.staticDir === undefined ? undefined : await loadStaticFiles(resolved.staticDir);
  const server = new SyncServerImpl(resolved, { kind: "own", files });
  await server.listen();
  return server;
}

/**
 * Serves the rooms on an app's own HTTP(S) server (Node's, Express's or Fastify's underlying
 * `http.Server`), sharing its port: WebSocket upgrades under `options.path` become connections to
 * rooms (`<path>/<room>`), everything else stays the app's. The app serves its own HTTP routes
 * (health: {@link SyncService.health}). Same auth, limits, logs and metrics as {@link startServer}.
 * @throws ConcordError `InvalidArgument` for an option out of range or a `path` not starting with
 *   `/`; `Io` for a data folder it cannot create files in.
 */
export async function attachServer(http: Server, options: AttachOptions = {}): Promise<SyncService> {
  if (typeof http !== "object" || http === null || typeof (http as Partial<Server>).on !== "function") {
    throw new ConcordError("InvalidArgument", "attachServer needs a node:http (or https) Server, such as the one app.listen() returns");
  }
  const path = options.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/") || /[?#]/.test(path)) throw invalid("path", path, "a URL path starting with /");
  const resolved = resolveOptions(options);
  if (resolved.dataDir !== undefined) await checkDataDir(resolved.dataDir);
  return new SyncServerImpl(resolved, { kind: "attached", http, prefix: path.replace(/\/+$/, "") });
}

/** Whose HTTP server the service runs on: its own (with the static files it serves), or an app's under a path prefix. */
type Host = { readonly kind: "own"; readonly files: StaticFiles | undefined } | { readonly kind: "attached"; readonly http: Server; readonly prefix: string };

function resolveOptions(options: ServerOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) throw new ConcordError("InvalidArgument", "startServer takes an options object");
  const host = options.host ?? DEFAULT_HOST;
  if (typeof host !== "string" || host.length === 0) throw invalid("host", host, "a non-empty host name or address");
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid("port", port, "an integer from 0 to 65535");
  const idleUnloadMs = options.idleUnloadMs ?? DEFAULT_IDLE_UNLOAD_MS;
  if (!Number.isSafeInteger(idleUnloadMs) || idleUnloadMs < 0) throw invalid("idleUnloadMs", idleUnloadMs, "an integer >= 0");
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_SERVER_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) throw invalid("maxMessageBytes", maxMessageBytes, "an integer >= 1");
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  if (!Number.isSafeInteger(shutdownTimeoutMs) || shutdownTimeoutMs < 0) {
    throw invalid("shutdownTimeoutMs", shutdownTimeoutMs, "an integer >= 0");
  }
  const persistence = options.persistence;
  if (persistence !== undefined && (typeof persistence !== "object" || persistence === null || typeof persistence.open !== "function")) {
    throw invalid("persistence", persistence, "a storage such as fileStorage(dir) or memoryStorage()");
  }
  const scaleOut = options.scaleOut;
  if (scaleOut !== undefined && (typeof scaleOut !== "object" || scaleOut === null || typeof scaleOut.linker?.attach !== "function")) {
    throw invalid("scaleOut", scaleOut, "what connectScaleOut() resolves with");
  }
  if (scaleOut !== undefined && persistence !== undefined) {
    throw new ConcordError("InvalidArgument", "startServer: give persistence or scaleOut, not both (scale-out stores documents in its shared engines)");
  }
  const dataDir = persistence === undefined && scaleOut === undefined ? (options.dataDir ?? DEFAULT_DATA_DIR) : undefined;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1) throw invalid("maxConnections", maxConnections, "an integer >= 1");
  const maxDocBytes = options.maxDocBytes ?? DEFAULT_MAX_DOC_BYTES;
  if (!Number.isSafeInteger(maxDocBytes) || maxDocBytes < 1) throw invalid("maxDocBytes", maxDocBytes, "an integer >= 1");
  const auth =
    options.auth === undefined ? undefined : typeof options.auth === "string" ? loadAuthFile(options.auth) : parseAuthConfig(options.auth, "startServer: auth");
  if (options.authenticate !== undefined) {
    if (typeof options.authenticate !== "function") throw invalid("authenticate", options.authenticate, "a function (request) => decision");
    if (options.auth !== undefined) throw new ConcordError("InvalidArgument", "startServer: give auth (a token file or table) or authenticate (your own check), not both");
  }
  const authTimeoutMs = options.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS;
  if (!Number.isSafeInteger(authTimeoutMs) || authTimeoutMs < 1) throw invalid("authTimeoutMs", authTimeoutMs, "an integer >= 1");
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  if (!Number.isSafeInteger(maxBufferedBytes) || maxBufferedBytes < 1) throw invalid("maxBufferedBytes", maxBufferedBytes, "an integer >= 1");
  const maxTotalBufferedBytes = options.maxTotalBufferedBytes ?? Math.max(DEFAULT_MAX_TOTAL_BUFFERED_BYTES, maxBufferedBytes);
  if (!Number.isSafeInteger(maxTotalBufferedBytes) || maxTotalBufferedBytes < maxBufferedBytes) {
    throw invalid("maxTotalBufferedBytes", maxTotalBufferedBytes, `an integer >= maxBufferedBytes (${maxBufferedBytes})`);
  }
  const staticDir = options.staticDir;
  if (staticDir !== undefined && (typeof staticDir !== "string" || staticDir.length === 0)) throw invalid("staticDir", staticDir, "a folder path");
  const tls = options.tls;
  if (tls !== undefined) {
    const pem = (v: unknown): boolean => (typeof v === "string" && v.length > 0) || (Buffer.isBuffer(v) && v.length > 0);
    if (typeof tls !== "object" || tls === null || !pem(tls.cert) || !pem(tls.key)) {
      throw new ConcordError("InvalidArgument", "startServer: tls must be { cert, key }, each a non-empty PEM string or Buffer");
    }
  }
  return {
    host,
    port,
    // fsync "always" is adaptive group commit: an idle server syncs a client's update at once
    // (latency: it forwards only after), a busy one batches behind the sync in flight (throughput).
    // The timer-based default would add its whole window to every update's trip on an idle server.
    persistence: scaleOut?.persistence ?? persistence ?? fileStorage(dataDir!, { fsync: "always" }),
    scaleOut,
    dataDir,
    idleUnloadMs,
    maxMessageBytes,
    shutdownTimeoutMs,
    auth,
    authenticate: options.authenticate,
    authFile: typeof options.auth === "string" ? options.auth : undefined,
    authTimeoutMs,
    maxBufferedBytes,
    maxTotalBufferedBytes,
    maxConnections,
    maxDocBytes,
    tls,
    clock: options.clock ?? systemClock,
    onLog: options.onLog ?? stderrLogSink,
    staticDir,
    hooks: resolveHooks(options),
  };
}

/**
 * Refuses to start on a data folder the server could not store documents in: creates it if
 * missing, then writes, fsyncs and removes a probe file. (Without this a server on a read-only or
 * foreign folder would say "listening", then fail every document.)
 * @throws ConcordError `Io` naming the folder and the system's code.
 */
async function checkDataDir(dir: string): Promise<void> {
  const probe = join(dir, `.concord-probe-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(probe, "w");
    try {
      await handle.writeFile("probe");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await unlink(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new ConcordError("Io", `data folder ${dir} is not usable: ${code} (${(error as Error).message}); the server stores documents there, so it must be a folder it can create files in`, { dir, code }, { cause: error });
  }
}

/** Answers with a static file; browsers revalidate it (`no-cache`), and never sniff its type. */
function respondFile(res: ServerResponse, method: string, file: StaticFile): void {
  res.writeHead(200, {
    "content-type": file.contentType,
    "content-length": file.body.byteLength,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  });
  res.end(method === "HEAD" ? undefined : file.body);
}

function resolveHooks(options: ServerOptions): RoomHooks {
  const hooks: { -readonly [K in keyof RoomHooks]: RoomHooks[K] } = {};
  for (const name of ["onChange", "onLoad", "onUnload"] as const) {
    const hook = options[name];
    if (hook === undefined) continue;
    if (typeof hook !== "function") throw invalid(name, hook, "a function");
    hooks[name] = hook as never;
  }
  return hooks;
}

function invalid(name: string, value: unknown, expected: string): ConcordError {
  return new ConcordError("InvalidArgument", `startServer: ${name} must be ${expected}, got ${String(value)}`, { [name]: value });
}

/**
 * The room a WebSocket request asks for: its path without the leading "/" (and without the query),
 * percent-decoded. `{ error }` for an empty, undecodable or over-long name.
 */
export function roomOf(requestUrl: string | undefined): { readonly doc: string } | { readonly error: string } {
  const path = (requestUrl ?? "").split(/[?#]/, 1)[0] ?? "";
  if (!path.startsWith("/")) return { error: "the request path must start with /" };
  let doc: string;
  try {
    doc = decodeURIComponent(path.slice(1));
  } catch {
    return { error: "the room name in the path is not valid percent-encoded UTF-8" };
  }
  if (doc.length === 0) return { error: "no room name: connect to ws://host:port/<room>" };
  if (doc.length > MAX_DOC_ID_LENGTH) return { error: `the room name is longer than ${MAX_DOC_ID_LENGTH} characters` };
  return { doc };
}

class SyncServerImpl implements SyncServer {
  host: string;
  port = 0;
  url = "";
  readonly #options: ResolvedOptions;
  readonly #log: ServerLog;
  readonly #metrics = new ServerMetrics();
  readonly #rooms: Rooms;
  readonly #admission: Admission;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<SocketConnection>();
  readonly #budget: BufferBudget;
  /** Connections admitted (under `maxConnections`) and not yet closed. */
  #admitted = 0;
  #connectionSeq = 0;
  #closing: Promise<void> | undefined;
  readonly #host: Host;
  readonly #upgradeListener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

  constructor(options: ResolvedOptions, host: Host) {
    this.#options = options;
    this.#host = host;
    this.host = options.host;
    this.#log = new ServerLog(options.onLog);
    this.#budget = new BufferBudget(options.maxTotalBufferedBytes, () => options.clock.now());
    this.#rooms = new Rooms({
      persistence: options.persistence,
      idleUnloadMs: options.idleUnloadMs,
      maxMessageBytes: options.maxMessageBytes,
      maxDocBytes: options.maxDocBytes,
      clock: options.clock,
      log: this.#log,
      metrics: this.#metrics,
      hooks: options.hooks,
      ...(options.scaleOut ? { linker: options.scaleOut.linker } : {}),
    });
    this.#admission = new Admission(options.authenticate ?? options.auth, options.authFile, options.authTimeoutMs, options.clock, this.#log, this.#metrics);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.#onRequest(req, res);
    if (host.kind === "attached") {
      this.#http = host.http;
    } else if (options.tls === undefined) {
      this.#http = createHttpServer(onRequest);
    } else {
      try {
        this.#http = createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest);
      } catch (error) {
        throw new ConcordError("InvalidArgument", `startServer: tls: the certificate or key is not usable: ${(error as Error).message}`, {}, { cause: error });
      }
      // A client that fails the handshake (wrong CA, plain HTTP on the TLS port) is its own problem.
      this.#http.on("tlsClientError", (error: Error) => this.#log.debug("tls.client_error", { error }));
    }
    if (host.kind === "attached") {
      this.#log.info("server.attached", { path: host.prefix === "" ? "/" : host.prefix, storage: options.persistence.name, auth: options.authenticate ? "hook" : options.auth ? "tokens" : "none (open to anyone)" });
    }
    this.#upgradeListener = this.#guard("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#http.on("upgrade", this.#upgradeListener);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, clientTracking: false });
    this.#wss.on("error", (error) => this.#log.error("server.error", { error }));
  }

  async listen(): Promise<void> {
    const { host, port } = this.#options;
    const listening = await listenOn(this.#http, host, port, this.#options.tls !== undefined);
    this.#http.on("error", (error) => this.#log.error("server.error", { error }));
    this.port = listening.port;
    this.url = listening.url;
    this.#log.info("server.listening", {
      url: this.url,
      storage: this.#options.persistence.name,
      idleUnloadMs: this.#options.idleUnloadMs,
      maxMessageBytes: this.#options.maxMessageBytes,
      maxConnections: this.#options.maxConnections,
      maxDocBytes: this.#options.maxDocBytes,
      auth: this.#options.authenticate ? "hook" : this.#options.auth ? "tokens" : "none (open to anyone)",
      tls: this.#options.tls !== undefined,
    });
  }

  stats(): ServerStats {
    return {
      documents: this.#rooms.loaded,
      connections: this.#sockets.size,
      buffered: { bytes: this.#budget.total, max: this.#budget.max, dropped: this.#budget.dropped },
      rooms: this.#rooms.rooms(),
      metrics: this.#metrics.snapshot(),
    };
  }

  reloadAuth(): AuthReload {
    return this.#admission.reload();
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const log = this.#log;
    log.info("server.closing", { connections: this.#sockets.size, documents: this.#rooms.loaded });
    const owned = this.#host.kind === "own";
    const httpClosed = owned ? new Promise<void>((resolve) => this.#http.close(() => resolve())) : Promise.resolve();
    if (owned) this.#http.closeIdleConnections();
    const sockets = [...this.#sockets];
    for (const socket of sockets) socket.close(CloseCode.goingAway, "server shutting down");
    await Promise.all(sockets.map((socket) => socket.closedWithin(this.#options.shutdownTimeoutMs, this.#options.clock)));
    let failure: unknown;
    try {
      await this.#rooms.close();
    } catch (error) {
      failure = error;
    }
    await this.#options.scaleOut?.close().catch((error: unknown) => (failure ??= error));
    // Connections accepted while this ran (their upgrade was under way) were refused with 1001.
    for (const socket of [...this.#sockets]) socket.terminate();
    this.#wss.close();
    if (owned) this.#http.closeAllConnections();
    else this.#http.off("upgrade", this.#upgradeListener);
    await httpClosed;
    log.info("server.closed", failure === undefined ? {} : { error: failure });
    if (failure !== undefined) throw failure;
  }

  // --- HTTP --------------------------------------------------------------------------------

  /**
   * `/healthz`: `ok`; `degraded` (200) while documents fail to open for their data (`Corrupt`: the
   * others are served); `failing` (503) while one fails for its storage (`Io`: a disk refusing
   * writes fails them all); `closing` (503) during shutdown. Failed documents are listed.
   */
  health(): ServerHealth {
    const failed = this.#rooms.failures();
    const shared = this.#options.scaleOut?.health();
    const enginesDown = shared !== undefined && (!shared.log.up || !shared.snapshots.up);
    const status =
      this.#closing !== undefined ? "closing" : enginesDown || failed.some((f) => f.code === "Io") ? "failing" : failed.length > 0 ? "degraded" : "ok";
    const health = { status, documents: this.#rooms.loaded, connections: this.#sockets.size, ...(shared ? { shared } : {}) } as const;
    return failed.length > 0 ? { ...health, failedDocuments: failed } : health;
  }

  #sharedGauges(): { shared?: { logUp: boolean; snapshotsUp: boolean; instances: number } } {
    const shared = this.#options.scaleOut?.health();
    return shared === undefined ? {} : { shared: { logUp: shared.log.up, snapshotsUp: shared.snapshots.up, instances: shared.instances.length } };
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const path = pathOf(req.url);
      const method = req.method ?? "GET";
      if ((method === "GET" || method === "HEAD") && path === "/healthz") {
        const health = this.health();
        const status = health.status === "ok" || health.status === "degraded" ? 200 : 503;
        return respond(res, method, status, "application/json; charset=utf-8", JSON.stringify(health));
      }
      if ((method === "GET" || method === "HEAD") && path === "/metrics") {
        const body = renderMetrics(serverMetricFamilies(this.#metrics.snapshot(), {
          documentsLoaded: this.#rooms.loaded,
          connections: this.#sockets.size,
          bufferedBytes: this.#budget.total,
          bufferDrops: this.#budget.dropped,
          ...this.#sharedGauges(),
        }));
        return respond(res, method, 200, PROMETHEUS_CONTENT_TYPE, body);
      }
      const files = this.#host.kind === "own" ? this.#host.files : undefined;
      const file = method === "GET" || method === "HEAD" ? files?.get(path) : undefined;
      if (file !== undefined) return respondFile(res, method, file);
      respond(res, method, 404, "text/plain; charset=utf-8", "not found: this is a Concord sync server (WebSocket at /<room>, GET /healthz, GET /metrics)\n");
    } catch (error) {
      this.#log.error("handler.error", { handler: "request", error });
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }

  // --- WebSocket ---------------------------------------------------------------------------

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Attached: upgrades outside our path are the app's.
    if (this.#host.kind === "attached" && this.#roomPath(req.url) === undefined) return;
    if (this.#closing) {
      this.#metrics.rejectedConnection("shutting_down");
      socket.on("error", () => undefined);
      socket.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    // Refusals (capacity, room name, token) happen once upgraded: a close code is what clients read.
    this.#wss.handleUpgrade(req, socket, head, this.#guard("connection", (ws: WebSocket) => this.#onConnection(ws, req)));
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    const peer = asPeerId(`c${++this.#connectionSeq}`);
    const room = roomOf(this.#roomPath(req.url));
    const connection = new SocketConnection(ws, peer, "doc" in room ? room.doc : undefined, this.#log, this.#metrics, this.#options.maxBufferedBytes, this.#budget, () => {
      this.#sockets.delete(connection);
      this.#admission.forget(connection);
      if (connection.admitted) this.#admitted--;
    });
    this.#sockets.add(connection);
    ws.on(
      "message",
      this.#guard(
        "message",
        (data: RawData, isBinary: boolean) => connection.onMessage(data, isBinary),
        () => connection.close(CloseCode.internalError, "internal error"),
      ),
    );
    ws.on("close", this.#guard("close", (code: number, reason: Buffer) => connection.onClose(code, reason)));
    ws.on("error", this.#guard("socket-error", (error: Error) => connection.onError(error)));

    if (this.#closing) {
      this.#metrics.rejectedConnection("shutting_down");
      connection.close(CloseCode.goingAway, "server shutting down");
      return;
    }
    // The query holds the token: never log it.
    const path = pathOf(req.url);
    if ("error" in room) {
      this.#metrics.rejectedConnection("bad_room");
      this.#log.warn("conn.rejected", { conn: peer, reason: "bad_room", path, message: room.error });
      connection.close(CloseCode.protocolError, room.error);
      return;
    }
    this.#admission.check(connection, room.doc, req.url, req.socket.remoteAddress, (access) => this.#admit(connection, room.doc, access, req), req.headers);
  }

  #admit(connection: SocketConnection, doc: string, access: Access, req: IncomingMessage): void {
    const peer = connection.peer;
    const room = { doc };
    if (connection.isClosing) return; // closed while its token was awaited
    if (this.#closing) {
      this.#metrics.rejectedConnection("shutting_down");
      connection.close(CloseCode.goingAway, "server shutting down");
      return;
    }
    // Only connections about to join a room count: refused ones are closing already.
    if (this.#admitted >= this.#options.maxConnections) {
      this.#metrics.rejectedConnection("over_capacity");
      this.#log.warn("conn.rejected", { doc: room.doc, conn: peer, reason: "over_capacity", maxConnections: this.#options.maxConnections });
      connection.close(CloseCode.tryAgainLater, `try again later: the server is at its limit of ${this.#options.maxConnections} connections`);
      return;
    }
    connection.admitted = true;
    this.#admitted++;
    this.#log.info("conn.open", { doc: room.doc, conn: peer, remote: req.socket.remoteAddress, access });
    connection.pauseUntilJoined();
    this.#rooms.join(room.doc, connection, access).then(
      (member) => this.#guard("joined", () => connection.joined(member))(),
      (error: unknown) =>
        this.#guard("join-failed", () => {
          if (isConcordError(error, "Closed")) {
            this.#metrics.rejectedConnection("shutting_down");
            connection.close(CloseCode.goingAway, "server shutting down");
            return;
          }
          this.#metrics.rejectedConnection("open_failed");
          const code = isConcordError(error) ? error.code : "error";
          // A name the storage refuses is the client's mistake; anything else is ours (retry later).
          connection.close(
            isConcordError(error, "InvalidArgument") ? CloseCode.protocolError : CloseCode.internalError,
            `could not open the document (${code})`,
          );
        })(),
    );
  }

  /** The request URL as the rooms see it: without the attached path prefix; undefined outside it. */
  #roomPath(requestUrl: string | undefined): string | undefined {
    if (this.#host.kind === "own" || this.#host.prefix === "") return requestUrl;
    const url = requestUrl ?? "";
    const prefix = this.#host.prefix;
    return url.startsWith(`${prefix}/`) ? url.slice(prefix.length) : undefined;
  }

  /**
   * `fn`, with whatever it throws logged as `handler.error` instead of thrown (a bug in Concord,
   * never bad input: that is refused without throwing); then `recover` runs, if given.
   */
  #guard<A extends unknown[]>(handler: string, fn: (...args: A) => void, recover?: () => void): (...args: A) => void {
    return (...args: A): void => {
      try {
        fn(...args);
      } catch (error) {
        this.#log.error("handler.error", { handler, error });
        try {
          recover?.();
        } catch {
          // Nothing left to try; the error is logged.
        }
      }
    };
  }
}

