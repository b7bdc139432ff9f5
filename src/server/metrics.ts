/**
 * The sync server's metrics, served at `GET /metrics` in the Prometheus text exposition format
 * (version 0.0.4), written by hand: a handful of counters and gauges need no library.
 *
 * | metric | type | meaning |
 * |---|---|---|
 * | `concord_documents_loaded` | gauge | documents (rooms) open in memory, unloading ones included |
 * | `concord_connections` | gauge | WebSocket connections open now |
 * | `concord_messages_in_total` | counter | WebSocket messages received (every frame, refused ones included) |
 * | `concord_messages_out_total` | counter | WebSocket messages sent |
 * | `concord_bytes_in_total` / `concord_bytes_out_total` | counter | payload bytes of those messages |
 * | `concord_updates_persisted_total` | counter | document updates durable in storage (one per append) |
 * | `concord_persist_seconds` | histogram | time from handing an update to storage until it is durable |
 * | `concord_rejected_messages_total{reason}` | counter | messages refused (the connection closed for it, but for `read_only`) |
 * | `concord_rejected_connections_total{reason}` | counter | connections refused before joining a room |
 */

/**
 * Why a message was refused (the connection is then closed):
 * - `protocol`: a binary frame the y-websocket codec or Yjs refused (closed with 4400);
 * - `text_frame`: a text frame (the protocol is binary; closed with 4400);
 * - `too_large`: over `maxMessageBytes` (closed by `ws` with 1009);
 * - `frame`: a broken WebSocket frame (bad opcode, invalid UTF-8...; closed by `ws`);
 * - `read_only`: a change from a read-only connection (answered "permission denied"; the
 *   connection is NOT closed);
 * - `doc_too_large`: a change that would take the document past `maxDocBytes` (closed with 4413).
 */
export type RejectReason = "protocol" | "text_frame" | "too_large" | "frame" | "read_only" | "doc_too_large";
/** Every {@link RejectReason}, in the order `/metrics` lists them. */
export const REJECT_REASONS: readonly RejectReason[] = ["protocol", "text_frame", "too_large", "frame", "read_only", "doc_too_large"];

/**
 * Why a connection was refused before it joined a room: `bad_room` (an empty or undecodable room
 * name, closed with 4400), `open_failed` (the document could not be opened, closed with 1011),
 * `shutting_down` (closed with 1001), `over_capacity` (`maxConnections` reached, closed with 1013),
 * `unauthorized` (no or unknown token, closed with 4401), `forbidden` (the token may not open the
 * document, closed with 4403).
 */
export type ConnectionRejectReason = "bad_room" | "open_failed" | "shutting_down" | "over_capacity" | "unauthorized" | "forbidden";
/** Every {@link ConnectionRejectReason}, in the order `/metrics` lists them. */
export const CONNECTION_REJECT_REASONS: readonly ConnectionRejectReason[] = [
  "bad_room",
  "open_failed",
  "shutting_down",
  "over_capacity",
  "unauthorized",
  "forbidden",
];

/** A copy of the counters at one moment. */
export interface MetricsSnapshot {
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly updatesPersisted: number;
  /** Cumulative counts per bucket of {@link PERSIST_BUCKETS_SECONDS}, and the sum in seconds. */
  readonly persistSeconds: { readonly buckets: readonly number[]; readonly sum: number };
  readonly rejectedMessages: Readonly<Record<RejectReason, number>>;
  readonly rejectedConnections: Readonly<Record<ConnectionRejectReason, number>>;
  /** Connections closed because they read too slowly (their unsent bytes passed `maxBufferedBytes`). */
  readonly slowConsumers: number;
}

/** Upper bounds (seconds) of the persist-latency histogram's buckets; `+Inf` is implied. */
export const PERSIST_BUCKETS_SECONDS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Gauges, read from the server's state when the metrics are rendered. */
export interface MetricsGauges {
  readonly documentsLoaded: number;
  readonly connections: number;
}

/** The server's counters. Only ever increase, for the life of one server. */
export class ServerMetrics {
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #updatesPersisted = 0;
  readonly #persistBuckets: number[] = PERSIST_BUCKETS_SECONDS.map(() => 0);
  #persistSum = 0;
  readonly #rejectedMessages = zeroes(REJECT_REASONS);
  readonly #rejectedConnections = zeroes(CONNECTION_REJECT_REASONS);
  #slowConsumers = 0;

  /** One WebSocket message of `bytes` bytes was received. */
  received(bytes: number): void {
    this.#messagesIn++;
    this.#bytesIn += bytes;
  }

  /** One WebSocket message of `bytes` bytes was handed to a socket. */
  sent(bytes: number): void {
    this.#messagesOut++;
    this.#bytesOut += bytes;
  }

  /** One document update became durable in storage, `seconds` after it was handed to it. */
  persisted(seconds: number): void {
    this.#updatesPersisted++;
    this.#persistSum += seconds;
    for (let i = 0; i < PERSIST_BUCKETS_SECONDS.length; i++) if (seconds <= PERSIST_BUCKETS_SECONDS[i]!) this.#persistBuckets[i]!++;
  }

  rejectedMessage(reason: RejectReason): void {
    this.#rejectedMessages[reason]++;
  }

  rejectedConnection(reason: ConnectionRejectReason): void {
    this.#rejectedConnections[reason]++;
  }

  /** A connection was closed for reading too slowly. */
  slowConsumer(): void {
    this.#slowConsumers++;
  }

  snapshot(): MetricsSnapshot {
    return {
      messagesIn: this.#messagesIn,
      messagesOut: this.#messagesOut,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      updatesPersisted: this.#updatesPersisted,
      persistSeconds: { buckets: [...this.#persistBuckets], sum: this.#persistSum },
      rejectedMessages: { ...this.#rejectedMessages },
      rejectedConnections: { ...this.#rejectedConnections },
      slowConsumers: this.#slowConsumers,
    };
  }
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** The `Content-Type` of {@link renderPrometheus}'s output. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Renders counters and gauges in the Prometheus text format: HELP and TYPE, then samples; ends with a newline. */
export function renderPrometheus(counters: MetricsSnapshot, gauges: MetricsGauges): string {
  const out: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, samples: ReadonlyArray<readonly [string, number]>): void => {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${formatValue(value)}`);
  };
  const byReason = (values: Readonly<Record<string, number>>): Array<readonly [string, number]> =>
    Object.entries(values).map(([reason, n]) => [`{reason="${escapeLabelValue(reason)}"}`, n] as const);

  metric("concord_documents_loaded", "gauge", "Documents (rooms) loaded in memory.", [["", gauges.documentsLoaded]]);
  metric("concord_connections", "gauge", "WebSocket connections open.", [["", gauges.connections]]);
  metric("concord_messages_in_total", "counter", "WebSocket messages received.", [["", counters.messagesIn]]);
  metric("concord_messages_out_total", "counter", "WebSocket messages sent.", [["", counters.messagesOut]]);
  metric("concord_bytes_in_total", "counter", "Payload bytes of the WebSocket messages received.", [["", counters.bytesIn]]);
  metric("concord_bytes_out_total", "counter", "Payload bytes of the WebSocket messages sent.", [["", counters.bytesOut]]);
  metric("concord_updates_persisted_total", "counter", "Document updates made durable in storage.", [["", counters.updatesPersisted]]);
  const persist = counters.persistSeconds;
  out.push(
    "# HELP concord_persist_seconds Time from handing a document update to storage until it is durable.",
    "# TYPE concord_persist_seconds histogram",
    ...PERSIST_BUCKETS_SECONDS.map((le, i) => `concord_persist_seconds_bucket{le="${le}"} ${persist.buckets[i]}`),
    `concord_persist_seconds_bucket{le="+Inf"} ${counters.updatesPersisted}`,
    `concord_persist_seconds_sum ${formatValue(persist.sum)}`,
    `concord_persist_seconds_count ${counters.updatesPersisted}`,
  );
  metric(
    "concord_rejected_messages_total",
    "counter",
    "Messages refused (the sending connection was closed, but for read_only), by reason.",
    byReason(counters.rejectedMessages),
  );
  metric(
    "concord_rejected_connections_total",
    "counter",
    "Connections refused before joining a document, by reason.",
    byReason(counters.rejectedConnections),
  );
  metric(
    "concord_slow_consumer_disconnects_total",
    "counter",
    "Connections closed (1013, they reconnect and resync) because the bytes waiting to be sent to them passed maxBufferedBytes.",
    [["", counters.slowConsumers]],
  );
  return `${out.join("\n")}\n`;
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** Label values escape backslash, double quote and newline. */
function escapeLabelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text escapes backslash and newline. */
function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
