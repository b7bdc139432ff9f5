/**
 * What the node service adds to an engine's metrics at `GET /metrics` (Prometheus text,
 * `ops/prometheus.ts`): its client sockets and its request outcomes. {@link RequestCounts} is the
 * counter the client sessions increment.
 */
import type { ErrorCode } from "../errors.js";
import type { MetricFamily } from "../ops/prometheus.js";

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

/** The service's own metrics: client WebSockets open now, and requests answered by type and outcome. */
export function serviceMetricFamilies(clientConnections: number, requests: readonly RequestCount[]): MetricFamily[] {
  return [
    { name: "concord_client_connections", type: "gauge", help: "Client WebSockets open now.", samples: [[{}, clientConnections]] },
    {
      name: "concord_requests_total",
      type: "counter",
      help: "Client reads (get, entries) and writes answered since start, by outcome: ok, or error:<code> as the client was answered.",
      samples: requests.map((r) => [{ type: r.type, outcome: r.outcome }, r.count]),
    },
  ];
}
