/**
 * concord-store/node: a node embedded in an app process (Node only), the very service `concord node`
 * runs: a `primary`-mode node (its write-ahead log in a folder) or a `strong`-mode Raft server, with
 * clients at `<url>/client`, peers at `<url>/peer`, `GET /healthz` and `GET /metrics`. Kept apart
 * from the main entry so that browser bundles of `concord-store` never pull in `ws` or `node:http`.
 *
 * ```ts
 * import { startNodeServer } from "concord-store/node";
 * const primary = await startNodeServer({ id: "p1", port: 5001, dataDir: "./p1", role: "primary" });
 * // ... primary.engine.node.status(), primary.engine.node.promote() on a replica ...
 * const n1 = await startNodeServer({ mode: "strong", id: "n1", port: 6001, dataDir: "./n1", peers });
 * await primary.close();
 * ```
 */
export { startNodeServer, type NodeServerOptions, type PrimaryNodeServerOptions, type StrongNodeServerOptions } from "./node-servers.js";
export type { NodeServer, NodeServiceOptions, NodeUrl } from "./service/node-server.js";
export { PrimaryEngine } from "./primary/primary-engine.js";
export { StrongEngine } from "./strong/strong-engine.js";
export { RaftNode, type RaftTimingOptions } from "./strong/raft-node.js";
export { ReplicationNode, type NodeRole, type NodeStatus, type ReadInfo } from "./primary/replication-node.js";
export type { PrimaryRoleOptions } from "./primary/primary-driver.js";
export type { ReplicaRoleOptions } from "./primary/replica-driver.js";
export type { LogEntry, LogLevel, LogSink } from "./ops/log.js";
