/**
 * concord-store/node: a `primary`-mode node embedded in an app process (Node only), the very service
 * `concord node` runs: its write-ahead log in a folder, clients at `<url>/client`, peers at
 * `<url>/peer`, `GET /healthz` and `GET /metrics`. Kept apart from the main entry so that browser
 * bundles of `concord-store` never pull in `ws` or `node:http`.
 *
 * ```ts
 * import { startNodeServer } from "concord-store/node";
 * const primary = await startNodeServer({ id: "p1", port: 5001, dataDir: "./p1", role: "primary" });
 * // ... primary.engine.node.status(), primary.engine.node.promote() on a replica ...
 * await primary.close();
 * ```
 */
export { startNodeServer, type NodeServerOptions } from "./node-servers.js";
export type { NodeServer, NodeServiceOptions, NodeUrl } from "./service/node-server.js";
export { PrimaryEngine } from "./primary/primary-engine.js";
export { ReplicationNode, type NodeRole, type NodeStatus, type ReadInfo } from "./primary/replication-node.js";
export type { PrimaryRoleOptions } from "./primary/primary-driver.js";
export type { ReplicaRoleOptions } from "./primary/replica-driver.js";
export type { LogEntry, LogLevel, LogSink } from "./ops/log.js";
