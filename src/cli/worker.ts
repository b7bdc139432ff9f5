/**
 * `concord worker --redis <url> --postgres <url>`: the compaction worker of a scaled-out deployment
 * on its own (when the `concord serve` instances run with `--compaction off`): folds each
 * document's Redis stream into its PostgreSQL snapshot and trims it, until SIGINT or SIGTERM. Any
 * number may run at once; killed at any point it loses nothing and folds nothing twice.
 */
import { systemClock } from "../clock.js";
import { isConcordError } from "../errors.js";
import { CompactionWorker } from "../hub/compactor.js";
import { connectPostgres } from "../hub/postgres-snapshots.js";
import { connectRedis } from "../hub/redis-log.js";
import { ServerLog } from "../ops/log.js";
import { integerFlag, logSinkFlag, parseFlags, UsageError } from "./flags.js";
import { catchShutdownSignals } from "./shutdown-signals.js";

export const WORKER_USAGE = `Usage: concord worker --redis <url> --postgres <url> [--every-ms 5000] [--min-entries 1000] [--log-level info]

Compacts the documents of scaled-out sync servers (concord serve --redis --postgres): every
--every-ms, each document whose Redis stream holds --min-entries entries or more is folded into its
PostgreSQL snapshot (committed first), then the stream is trimmed. Runs until SIGINT or SIGTERM.
`;

export async function worker(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(WORKER_USAGE);
    return 0;
  }
  const flags = parseFlags(args, ["redis", "postgres", "every-ms", "min-entries", "log-level"]);
  const redisUrl = flags.get("redis");
  const postgresUrl = flags.get("postgres");
  if (redisUrl === undefined || postgresUrl === undefined) throw new UsageError("concord worker takes --redis <url> and --postgres <url>");
  const everyMs = integerFlag(flags, "every-ms", 5_000, 10, Number.MAX_SAFE_INTEGER);
  const minEntries = integerFlag(flags, "min-entries", 1_000, 1, Number.MAX_SAFE_INTEGER);
  const log = new ServerLog(logSinkFlag(flags));
  const usage = (e: unknown): never => {
    throw isConcordError(e, "InvalidArgument") ? new UsageError(e.message) : e;
  };
  const signals = catchShutdownSignals("worker");
  let engines;
  try {
    const redis = await connectRedis({ url: redisUrl }).catch(usage);
    const snapshots = await connectPostgres({ url: postgresUrl }).catch(async (e: unknown) => {
      await Promise.allSettled([redis.bus.close(), redis.log.close()]);
      return usage(e);
    });
    engines = { ...redis, snapshots };
  } catch (e) {
    signals.release();
    throw e;
  }
  const compactor = new CompactionWorker({
    log: engines.log,
    snapshots: engines.snapshots,
    clock: systemClock,
    everyMs,
    minEntries,
    report: (event, fields) => (event === "failed" ? log.warn("compaction.failed", fields) : log.info("compaction.done", fields)),
  });
  process.stdout.write(`concord worker: compacting ${engines.log.name} into ${engines.snapshots.name} every ${everyMs} ms\n`);
  const { log: shared, bus, snapshots } = engines;
  return signals.closeOnSignal(async () => {
    await compactor.stop();
    await Promise.allSettled([bus.close(), shared.close(), snapshots.close()]);
  }, log);
}
