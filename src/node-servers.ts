/**
 * The node servers of each mode, composed at the edge (STYLE.md section 12): the mode-neutral
 * node service (`service/node-server.ts`) serving a mode's engine (`PrimaryEngine`,
 * `StrongEngine`). `concord node` and the package's `concord-store/node` entry start nodes
 * through here.
 */
import type { PeerId } from "./ids.js";
import { PrimaryEngine, primaryEngine } from "./primary/primary-engine.js";
import { raftPeerLiveness, type RaftTimingOptions } from "./strong/raft-node.js";
import { StrongEngine, strongEngine } from "./strong/strong-engine.js";
import type { PrimaryRoleOptions } from "./primary/primary-driver.js";
import type { ReplicaRoleOptions } from "./primary/replica-driver.js";
import { checkNodeServiceOptions, invalidOption, nodeId, peerEndpoint, serveNode, type NodeServer, type NodeServiceOptions, type NodeUrl } from "./service/node-server.js";

/**
 * A `primary`-mode node: a primary or a read replica (see `ReplicationNode`). A replica is told its
 * primary's id AND URL (`role: { replicaOf: { id, url } }`), because replication messages are
 * addressed by id and the mesh must know whom it dialed before the link opens. `peers` lists the
 * other nodes of the group: the node dials each of them and, once promoted, tells each of them of
 * its new epoch. The primary needs no list to be reached: replicas dial it, and it answers over the
 * links they opened. Whatever `role` says, a node that already has a log takes its role from it: a
 * restarted old primary leads its old epoch until it hears of the newer one, then follows the new
 * primary, discarding what diverged (`discarded` in /healthz and `replica.snapshot_installed` in
 * the log).
 */
export interface PrimaryNodeServerOptions extends NodeServiceOptions {
  readonly mode?: "primary";
  /** First start only (empty log): lead, or follow this primary. */
  readonly role: "primary" | { readonly replicaOf: { readonly id: string; readonly url: NodeUrl } };
  /** Used whenever this node leads (now or once promoted): minReplicas, maxLagMs... */
  readonly primaryOptions?: PrimaryRoleOptions;
  /** Used whenever this node follows. */
  readonly replicaOptions?: ReplicaRoleOptions;
}

/**
 * A `strong`-mode node: one server of a Raft cluster. `peers` lists the cluster's members, id to
 * base URL (this node may be among them): on its first start (an empty log) a node founds the
 * cluster of itself and `peers`, unless `join` says it is joining an existing cluster, in which
 * case it waits, empty, until an operator adds it (`add-learner`, then `promote-learner`). After
 * that its log decides its membership.
 */
export interface StrongNodeServerOptions extends NodeServiceOptions {
  readonly mode: "strong";
  /** First start only (empty log): join an existing cluster instead of founding one with `peers`. Default false. */
  readonly join?: boolean;
  /** Raft's timing (tick, election and heartbeat), lease reads, snapshots, limits. */
  readonly raft?: RaftTimingOptions;
}

/** A node server of either node-backed mode. */
export type NodeServerOptions = PrimaryNodeServerOptions | StrongNodeServerOptions;

/**
 * Starts a node server (`service/node-server.ts`), clients at `<url>/client`, peers at
 * `<url>/peer`: a `strong`-mode server (its Raft log in `<dataDir>/raft`) or a `primary`-mode node
 * (its write-ahead log in `<dataDir>/node`; the default mode).
 * @throws ConcordError as `serveNode` does; `Corrupt` naming the damaged log and what to do.
 */
export function startNodeServer(options: StrongNodeServerOptions): Promise<NodeServer<StrongEngine>>;
export function startNodeServer(options: PrimaryNodeServerOptions): Promise<NodeServer<PrimaryEngine>>;
export function startNodeServer(options: NodeServerOptions): Promise<NodeServer<PrimaryEngine> | NodeServer<StrongEngine>> {
  if (options.mode === "strong") return startStrongNode(options);
  return startPrimaryNode(options);
}

function startStrongNode(options: StrongNodeServerOptions): Promise<NodeServer<StrongEngine>> {
  const bootstrap = strongBootstrap(options);
  return serveNode({
    ...options,
    peerLiveness: options.peerLiveness === undefined ? raftPeerLiveness(options.raft) : options.peerLiveness,
    engine: strongEngine({ ...options.raft, ...(bootstrap === undefined ? {} : { bootstrap }) }),
  });
}

/** The founding members of a strong node's cluster (itself and its peers), or undefined when it joins one. */
function strongBootstrap(o: StrongNodeServerOptions): string[] | undefined {
  checkNodeServiceOptions(o);
  if (o.join !== undefined && typeof o.join !== "boolean") throw invalidOption("join", o.join, "a boolean");
  if (o.join === true) return undefined;
  return [...new Set([nodeId(o.id, "id"), ...[...(o.peers ?? new Map<string, string>()).keys()].map((p) => nodeId(p, "peers"))])].sort();
}

function startPrimaryNode(options: PrimaryNodeServerOptions): Promise<NodeServer<PrimaryEngine>> {
  const { peers, role } = resolvePrimaryGroup(options);
  return serveNode({
    ...options,
    peers,
    engine: primaryEngine({
      role,
      peers: [...peers.keys()].filter((p) => p !== options.id) as PeerId[],
      ...(options.primaryOptions === undefined ? {} : { primary: options.primaryOptions }),
      ...(options.replicaOptions === undefined ? {} : { replica: options.replicaOptions }),
    }),
  });
}

/**
 * Checks `options` as {@link startNodeServer} does, without touching the network or the disk.
 * @throws ConcordError `InvalidArgument` naming the option and what it must be.
 */
export function checkNodeServerOptions(options: NodeServerOptions): void {
  if (options.mode === "strong") strongBootstrap(options);
  else resolvePrimaryGroup(options);
}

/** The peers to dial (the primary followed included) and the role, checked. */
function resolvePrimaryGroup(o: PrimaryNodeServerOptions): { peers: ReadonlyMap<string, NodeUrl>; role: "primary" | { replicaOf: PeerId } } {
  checkNodeServiceOptions(o);
  const self = nodeId(o.id, "id");
  const peers = new Map(o.peers ?? []);
  if (o.role === "primary") return { peers, role: "primary" };
  const primary = o.role?.replicaOf;
  if (typeof primary !== "object" || primary === null) throw invalidOption("role", o.role, `"primary" or { replicaOf: { id, url } }`);
  const id = nodeId(primary.id, "role.replicaOf");
  const at = peerEndpoint(primary.url, `role.replicaOf (${primary.id})`);
  if (id === self) throw invalidOption("role.replicaOf.id", primary.id, `another node's id: ${self} cannot follow itself`);
  const listed = peers.get(id);
  if (listed !== undefined && peerEndpoint(listed, `peers (${id})`) !== at) {
    throw invalidOption("peers", listed, `the URL ${id} has elsewhere (${at.replace(/\/peer$/, "")})`);
  }
  peers.set(id, primary.url);
  return { peers, role: { replicaOf: id } };
}
