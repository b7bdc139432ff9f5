/**
 * What a node server (`node-server.ts`) says at `GET /metrics`: the node's replication state, its
 * client sockets and its request outcomes in the Prometheus text exposition format (version
 * 0.0.4), as etcd's `/metrics` and redis_exporter do. {@link nodeMetricsText} is pure formatting of
 * a {@link NodeMetricsSample}; {@link RequestCounts} is the counter the client sessions increment.
 *
 * Every metric has `# HELP` and `# TYPE` lines and is always present (0 when it does not apply to
 * the node's role), so that a dashboard or an alert never sees a series vanish on a promotion.
 */
import type { ErrorCode } from "../errors.js";
import type { NodeStatus } from "../primary/replication-node.js";

/** The `Content-Type` of {@link nodeMetricsText}'s output. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Requests counted by outcome: reads (`get`, `entries`) and writes. */
export type CountedRequest = "read" | "write";

/** How many requests of one type ended one way: `ok`, or `error:<code>` (the code the client was answered). */
export interface RequestCount {
  readonly type: CountedRequest;
  readonly outcome: "ok" | `error:${ErrorCode}`;
  readonly count: number;
}

/**
 * Requests answered since the server started, by type and outcome. Shared by every client session
 * of a server; counting allocates nothing once a code was seen.
 */
export class RequestCounts {
  readonly #ok: Record<CountedRequest, number> = { read: 0, write: 0 };
  readonly #refused: Record<CountedRequest, Map<ErrorCode, number>> = { read: new Map(), write: new Map() };

  /** A request of `type` was answered with what it asked for (a value, entries, a written position). */
  served(type: CountedRequest): void {
    this.#ok[type]++;
  }

  /** A request of `type` was answered with an error of `code`. */
  refused(type: CountedRequest, code: ErrorCode): void {
    const counts = this.#refused[type];
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }

  /** Every count: reads then writes, `ok` first (always there, even at 0), then the error codes in order. */
  counts(): RequestCount[] {
    const out: RequestCount[] = [];
    for (const type of ["read", "write"] as const) {
      out.push({ type, outcome: "ok", count: this.#ok[type] });
      const refused = [...this.#refused[type]].sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [code, count] of refused) out.push({ type, outcome: `error:${code}`, count });
    }
    return out;
  }
}

/** What {@link nodeMetricsText} formats: one reading of a node server, taken at once. */
export interface NodeMetricsSample {
  readonly status: NodeStatus;
  /** The node's storage (or a role switch) failed: it refuses writes until restarted. */
  readonly failed: boolean;
  /** Client WebSockets open now. */
  readonly clientConnections: number;
  readonly requests: readonly RequestCount[];
}

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [labels: Labels, value: number];

/** The metrics of `s` in the Prometheus text format, each with its HELP and TYPE, ending with a newline. */
export function nodeMetricsText(s: NodeMetricsSample): string {
  const st = s.status;
  const isPrimary = st.role === "primary";
  const fresh = st.replicas.filter((r) => r.fresh).length;
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, samples: readonly Sample[]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labelText(labels)} ${valueText(value)}`);
  };
  const one = (value: number): Sample[] => [[{}, value]];
  const perReplica = (value: (r: NodeStatus["replicas"][number]) => number): Sample[] => st.replicas.map((r) => [{ replica: r.id }, value(r)]);

  metric("concord_node_info", "gauge", "This node's id and the primary it follows (itself when it leads); always 1.", [[{ id: st.id, primary: st.primary }, 1]]);
  metric("concord_node_role", "gauge", "1 for the role this node has now, 0 for the other.", [
    [{ role: "primary" }, isPrimary ? 1 : 0],
    [{ role: "replica" }, isPrimary ? 0 : 1],
  ]);
  metric("concord_node_epoch", "gauge", "The newest epoch this node knows.", one(st.epoch));
  metric("concord_node_lsn", "gauge", "The LSN of the node's state: its last durable record on the primary, its last applied one on a replica.", one(st.lsn));
  metric("concord_node_lag_records", "gauge", "Records this replica is behind its primary as last heard (0 on the primary).", one(st.lagLsn));
  metric("concord_node_silent_ms", "gauge", "Milliseconds since this replica last heard its primary (0 on the primary, +Inf when never).", one(Math.ceil(st.silentMs)));
  metric("concord_node_fenced", "gauge", "1 when a newer epoch fenced this primary: it refuses writes until it follows the new primary.", one(st.fenced ? 1 : 0));
  metric("concord_node_failed", "gauge", "1 when the node's storage failed: it refuses writes until restarted (the error is in /healthz and the log).", one(s.failed ? 1 : 0));
  metric("concord_node_discarded_records_total", "counter", "Records this node discarded as divergent from a newer primary's history.", one(st.discarded));
  metric("concord_node_dropped_messages_total", "counter", "Replication messages dropped since start: frames that do not decode, and messages no correct peer sends.", one(st.dropped));
  metric("concord_node_replicas", "gauge", "Replicas this primary knows, by whether they were heard within maxLagMs (0 on a replica).", [
    [{ fresh: "true" }, fresh],
    [{ fresh: "false" }, st.replicas.length - fresh],
  ]);
  metric("concord_node_replica_fresh", "gauge", "Per replica, on the primary: 1 when it was heard within maxLagMs.", perReplica((r) => (r.fresh ? 1 : 0)));
  metric("concord_node_replica_received_lsn", "gauge", "Per replica, on the primary: the last LSN it acknowledged as durable on its disk.", perReplica((r) => r.received));
  metric("concord_node_replica_applied_lsn", "gauge", "Per replica, on the primary: the last LSN it acknowledged as applied.", perReplica((r) => r.applied));
  metric("concord_client_connections", "gauge", "Client WebSockets open now.", one(s.clientConnections));
  metric(
    "concord_requests_total",
    "counter",
    "Client reads (get, entries) and writes answered since start, by outcome: ok, or error:<code> as the client was answered.",
    s.requests.map((r) => [{ type: r.type, outcome: r.outcome }, r.count]),
  );
  return `${lines.join("\n")}\n`;
}

/** `{a="x",b="y"}`, or nothing for no labels; values escaped as the format requires (`\\`, `\"`, `\n`). */
function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function valueText(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}
