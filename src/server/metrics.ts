/**
 * The sync server's metrics, served at `GET /metrics` in the Prometheus text exposition format
 * (`ops/prometheus.ts`).
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
import { Histogram, single, type HistogramSnapshot, type MetricFamily, type Sample } from "../ops/prometheus.js";

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
  readonly persistSeconds: HistogramSnapshot;
  readonly rejectedMessages: Readonly<Record<RejectReason, number>>;
  readonly rejectedConnections: Readonly<Record<ConnectionRejectReason, number>>;
  /** Connections closed because they read too slowly (their unsent bytes passed `maxBufferedBytes`). */
  readonly slowConsumers: number;
}

/** Gauges, read from the server's state when the metrics are rendered. */
export interface MetricsGauges {
  readonly documentsLoaded: number;
  readonly connections: number;
  /** Bytes waiting to be sent to every connection, as last seen. */
  readonly bufferedBytes: number;
  /** Connections cut to keep those bytes under the server's cap, since start. */
  readonly bufferDrops: number;
  /** With scale-out: whether each shared engine answered its last check, and the other instances heard from. */
  readonly shared?: { readonly logUp: boolean; readonly snapshotsUp: boolean; readonly instances: number };
}

/** The server's counters. Only ever increase, for the life of one server. */
export class ServerMetrics {
  #messagesIn = 0;
  #messagesOut = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #updatesPersisted = 0;
  readonly #persist = new Histogram();
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
    this.#persist.observe(seconds);
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
      persistSeconds: this.#persist.snapshot(),
      rejectedMessages: { ...this.#rejectedMessages },
      rejectedConnections: { ...this.#rejectedConnections },
      slowConsumers: this.#slowConsumers,
    };
  }
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/** Counters and gauges as metric families, in the order `/metrics` lists them (see `ops/prometheus.ts`). */
export function serverMetricFamilies(counters: MetricsSnapshot, gauges: MetricsGauges): MetricFamily[] {
  const byReason = (values: Readonly<Record<string, number>>): Sample[] => Object.entries(values).map(([reason, n]) => [{ reason }, n]);
  return [
    single("concord_documents_loaded", "gauge", "Documents (rooms) loaded in memory.", gauges.documentsLoaded),
    single("concord_connections", "gauge", "WebSocket connections open.", gauges.connections),
    single("concord_buffered_bytes", "gauge", "Bytes waiting to be sent to every connection (as last seen).", gauges.bufferedBytes),
    single("concord_buffer_drops_total", "counter", "Connections cut because the bytes waiting for all connections passed maxTotalBufferedBytes.", gauges.bufferDrops),
    single("concord_messages_in_total", "counter", "WebSocket messages received.", counters.messagesIn),
    single("concord_messages_out_total", "counter", "WebSocket messages sent.", counters.messagesOut),
    single("concord_bytes_in_total", "counter", "Payload bytes of the WebSocket messages received.", counters.bytesIn),
    single("concord_bytes_out_total", "counter", "Payload bytes of the WebSocket messages sent.", counters.bytesOut),
    single("concord_updates_persisted_total", "counter", "Document updates made durable in storage.", counters.updatesPersisted),
    {
      name: "concord_persist_seconds",
      type: "histogram",
      help: "Time from handing a document update to storage until it is durable.",
      histogram: counters.persistSeconds,
    },
    {
      name: "concord_rejected_messages_total",
      type: "counter",
      help: "Messages refused (the sending connection was closed, but for read_only), by reason.",
      samples: byReason(counters.rejectedMessages),
    },
    {
      name: "concord_rejected_connections_total",
      type: "counter",
      help: "Connections refused before joining a document, by reason.",
      samples: byReason(counters.rejectedConnections),
    },
    single(
      "concord_slow_consumer_disconnects_total",
      "counter",
      "Connections closed (1013, they reconnect and resync) because the bytes waiting to be sent to them passed maxBufferedBytes.",
      counters.slowConsumers,
    ),
    ...(gauges.shared === undefined
      ? []
      : [
          {
            name: "concord_shared_engine_up",
            type: "gauge" as const,
            help: "Scale-out: 1 when the shared engine answered its last check (log: Redis, snapshots: PostgreSQL), else 0.",
            samples: [
              [{ engine: "log" }, gauges.shared.logUp ? 1 : 0],
              [{ engine: "snapshots" }, gauges.shared.snapshotsUp ? 1 : 0],
            ] as Sample[],
          },
          single("concord_shared_instances", "gauge", "Scale-out: other instances heard from lately.", gauges.shared.instances),
        ]),
  ];
}
