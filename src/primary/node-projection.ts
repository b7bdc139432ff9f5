/**
 * What operators see of a `primary`-mode node: its {@link NodeStatus} projected into the fields of
 * `/healthz` and the metrics of `/metrics` (Prometheus text, `ops/prometheus.ts`), as etcd's
 * `/metrics` and redis_exporter show theirs. Pure formatting.
 *
 * Every metric is always present (0 when it does not apply to the node's role), so that a
 * dashboard or an alert never sees a series vanish on a promotion.
 */
import type { MetricFamily, Sample } from "../ops/prometheus.js";
import type { NodeStatus } from "./replication-node.js";

/** The fields `/healthz` shows of a node: role, epoch, position, fencing, discarded and dropped records, lag, replicas. */
export function primaryHealthFields(st: NodeStatus): Record<string, unknown> {
  return {
    role: st.role,
    primary: st.primary,
    epoch: st.epoch,
    lsn: st.lsn,
    position: st.position,
    fenced: st.fenced,
    discarded: st.discarded,
    dropped: st.dropped,
    lagLsn: st.lagLsn,
    silentMs: st.silentMs === Number.POSITIVE_INFINITY ? -1 : Math.ceil(st.silentMs),
    replicas: st.replicas,
  };
}

/** The node's metrics; `failed`: its storage (or a role switch) failed and it refuses writes until restarted. */
export function primaryMetricFamilies(st: NodeStatus, failed: boolean): MetricFamily[] {
  const isPrimary = st.role === "primary";
  const fresh = st.replicas.filter((r) => r.fresh).length;
  const one = (value: number): Sample[] => [[{}, value]];
  const perReplica = (value: (r: NodeStatus["replicas"][number]) => number): Sample[] => st.replicas.map((r) => [{ replica: r.id }, value(r)]);
  const gauge = (name: string, help: string, samples: readonly Sample[]): MetricFamily => ({ name, type: "gauge", help, samples });
  const counter = (name: string, help: string, samples: readonly Sample[]): MetricFamily => ({ name, type: "counter", help, samples });
  return [
    gauge("concord_node_info", "This node's id and the primary it follows (itself when it leads); always 1.", [[{ id: st.id, primary: st.primary }, 1]]),
    gauge("concord_node_role", "1 for the role this node has now, 0 for the other.", [
      [{ role: "primary" }, isPrimary ? 1 : 0],
      [{ role: "replica" }, isPrimary ? 0 : 1],
    ]),
    gauge("concord_node_epoch", "The newest epoch this node knows.", one(st.epoch)),
    gauge("concord_node_lsn", "The LSN of the node's state: its last durable record on the primary, its last applied one on a replica.", one(st.lsn)),
    gauge("concord_node_lag_records", "Records this replica is behind its primary as last heard (0 on the primary).", one(st.lagLsn)),
    gauge("concord_node_silent_ms", "Milliseconds since this replica last heard its primary (0 on the primary, +Inf when never).", one(Math.ceil(st.silentMs))),
    gauge("concord_node_fenced", "1 when a newer epoch fenced this primary: it refuses writes until it follows the new primary.", one(st.fenced ? 1 : 0)),
    gauge("concord_node_failed", "1 when the node's storage failed: it refuses writes until restarted (the error is in /healthz and the log).", one(failed ? 1 : 0)),
    counter("concord_node_discarded_records_total", "Records this node discarded as divergent from a newer primary's history.", one(st.discarded)),
    counter("concord_node_dropped_messages_total", "Replication messages dropped since start: frames that do not decode, and messages no correct peer sends.", one(st.dropped)),
    gauge("concord_node_replicas", "Replicas this primary knows, by whether they were heard within maxLagMs (0 on a replica).", [
      [{ fresh: "true" }, fresh],
      [{ fresh: "false" }, st.replicas.length - fresh],
    ]),
    gauge("concord_node_replica_fresh", "Per replica, on the primary: 1 when it was heard within maxLagMs.", perReplica((r) => (r.fresh ? 1 : 0))),
    gauge("concord_node_replica_received_lsn", "Per replica, on the primary: the last LSN it acknowledged as durable on its disk.", perReplica((r) => r.received)),
    gauge("concord_node_replica_applied_lsn", "Per replica, on the primary: the last LSN it acknowledged as applied.", perReplica((r) => r.applied)),
  ];
}
