/**
 * The node servers of each mode, composed at the edge (STYLE.md section 12): the mode-neutral
 * node service (`service/node-server.ts`) serving a mode's engine. `concord node` and the package's
 * `concord-store/node` entry start nodes through here.
 */
import type { PeerId } from "./ids.js";
import { PrimaryEngine, primaryEngine } from "./primary/primary-engine.js";
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
export interface NodeServerOptions extends NodeServiceOptions {
  /** First start only (empty log): lead, or follow this primary. */
  readonly role: "primary" | { readonly replicaOf: { readonly id: string; readonly url: NodeUrl } };
  /** Used whenever this node leads (now or once promoted): minReplicas, maxLagMs... */
  readonly primaryOptions?: PrimaryRoleOptions;
  /** Used whenever this node follows. */
  readonly replicaOptions?: ReplicaRoleOptions;
}

/**
 * Starts a `primary`-mode node server (`service/node-server.ts`): its write-ahead log in
 * `<dataDir>/node`, clients at `<url>/client` (`promote` included), peers at `<url>/peer`.
 * @throws ConcordError as `serveNode` does; `Corrupt` naming the damaged log and what to do.
 */
export function startNodeServer(options: NodeServerOptions): Promise<NodeServer<PrimaryEngine>> {
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
  resolvePrimaryGroup(options);
}

/** The peers to dial (the primary followed included) and the role, checked. */
function resolvePrimaryGroup(o: NodeServerOptions): { peers: ReadonlyMap<string, NodeUrl>; role: "primary" | { replicaOf: PeerId } } {
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
