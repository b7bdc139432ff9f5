/**
 * Composes scale-out for `concord serve`: the shared log and presence bus (Redis), the snapshot
 * store (PostgreSQL), the documents' persistence over them, the hub that joins each room to the
 * other instances and, unless turned off, a compaction worker. {@link connectScaleOut} connects to
 * real engines; {@link scaleOutOver} takes any implementation of the ports (the in-memory twins in
 * tests and the simulator).
 */
import { systemClock, type Clock } from "../clock.js";
import { ConcordError } from "../errors.js";
import { ServerLog, stderrLogSink, type LogSink } from "../ops/log.js";
import type { ScaleOut } from "../server/scale-out.js";
import { CompactionWorker } from "./compactor.js";
import { connectPostgres } from "./postgres-snapshots.js";
import type { PresenceBus } from "./presence-bus.js";
import { connectRedis } from "./redis-log.js";
import { RoomHub } from "./room-hub.js";
import type { SharedLog } from "./shared-log.js";
import { sharedPersistence } from "./shared-persistence.js";
import type { SnapshotStore } from "./snapshot-store.js";

export interface CompactionSettings {
  /** How often the worker looks for logs to compact, ms. Default 5,000. */
  readonly everyMs?: number;
  /** A log is compacted once it holds this many entries. Default 1,000. */
  readonly minEntries?: number;
}

export interface ScaleOutSettings {
  /** This instance's name, unique among the instances (stored with its log entries, used for presence). */
  readonly instance: string;
  /** Run a compaction worker in this instance (default), or not (`false`: run `concord worker` apart). */
  readonly compaction?: CompactionSettings | false;
  readonly heartbeatMs?: number;
  readonly clock?: Clock;
  readonly onLog?: LogSink;
}

/** Scale-out over engines given as ports. The engines are closed by `close()`. */
export function scaleOutOver(engines: { log: SharedLog; bus: PresenceBus; snapshots: SnapshotStore }, settings: ScaleOutSettings): ScaleOut {
  const instance = settings.instance;
  if (typeof instance !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(instance)) {
    throw new ConcordError("InvalidArgument", `the instance name must be 1 to 64 letters, digits, dots, dashes or underscores, got ${JSON.stringify(instance)}`);
  }
  const clock = settings.clock ?? systemClock;
  const log = new ServerLog(settings.onLog ?? stderrLogSink);
  const persistence = sharedPersistence({ log: engines.log, snapshots: engines.snapshots, instance });
  const hub = new RoomHub({
    instance,
    log: engines.log,
    snapshots: engines.snapshots,
    bus: engines.bus,
    persistence,
    clock,
    ...(settings.heartbeatMs !== undefined ? { heartbeatMs: settings.heartbeatMs } : {}),
    report: (event, fields) => log.warn(event, fields),
  });
  const c = settings.compaction;
  const worker =
    c === false
      ? undefined
      : new CompactionWorker({
          log: engines.log,
          snapshots: engines.snapshots,
          clock,
          ...(c?.everyMs !== undefined ? { everyMs: c.everyMs } : {}),
          ...(c?.minEntries !== undefined ? { minEntries: c.minEntries } : {}),
          report: (event, fields) => (event === "failed" ? log.warn("compaction.failed", fields) : log.info("compaction.done", fields)),
        });
  let closing: Promise<void> | undefined;
  return {
    persistence,
    linker: hub,
    health: () => hub.health(),
    close: () =>
      (closing ??= (async () => {
        hub.close();
        await worker?.stop();
        await Promise.allSettled([engines.bus.close(), engines.log.close(), engines.snapshots.close()]);
      })()),
  };
}

export interface ConnectScaleOutOptions extends ScaleOutSettings {
  /** `redis://host:port`: the shared log and presence (needs appendonly yes, appendfsync always). */
  readonly redis: string;
  /** `postgres://user@host:port/db`: the snapshots (needs fsync on, synchronous_commit on). */
  readonly postgres: string;
}

/**
 * Connects to Redis and PostgreSQL and composes scale-out over them. Rejects `Unavailable` when
 * either can't be reached, `InvalidArgument` for a bad URL or settings that would make an
 * acknowledgement a lie (nothing is left open then).
 */
export async function connectScaleOut(options: ConnectScaleOutOptions): Promise<ScaleOut> {
  const redis = await connectRedis({ url: options.redis });
  let snapshots: SnapshotStore;
  try {
    snapshots = await connectPostgres({ url: options.postgres });
  } catch (error) {
    await Promise.allSettled([redis.bus.close(), redis.log.close()]);
    throw error;
  }
  return scaleOutOver({ log: redis.log, bus: redis.bus, snapshots }, options);
}
