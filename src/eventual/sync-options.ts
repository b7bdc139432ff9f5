/**
 * How an eventual store syncs: over a transport the app gives it (in-memory, simulated, its own),
 * or with a sync server at a URL (y-websocket protocol over a self-reconnecting WebSocket).
 */
import type { Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { asPeerId } from "../ids.js";
import { webSocketClient, type WebSocketBackoffOptions, type WebSocketCloseInfo, type WebSocketConstructorLike } from "../net/websocket-client.js";
import type { Rng } from "../rng.js";
import { checkSyncOptions, type TransportSyncOptions } from "./sync-driver.js";
import { encodeMessage } from "./sync/protocol.js";
import type { SyncCoreOptions } from "./sync/sync-core.js";

/** Sync with the server at `url`: `concord serve`, or any y-websocket server. */
export interface UrlSyncOptions extends Omit<SyncCoreOptions, "acks"> {
  /** ws:// or wss:// URL of the server, e.g. `ws://localhost:4321`; the store's `doc` is appended as the room. */
  readonly url: string;
  /** The bearer token, for servers started with `--auth`. Sent as {@link tokenIn} says. */
  readonly token?: string;
  /**
   * How `token` travels. `"query"` (default): as `?token=` in the URL, which every y-websocket
   * server reads. `"message"`: as the first WebSocket message (Concord's `concord-auth`
   * extension), so the token never appears in URLs that proxies and access logs record; only a
   * Concord server (`concord serve`) understands it.
   */
  readonly tokenIn?: "query" | "message";
  /** Milliseconds per core tick. Default 100. */
  readonly tickMs?: number;
  /** Reconnect backoff. Defaults 100 ms, 10 s, factor 2, jitter 0.5. */
  readonly backoff?: WebSocketBackoffOptions;
  /** WebSocket constructor; default the platform's, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructorLike;
  /** Hears every closed connection (code, reason, whether it retries): for logs and UIs. */
  readonly onClose?: (info: WebSocketCloseInfo) => void;
  /**
   * `false` opens the store offline, as y-websocket's `connect: false` does: nothing is sent until
   * `store.connect()` (an app that remembers its user's offline switch across reloads). Default true.
   */
  readonly connect?: boolean;
}

/** How an eventual store syncs. */
export type SyncOptions = TransportSyncOptions | UrlSyncOptions;

/** The peer id of the sync server: how a URL-synced store names it, and the server's own id in every room. */
export const SERVER_PEER = asPeerId("server");

/**
 * Turns `sync` into transport options, creating the WebSocket transport for a URL (it connects
 * when the driver listens). Throws `InvalidArgument` naming the option. Call after everything
 * else that may fail, since the transport is then the store's to close.
 */
export function resolveSync(sync: SyncOptions, doc: string, clock: Clock, rng: Rng | undefined): TransportSyncOptions {
  if (typeof sync === "object" && sync !== null && "url" in sync && sync.url !== undefined) {
    const { url, token, tokenIn, backoff, WebSocket, onClose, connect, ...core } = sync;
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      throw new ConcordError("InvalidArgument", `sync.url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
    if ("transport" in sync) throw new ConcordError("InvalidArgument", "sync takes either a url or a transport, not both");
    checkUrlFields(tokenIn, token, connect);
    const room = `${url.replace(/\/+$/, "")}/${encodeURIComponent(doc)}`;
    const transport = webSocketClient({
      url: room,
      serverPeer: SERVER_PEER,
      clock,
      ...(rng ? { rng } : {}),
      ...(token !== undefined && tokenIn === "message" ? { firstFrame: encodeMessage({ type: "concord-auth", token }) } : {}),
      ...(token !== undefined && tokenIn !== "message" ? { token } : {}),
      ...(backoff ? { backoff } : {}),
      ...(WebSocket ? { WebSocket } : {}),
      ...(onClose ? { onClose } : {}),
    });
    if (connect === false) transport.disconnect();
    return { ...core, transport, server: SERVER_PEER, acks: "initiate" };
  }
  checkSyncOptions(sync);
  return sync;
}

/** Validates `sync` without creating anything (before storage is opened). */
export function checkAnySyncOptions(sync: unknown): void {
  if (typeof sync === "object" && sync !== null && "url" in sync) {
    const url = (sync as { url: unknown }).url;
    if (typeof url !== "string" || !/^wss?:\/\//.test(url)) {
      throw new ConcordError("InvalidArgument", `sync.url must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
    }
    if ("transport" in sync) throw new ConcordError("InvalidArgument", "sync takes either a url or a transport, not both");
    const { tokenIn, token, connect } = sync as { tokenIn?: unknown; token?: unknown; connect?: unknown };
    checkUrlFields(tokenIn, token, connect);
    return;
  }
  checkSyncOptions(sync);
}

function checkUrlFields(tokenIn: unknown, token: unknown, connect: unknown): void {
  if (connect !== undefined && typeof connect !== "boolean") {
    throw new ConcordError("InvalidArgument", `sync.connect must be true or false, got ${JSON.stringify(connect)}`);
  }
  if (tokenIn !== undefined && tokenIn !== "query" && tokenIn !== "message") {
    throw new ConcordError("InvalidArgument", `sync.tokenIn must be "query" or "message", got ${JSON.stringify(tokenIn)}`);
  }
  if (tokenIn === "message" && (typeof token !== "string" || token === "")) {
    throw new ConcordError("InvalidArgument", `sync.tokenIn "message" needs sync.token, a non-empty string`);
  }
}
