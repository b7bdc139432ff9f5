/**
 * The options of `openStore({ mode: "primary" })` and of one write, as users pass them, and their
 * checked, defaulted form ({@link ResolvedPrimaryOptions}). Every refusal is an `InvalidArgument`
 * naming the option and what it must be.
 */
import { invalidOption, nodeUrl as checkedNodeUrl, nodeUrls, resolveNodeStoreOptions, type NodeStoreOptions, type ResolvedNodeStoreOptions } from "../client/client-options.js";
import type { ConcordError } from "../errors.js";
import type { WireDurability } from "../service/protocol.js";
import type { WriteOptions } from "../store.js";
import type { PrimaryDurability } from "./replication/types.js";

export { DEFAULT_NODE_TIMEOUT_MS as DEFAULT_PRIMARY_TIMEOUT_MS } from "../client/client-options.js";

/**
 * The nodes of the group: base URLs `ws://host:port` (no path; the client adds `/client`).
 * `primary` is where writes go first; after a promotion they go to whichever of these nodes leads
 * the newest epoch (see `client/node-group.ts`), so list every node that may be promoted.
 */
export interface PrimaryNodes {
  readonly primary: string;
  readonly replicas?: readonly string[];
}

/** Options of `openStore({ mode: "primary" })`. */
export interface PrimaryOptions extends NodeStoreOptions {
  readonly mode: "primary";
  readonly nodes: PrimaryNodes;
  /** Where reads go. `"replica"` needs `nodes.replicas`. Default `"primary"`. */
  readonly read?: "primary" | "replica";
  /** Default durability of writes. Default `"local"`. */
  readonly durability?: PrimaryDurability;
}

/**
 * Options of one write. `durability` wins over `ack`; `ack: "local"` is `"local"`,
 * `ack: "replicas"` is `{ replicas: 1 }`; other levels are not primary mode's (`InvalidArgument`).
 */
export interface PrimaryWriteOptions extends WriteOptions {
  readonly durability?: PrimaryDurability;
}

/** {@link PrimaryOptions} checked and defaulted. URLs are normalized (`ws://host:port`). */
export interface ResolvedPrimaryOptions extends ResolvedNodeStoreOptions {
  readonly primary: string;
  readonly replicas: readonly string[];
  readonly read: "primary" | "replica";
  readonly durability: PrimaryDurability;
}

/** The `InvalidArgument` for `option`, showing what it was and what it must be. */
export function invalid(option: string, value: unknown, expected: string): ConcordError {
  return invalidOption("primary", option, value, expected);
}

/** `value` as a node's normalized base URL `ws://host:port`. @throws ConcordError `InvalidArgument` naming `option`. */
export function nodeUrl(value: unknown, option: string): string {
  return checkedNodeUrl("primary", value, option);
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
  const common = resolveNodeStoreOptions("primary", options);
  const { nodes, read, durability } = options;
  if (typeof nodes !== "object" || nodes === null) throw invalid("nodes", nodes, "an object { primary: url, replicas?: [url...] }");
  const primary = nodeUrl(nodes.primary, "nodes.primary");
  const rawReplicas: unknown = nodes.replicas ?? [];
  if (!Array.isArray(rawReplicas)) throw invalid("nodes.replicas", rawReplicas, "an array of node URLs");
  const replicas = nodeUrls("primary", rawReplicas as unknown[], "nodes.replicas", [primary]);
  if (read !== undefined && read !== "primary" && read !== "replica") throw invalid("read", read, `"primary" or "replica"`);
  if (read === "replica" && replicas.length === 0) throw invalid("nodes.replicas", rawReplicas, `at least one URL when read is "replica"`);
  return {
    ...common,
    primary,
    replicas,
    read: read ?? "primary",
    durability: durability === undefined ? "local" : checkDurability(durability, "durability"),
  };
}
