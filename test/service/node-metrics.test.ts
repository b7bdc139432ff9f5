/**
 * The /metrics text of a primary-mode node as pure formatting (the engine's families of
 * src/primary/node-projection.ts, the service's of src/service/node-metrics.ts, rendered by
 * src/ops/prometheus.ts): golden text for a primary with replicas and for a replica that never
 * heard its primary (label escaping, +Inf), and the request counters' order. The real-socket check
 * of the same text is in node-health.test.ts.
 */
import { describe, expect, it } from "vitest";
import { asPeerId } from "../../src/ids.js";
import type { NodeStatus } from "../../src/primary/replication-node.js";
import { asEpoch, asLsn } from "../../src/primary/replication/types.js";
import { renderMetrics, type MetricFamily } from "../../src/ops/prometheus.js";
import { primaryMetricFamilies } from "../../src/primary/node-projection.js";
import { RequestCounts, serviceMetricFamilies, type RequestCount } from "../../src/service/node-metrics.js";

/** The /metrics text of a node in `status` with `clientConnections` sockets and `requests` answered. */
function nodeMetricsText(s: { status: NodeStatus; failed: boolean; clientConnections: number; requests: readonly RequestCount[] }): string {
  const families: MetricFamily[] = [...primaryMetricFamilies(s.status, s.failed), ...serviceMetricFamilies(s.clientConnections, s.requests)];
  return renderMetrics(families);
}

const PRIMARY: NodeStatus = {
  id: asPeerId("p1"),
  role: "primary",
  primary: asPeerId("p1"),
  epoch: asEpoch(2),
  lsn: asLsn(42),
  position: { epoch: asEpoch(2), lsn: asLsn(42) },
  lagLsn: 0,
  silentMs: 0,
  fenced: false,
  discarded: 3,
  dropped: 1,
  replicas: [
    { id: asPeerId("r1"), received: asLsn(42), applied: asLsn(41), fresh: true },
    { id: asPeerId("r2"), received: asLsn(7), applied: asLsn(7), fresh: false },
  ],
};

describe("node metrics text", () => {
  it("is the golden Prometheus text for a primary with two replicas, one stale", () => {
    const requests = new RequestCounts();
    for (let i = 0; i < 5; i++) requests.served("write");
    requests.served("read");
    requests.refused("write", "Unavailable");
    requests.refused("write", "Fenced");
    requests.refused("write", "Unavailable");
    requests.refused("read", "Timeout");
    expect(nodeMetricsText({ status: PRIMARY, failed: false, clientConnections: 4, requests: requests.counts() })).toBe(`\
# HELP concord_node_info This node's id and the primary it follows (itself when it leads); always 1.
# TYPE concord_node_info gauge
concord_node_info{id="p1",primary="p1"} 1
# HELP concord_node_role 1 for the role this node has now, 0 for the other.
# TYPE concord_node_role gauge
concord_node_role{role="primary"} 1
concord_node_role{role="replica"} 0
# HELP concord_node_epoch The newest epoch this node knows.
# TYPE concord_node_epoch gauge
concord_node_epoch 2
# HELP concord_node_lsn The LSN of the node's state: its last durable record on the primary, its last applied one on a replica.
# TYPE concord_node_lsn gauge
concord_node_lsn 42
# HELP concord_node_lag_records Records this replica is behind its primary as last heard (0 on the primary).
# TYPE concord_node_lag_records gauge
concord_node_lag_records 0
# HELP concord_node_silent_ms Milliseconds since this replica last heard its primary (0 on the primary, +Inf when never).
# TYPE concord_node_silent_ms gauge
concord_node_silent_ms 0
# HELP concord_node_fenced 1 when a newer epoch fenced this primary: it refuses writes until it follows the new primary.
# TYPE concord_node_fenced gauge
concord_node_fenced 0
# HELP concord_node_failed 1 when the node's storage failed: it refuses writes until restarted (the error is in /healthz and the log).
# TYPE concord_node_failed gauge
concord_node_failed 0
# HELP concord_node_discarded_records_total Records this node discarded as divergent from a newer primary's history.
# TYPE concord_node_discarded_records_total counter
concord_node_discarded_records_total 3
# HELP concord_node_dropped_messages_total Replication messages dropped since start: frames that do not decode, and messages no correct peer sends.
# TYPE concord_node_dropped_messages_total counter
concord_node_dropped_messages_total 1
# HELP concord_node_replicas Replicas this primary knows, by whether they were heard within maxLagMs (0 on a replica).
# TYPE concord_node_replicas gauge
concord_node_replicas{fresh="true"} 1
concord_node_replicas{fresh="false"} 1
# HELP concord_node_replica_fresh Per replica, on the primary: 1 when it was heard within maxLagMs.
# TYPE concord_node_replica_fresh gauge
concord_node_replica_fresh{replica="r1"} 1
concord_node_replica_fresh{replica="r2"} 0
# HELP concord_node_replica_received_lsn Per replica, on the primary: the last LSN it acknowledged as durable on its disk.
# TYPE concord_node_replica_received_lsn gauge
concord_node_replica_received_lsn{replica="r1"} 42
concord_node_replica_received_lsn{replica="r2"} 7
# HELP concord_node_replica_applied_lsn Per replica, on the primary: the last LSN it acknowledged as applied.
# TYPE concord_node_replica_applied_lsn gauge
concord_node_replica_applied_lsn{replica="r1"} 41
concord_node_replica_applied_lsn{replica="r2"} 7
# HELP concord_client_connections Client WebSockets open now.
# TYPE concord_client_connections gauge
concord_client_connections 4
# HELP concord_requests_total Client reads (get, entries) and writes answered since start, by outcome: ok, or error:<code> as the client was answered.
# TYPE concord_requests_total counter
concord_requests_total{type="read",outcome="ok"} 1
concord_requests_total{type="read",outcome="error:Timeout"} 1
concord_requests_total{type="write",outcome="ok"} 5
concord_requests_total{type="write",outcome="error:Fenced"} 1
concord_requests_total{type="write",outcome="error:Unavailable"} 2
`);
  });

  it("gives a failed replica that never heard its primary +Inf silence, escapes label values, and has no per-replica samples", () => {
    const odd = asPeerId('r"1\\\nx');
    const replica: NodeStatus = { ...PRIMARY, id: odd, role: "replica", lagLsn: 5, silentMs: Number.POSITIVE_INFINITY, replicas: [] };
    const text = nodeMetricsText({ status: replica, failed: true, clientConnections: 0, requests: new RequestCounts().counts() });
    const samples = text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
    expect(samples).toStrictEqual([
      'concord_node_info{id="r\\"1\\\\\\nx",primary="p1"} 1',
      'concord_node_role{role="primary"} 0',
      'concord_node_role{role="replica"} 1',
      "concord_node_epoch 2",
      "concord_node_lsn 42",
      "concord_node_lag_records 5",
      "concord_node_silent_ms +Inf",
      "concord_node_fenced 0",
      "concord_node_failed 1",
      "concord_node_discarded_records_total 3",
      "concord_node_dropped_messages_total 1",
      'concord_node_replicas{fresh="true"} 0',
      'concord_node_replicas{fresh="false"} 0',
      "concord_client_connections 0",
      'concord_requests_total{type="read",outcome="ok"} 0',
      'concord_requests_total{type="write",outcome="ok"} 0',
    ]);
    // Every metric still has its HELP and TYPE, even with no sample.
    expect(text.match(/^# TYPE /gm)).toHaveLength(16);
    expect(text.match(/^# HELP /gm)).toHaveLength(16);
  });
});
