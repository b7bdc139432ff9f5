/**
 * The options every node-backed store takes (`primary` and `strong` mode), checked and defaulted
 * the same way: the document, the session, staleness and timeout bounds, time, reconnects and where
 * errors go. Each mode's face adds its own (where writes and reads go, durability). Every refusal is
 * an `InvalidArgument` naming the option and what it must be.
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { asDocId, type DocId } from "../ids.js";
import type { WebSocketBackoffOptions, WebSocketConstructorLike } from "../net/websocket-client.js";
import type { Rng } from "../rng.js";
import type { LinkFactory } from "./node-client.js";

/** Default bound of every request, in ms. */
export const DEFAULT_NODE_TIMEOUT_MS = 10_000;

/** What every node-backed store takes, as users pass it. */
export interface NodeStoreOptions {
  /** The document: a keyspace of its own on the nodes. Non-empty, at most 255 characters. */
  readonly doc: string;
  /** Read-your-writes and monotonic reads. Default true. */
  readonly session?: boolean;
  /** A node that last heard its primary or leader longer ago answers `Stale` (ms). Default: no bound. */
  readonly maxStalenessMs?: number;
  /** Bound of every request, ms (> 0), retries and discovery included. Default {@link DEFAULT_NODE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Time of timeouts and reconnects. Default the platform clock. */
  readonly clock?: Clock;
  /** Reconnect jitter. Default seeded from `Math.random`. */
  readonly rng?: Rng;
  /** Reconnect backoff of every link. Defaults of the WebSocket transport (100 ms to 10 s). */
  readonly backoff?: WebSocketBackoffOptions;
  /** WebSocket constructor. Default `globalThis.WebSocket`, else the `ws` package. */
  readonly WebSocket?: WebSocketConstructorLike;
  /** Where a throwing subscriber, or a subscription that could not catch up, is reported. Default `console.error`. */
  readonly onError?: (error: unknown) => void;
  /** The token the nodes' auth file knows this client by (sent as `?token=`). Default none. */
  readonly token?: string;
  /**
   * How the store reaches a node (advanced): by default a WebSocket to `<url>/client`. The
   * simulator and `concord lab` pass links over their own transports.
   */
  readonly links?: LinkFactory;
}

/** {@link NodeStoreOptions} checked and defaulted. */
export interface ResolvedNodeStoreOptions {
  readonly doc: DocId;
  readonly session: boolean;
  readonly maxStalenessMs: number | null;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  readonly rng: Rng | undefined;
  readonly backoff: WebSocketBackoffOptions | undefined;
  readonly WebSocket: WebSocketConstructorLike | undefined;
  readonly token: string | undefined;
  readonly links: LinkFactory | undefined;
}

/** The `InvalidArgument` of `option` of a `mode` store, showing what it was and what it must be. */
export function invalidOption(mode: string, option: string, value: unknown, expected: string): ConcordError {
  const shown = typeof value === "function" ? "a function" : (JSON.stringify(value) ?? String(value));
  return new ConcordError("InvalidArgument", `openStore (${mode}): ${option} must be ${expected}, got ${shown}`, { option });
}

/** `value` as a node's normalized base URL `ws://host:port`. @throws ConcordError `InvalidArgument` naming `option`. */
export function nodeUrl(mode: string, value: unknown, option: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(value));
  } catch {
    throw invalidOption(mode, option, value, "a node's base URL, ws://host:port");
  }
  if (typeof value !== "string" || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "" || parsed.hash !== "") {
    throw invalidOption(mode, option, value, "a node's base URL, ws://host:port (or wss://), with no path or query");
  }
  return `${parsed.protocol}//${parsed.host}`;
}

/** Each of `values` as a node URL (see {@link nodeUrl}), every node once. */
export function nodeUrls(mode: string, values: readonly unknown[], option: string, before: readonly string[] = []): string[] {
  const seen = new Set(before);
  return values.map((v, i) => {
    const url = nodeUrl(mode, v, `${option}[${i}]`);
    if (seen.has(url)) throw invalidOption(mode, `${option}[${i}]`, v, "a URL not listed before (each node once)");
    seen.add(url);
    return url;
  });
}

/**
 * Checks and defaults what every node-backed store takes.
 * @throws ConcordError `InvalidArgument` naming the first option that makes no sense.
 */
export function resolveNodeStoreOptions(mode: string, o: NodeStoreOptions): ResolvedNodeStoreOptions {
  const { doc, session, maxStalenessMs, timeoutMs, clock, onError } = o;
  if (typeof doc !== "string" || doc.length === 0 || doc.length > 255) throw invalidOption(mode, "doc", doc, "a non-empty string of at most 255 characters");
  if (session !== undefined && typeof session !== "boolean") throw invalidOption(mode, "session", session, "a boolean");
  if (maxStalenessMs !== undefined && !(typeof maxStalenessMs === "number" && Number.isSafeInteger(maxStalenessMs) && maxStalenessMs >= 0)) {
    throw invalidOption(mode, "maxStalenessMs", maxStalenessMs, "an integer number of ms >= 0");
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
    throw invalidOption(mode, "timeoutMs", timeoutMs, "an integer number of ms > 0");
  }
  if (clock !== undefined && (typeof clock !== "object" || clock === null || typeof clock.now !== "function" || typeof clock.setTimer !== "function")) {
    throw invalidOption(mode, "clock", "(not a Clock)", "a Clock (now, setTimer)");
  }
  if (onError !== undefined && typeof onError !== "function") throw invalidOption(mode, "onError", onError, "a function");
  if (o.token !== undefined && (typeof o.token !== "string" || o.token.length === 0)) throw invalidOption(mode, "token", "(hidden)", "a non-empty string");
  if (o.links !== undefined && typeof o.links !== "function") throw invalidOption(mode, "links", o.links, "a function (url, events) => NodeLink");
  return {
    doc: asDocId(doc),
    session: session ?? true,
    maxStalenessMs: maxStalenessMs ?? null,
    timeoutMs: timeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
    clock: clock ?? systemClock,
    onError: onError ?? ((e) => console.error(`concord-store (${mode}):`, e)),
    rng: o.rng,
    backoff: o.backoff,
    WebSocket: o.WebSocket,
    token: o.token,
    links: o.links,
  };
}
