/**
 * The options of `openStore({ mode: "primary" })` and of one write, as users pass them, and their
 * checked, defaulted form ({@link ResolvedPrimaryOptions}). Every refusal is an `InvalidArgument`
 * naming the option and what it must be.
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { asDocId, type DocId } from "../ids.js";
import type { WebSocketBackoffOptions, WebSocketConstructorLike } from "../net/websocket-client.js";
import type { Rng } from "../rng.js";
import type { WireDurability } from "../service/protocol.js";
import type { WriteOptions } from "../store.js";
import type { PrimaryDurability } from "./replication/types.js";

/** Default bound of every request, in ms. */
export const DEFAULT_PRIMARY_TIMEOUT_MS = 10_000;


/**
 * The nodes of the group: base URLs `ws://host:port` (no path; the client adds `/client`).
 * `primary` is where writes go first; after a promotion they go to whichever of these nodes leads
 * the newest epoch (see `client-node-group.ts`), so list every node that may be promoted.
 */
export interface PrimaryNodes {
  readonly primary: string;
  readonly replicas?: readonly string[];
}

/** Options of `openStore({ mode: "primary" })`. */
export interface PrimaryOptions {
  readonly mode: "primary";
  /** A name for this store (status, logs): non-empty, at most 255 characters. A node group serves one document. */
  readonly doc: string;
  readonly nodes: PrimaryNodes;
  /** Where reads go. `"replica"` needs `nodes.replicas`. Default `"primary"`. */
  readonly read?: "primary" | "replica";
  /** Read-your-writes and monotonic reads. Default true. */
  readonly session?: boolean;
  /** A replica read fails with `Stale` when the replica last heard its primary longer ago (ms). Default: no bound. */
  readonly maxStalenessMs?: number;
  /** Bound of every request, ms (> 0); a write's bound covers finding a new primary and its one retry. Default {@link DEFAULT_PRIMARY_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Default durability of writes. Default `"local"`. */
  readonly durability?: PrimaryDurability;
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
}

/**
 * Options of one write. `durability` wins over `ack`; `ack: "local"` is `"local"`,
 * `ack: "replicas"` is `{ replicas: 1 }`; other levels are not primary mode's (`InvalidArgument`).
 */
export interface PrimaryWriteOptions extends WriteOptions {
  readonly durability?: PrimaryDurability;
}

/** {@link PrimaryOptions} checked and defaulted. URLs are normalized (`ws://host:port`). */
export interface ResolvedPrimaryOptions {
  readonly doc: DocId;
  readonly primary: string;
  readonly replicas: readonly string[];
  readonly read: "primary" | "replica";
  readonly session: boolean;
  readonly maxStalenessMs: number | null;
  readonly timeoutMs: number;
  readonly durability: PrimaryDurability;
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  readonly rng: Rng | undefined;
  readonly backoff: WebSocketBackoffOptions | undefined;
  readonly WebSocket: WebSocketConstructorLike | undefined;
}

/** The `InvalidArgument` for `option`, showing what it was and what it must be. */
export function invalid(option: string, value: unknown, expected: string): ConcordError {
  return new ConcordError("InvalidArgument", `openStore (primary): ${option} must be ${expected}, got ${show(value)}`, { option });
}

function show(v: unknown): string {
  if (typeof v === "function") return "a function";
  return JSON.stringify(v) ?? String(v);
}

/** `value` as a node's normalized base URL `ws://host:port`. @throws ConcordError `InvalidArgument` naming `option`. */
export function nodeUrl(value: unknown, option: string): string {
  let parsed: URL;
  try {
    parsed = new URL(String(value));
  } catch {
    throw invalid(option, value, "a node's base URL, ws://host:port");
  }
  if (typeof value !== "string" || (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") || (parsed.pathname !== "/" && parsed.pathname !== "") || parsed.search !== "" || parsed.hash !== "") {
    throw invalid(option, value, "a node's base URL, ws://host:port (or wss://), with no path or query");
  }
  return `${parsed.protocol}//${parsed.host}`;
}

function checkDurability(value: unknown, option: string): PrimaryDurability {
  if (value === "local") return "local";
  if (typeof value === "object" && value !== null) {
    const n: unknown = (value as { replicas?: unknown }).replicas;
    if (typeof n === "number" && Number.isSafeInteger(n) && n >= 1) return { replicas: n };
  }
  throw invalid(option, value, `"local" or { replicas: n } with n an integer >= 1`);
}

/**
 * The durability one write asks for: its `durability`, else its `ack`, else `fallback` (the
 * store's default).
 * @throws ConcordError `InvalidArgument` for options that are not primary mode's.
 */
export function durabilityOf(options: PrimaryWriteOptions | undefined, fallback: PrimaryDurability): PrimaryDurability {
  if (options === undefined) return fallback;
  if (typeof options !== "object" || options === null) throw invalid("write options", options, "an object { durability? }");
  if (options.durability !== undefined) return checkDurability(options.durability, "durability");
  switch (options.ack) {
    case undefined:
      return fallback;
    case "local":
      return "local";
    case "replicas":
      return { replicas: 1 };
    default:
      throw invalid("ack", options.ack, `"local" or "replicas" in primary mode (or durability: "local" | { replicas: n })`);
  }
}

/** `d` as the protocol carries it. */
export function wireDurability(d: PrimaryDurability): WireDurability {
  return d === "local" ? { level: "local" } : { level: "replicas", n: d.replicas };
}

/**
 * Checks and defaults `options`.
 * @throws ConcordError `InvalidArgument` naming the first option that makes no sense.
 */
export function resolvePrimaryOptions(options: PrimaryOptions): ResolvedPrimaryOptions {
  if (typeof options !== "object" || options === null) throw invalid("options", options, "an object { mode: \"primary\", doc, nodes }");
  const { doc, nodes, read, session, maxStalenessMs, timeoutMs, durability, clock, onError } = options;
  if (typeof doc !== "string" || doc.length === 0 || doc.length > 255) throw invalid("doc", doc, "a non-empty string of at most 255 characters");
  if (typeof nodes !== "object" || nodes === null) throw invalid("nodes", nodes, "an object { primary: url, replicas?: [url...] }");
  const primary = nodeUrl(nodes.primary, "nodes.primary");
  const rawReplicas: unknown = nodes.replicas ?? [];
  if (!Array.isArray(rawReplicas)) throw invalid("nodes.replicas", rawReplicas, "an array of node URLs");
  const replicas = rawReplicas.map((u: unknown, i) => nodeUrl(u, `nodes.replicas[${i}]`));
  const seen = new Set([primary]);
  replicas.forEach((u, i) => {
    if (seen.has(u)) throw invalid(`nodes.replicas[${i}]`, rawReplicas[i], "a URL not listed before (each node once)");
    seen.add(u);
  });
  if (read !== undefined && read !== "primary" && read !== "replica") throw invalid("read", read, `"primary" or "replica"`);
  if (read === "replica" && replicas.length === 0) throw invalid("nodes.replicas", rawReplicas, `at least one URL when read is "replica"`);
  if (session !== undefined && typeof session !== "boolean") throw invalid("session", session, "a boolean");
  if (maxStalenessMs !== undefined && !(typeof maxStalenessMs === "number" && Number.isSafeInteger(maxStalenessMs) && maxStalenessMs >= 0)) {
    throw invalid("maxStalenessMs", maxStalenessMs, "an integer number of ms >= 0");
  }
  if (timeoutMs !== undefined && !(typeof timeoutMs === "number" && Number.isSafeInteger(timeoutMs) && timeoutMs > 0)) {
    throw invalid("timeoutMs", timeoutMs, "an integer number of ms > 0");
  }
  if (clock !== undefined && (typeof clock !== "object" || clock === null || typeof clock.now !== "function" || typeof clock.setTimer !== "function")) {
    throw invalid("clock", "(not a Clock)", "a Clock (now, setTimer)");
  }
  if (onError !== undefined && typeof onError !== "function") throw invalid("onError", onError, "a function");
  return {
    doc: asDocId(doc),
    primary,
    replicas,
    read: read ?? "primary",
    session: session ?? true,
    maxStalenessMs: maxStalenessMs ?? null,
    timeoutMs: timeoutMs ?? DEFAULT_PRIMARY_TIMEOUT_MS,
    durability: durability === undefined ? "local" : checkDurability(durability, "durability"),
    clock: clock ?? systemClock,
    onError: onError ?? ((e) => console.error("concord-store (primary):", e)),
    rng: options.rng,
    backoff: options.backoff,
    WebSocket: options.WebSocket,
  };
}
