/**
 * A {@link NodeLink} over a WebSocket to a node's `/client` endpoint: the WebSocket client
 * transport of `net/websocket-client.ts` (reconnecting with exponential backoff and jitter; the
 * browser's `WebSocket` or the `ws` package), whose failed attempts the link hears with their close
 * code and reason.
 */
import type { Clock } from "../clock.js";
import { asPeerId } from "../ids.js";
import { webSocketClient, type WebSocketBackoffOptions, type WebSocketConstructorLike } from "../net/websocket-client.js";
import type { Rng } from "../rng.js";
import type { LinkEvents } from "./node-client.js";
import { NodeLink } from "./node-link.js";

/** How a client reaches its nodes over WebSockets. */
export interface WebSocketLinkOptions {
  readonly clock: Clock;
  /** Reconnect jitter. Default seeded from `Math.random`. */
  readonly rng?: Rng | undefined;
  /** Reconnect backoff. Defaults of the WebSocket transport (100 ms to 10 s). */
  readonly backoff?: WebSocketBackoffOptions | undefined;
  /** WebSocket constructor. Default `globalThis.WebSocket`, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructorLike | undefined;
  /** The client's token, sent as `?token=` (the node's auth file knows it). */
  readonly token?: string | undefined;
}

/** The node's peer id on a link's transport: the only peer there. */
const NODE = asPeerId("node");

/**
 * Opens a link to the node at base URL `url` (ws://host:port): connects to `<url>/client` in the
 * background, handing `events` what {@link NodeLink} hears.
 */
export function webSocketLink(url: string, o: WebSocketLinkOptions, events: LinkEvents): NodeLink {
  let link: NodeLink | undefined;
  const transport = webSocketClient({
    url: o.token === undefined ? `${url}/client` : `${url}/client?token=${encodeURIComponent(o.token)}`,
    self: asPeerId("client"),
    serverPeer: NODE,
    clock: o.clock,
    ...(o.rng === undefined ? {} : { rng: o.rng }),
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    ...(o.WebSocket === undefined ? {} : { WebSocket: o.WebSocket }),
    onClose: (info) => link?.connectionFailed(`${info.code}${info.reason === "" ? "" : ` ${info.reason}`}`, info.code),
  });
  link = new NodeLink({ url, transport, node: NODE, clock: o.clock, ...events });
  return link;
}
