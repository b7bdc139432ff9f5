/**
 * concord-store/node: a `primary`-mode node embedded in an app process (Node only), the very service
 * `concord node` runs: its write-ahead log in a folder, clients at `<url>/client`, peers at
 * `<url>/peer`, `GET /healthz` and `GET /metrics`. Kept apart from the main entry so that browser
 * bundles of `concord-store` never pull in `ws` or `node:http`.
 *
 * ```ts
 * import { startNodeServer } from "concord-store/node";
 * const primary = await startNodeServer({ id: "p1", port: 5001, dataDir: "./p1", role: "primary" });
 * // ... primary.node.status(), primary.node.promote() on a replica ...
 * await primary.close();
 * ```
 */
export { startNodeServer, type NodeServer, type NodeServerOptions, type NodeUrl } from "./service/node-server.js";
export { ReplicationNode, type NodeRole, type NodeStatus, type ReadInfo } from "./primary/replication-node.js";
export type { PrimaryRoleOptions } from "./primary/primary-driver.js";
export type { ReplicaRoleOptions } from "./primary/replica-driver.js";
export type { LogEntry, LogLevel, LogSink } from "./ops/log.js";
