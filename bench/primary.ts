/**
 * `npm run bench -- primary`: Concord's primary mode (`concord node`, a primary and one replica)
 * against Redis replication (`redis-server`, a primary and one replica), on loopback, every server
 * in a child process of its own, all clients in this process, in the same run:
 *
 * - replication lag: `LAG_N` sequential writes on the primary, each timed from the call that
 *   issues it until a client subscribed on the REPLICA hears it (Concord: a subscription of a
 *   `read: "replica"` store, served by the replica; Redis: a keyspace notification of the replica),
 *   on the same clock (`performance.now()`); p50, p99 and max;
 * - write throughput with a fixed number of writes in flight (`WINDOW`, then 1): Concord at
 *   `local` and at `{ replicas: 1 }`; Redis `SET` (pipelined on one connection) and `SET` +
 *   `WAIT 1 0` (one connection per write in flight: WAIT blocks its connection).
 *
 * Redis runs in two configurations, side by side: default persistence (no AOF, nothing fsynced:
 * the baseline, and how most deployments run) and `appendonly yes` + `appendfsync always`
 * (each server fsyncs before it sends the replies and pushes of an event-loop pass), which is the
 * same work as Concord's, whose nodes fsync every record before acknowledging, shipping or
 * applying it. The output says which is which.
 *
 * Without `redis-server` on PATH the Redis side is skipped, said so, and only Concord's figures
 * are printed. Measures the BUILT CLI (`dist/`; built when missing, warned about when stale).
 *
 * Environment: BENCH_REPS (3), BENCH_PRIMARY_LAG_N (2000), BENCH_PRIMARY_N (20000 writes with
 * BENCH_PRIMARY_WINDOW in flight), BENCH_PRIMARY_WINDOW (64), BENCH_PRIMARY_N1 (1000 writes one
 * at a time), BENCH_PRIMARY_CPU_PROF=<dir> (both Concord nodes run under `node --cpu-prof`, their
 * profiles written to <dir> when they stop).
 */
import { availableParallelism, loadavg } from "node:os";
import { compare, interleave, latencySummary, median, printComparison, printTable, round, row, withTimeout, writeResults, type ComparisonRow, type LatencySummary, type Row, type Sample } from "./harness.js";
import { CONCORD, REDIS_NAME, startConcordGroup, startRedisPair, type RedisPersistence, type ReplicatedSystem, type WriteLevel } from "./primary-systems.js";
import { ensureBuilt, findOnPath, staleBuildFiles } from "./processes.js";

const REPS = Number(process.env["BENCH_REPS"] ?? 3);
const LAG_N = Number(process.env["BENCH_PRIMARY_LAG_N"] ?? 2_000);
const N = Number(process.env["BENCH_PRIMARY_N"] ?? 20_000);
const WINDOW = Number(process.env["BENCH_PRIMARY_WINDOW"] ?? 64);
const N_SERIAL = Number(process.env["BENCH_PRIMARY_N1"] ?? 1_000);
const CPU_PROF_DIR = process.env["BENCH_PRIMARY_CPU_PROF"];
const VALUE_BYTES = 100;
/** Bound of one lag step (a write and its arrival on the replica). */
const STEP_TIMEOUT_MS = 10_000;
const PERSISTENCES: readonly RedisPersistence[] = ["default", "aof-always"];

/** Counts runs, so that each writes values of its own: every write changes its key. */
let runs = 0;
const value = (run: number, i: number): string => `${run}/${i}/`.padEnd(VALUE_BYTES, "x");

/** `n` writes in sequence at `local`, each timed from its call until the replica's client hears it. */
async function measureLag(system: ReplicatedSystem, n: number): Promise<LatencySummary> {
  const run = ++runs;
  const times: number[] = [];
  let want: string | undefined;
  let sentAt = 0;
  let arrived = (): void => undefined;
  const stop = await system.watchReplica("lat/", (key) => {
    if (key !== want) return;
    times.push(performance.now() - sentAt);
    want = undefined;
    arrived();
  });
  try {
    for (let i = 0; i < n; i++) {
      const key = `lat/${i}`;
      const visible = new Promise<void>((resolve) => (arrived = resolve));
      want = key;
      sentAt = performance.now();
      const written = system.write(key, value(run, i), "local");
      await withTimeout(Promise.all([written, visible]), STEP_TIMEOUT_MS, `${system.name}: write #${i} acknowledged and visible on the replica`);
    }
  } finally {
    stop();
  }
  return latencySummary(times);
}

/** `n` writes of `VALUE_BYTES` at `level`, `window` in flight at all times until the last; wall time. */
async function measureThroughput(system: ReplicatedSystem, n: number, window: number, level: WriteLevel): Promise<Sample> {
  const run = ++runs;
  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await system.write(`tp/${i}`, value(run, i), level);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(window, n) }, writer));
  return { ms: performance.now() - t0 };
}

const ACK_NAME: Record<WriteLevel, { concord: string; redis: string }> = {
  local: { concord: `durability "local"`, redis: "SET" },
  replica: { concord: "durability { replicas: 1 }", redis: "SET + WAIT 1 0" },
};

interface ThroughputCase {
  readonly window: number;
  readonly n: number;
  readonly level: WriteLevel;
}

export async function run(): Promise<void> {
  ensureBuilt();
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const stale = staleBuildFiles();
  const redisServer = findOnPath("redis-server");
  console.log(`\nprimary: concord node (primary + 1 replica) vs Redis replication (primary + 1 replica), loopback, each server in its own process; clients in this process`);
  if (stale.length > 0) console.log(`  WARNING: dist/ is older than ${stale.join(", ")}: run npm run build to measure the working tree`);
  if (redisServer === undefined) {
    console.log("  redis-server is NOT on PATH: the Redis baseline is SKIPPED (Debian: apt-get install redis-server). Concord's figures only, no ratios.");
  }

  const systems: ReplicatedSystem[] = [];
  let redisVersion: string | undefined;
  const lag = new Map<ReplicatedSystem, LatencySummary[]>();
  const throughput: { readonly c: ThroughputCase; readonly system: ReplicatedSystem; readonly samples: Sample[] }[] = [];
  try {
    if (redisServer !== undefined) {
      for (const p of PERSISTENCES) {
        const pair = await startRedisPair(redisServer, p, WINDOW);
        redisVersion = pair.version;
        systems.push(pair);
      }
    }
    systems.push(await startConcordGroup(CPU_PROF_DIR !== undefined ? { cpuProfDir: CPU_PROF_DIR } : {}));
    console.log(`  every server ready; redis-server ${redisVersion ?? "(skipped)"}; median of ${REPS} interleaved rounds after a warm-up`);

    const lagSamples = await interleave(REPS, systems.map((s) => () => measureLag(s, LAG_N)));
    systems.forEach((s, i) => lag.set(s, lagSamples[i]!));
    console.log("  lag done");
    const cases: ThroughputCase[] = [
      { window: WINDOW, n: N, level: "local" },
      { window: WINDOW, n: N, level: "replica" },
      { window: 1, n: N_SERIAL, level: "local" },
      { window: 1, n: N_SERIAL, level: "replica" },
    ];
    for (const c of cases) {
      const samples = await interleave(REPS, systems.map((s) => () => measureThroughput(s, c.n, c.window, c.level)));
      systems.forEach((system, i) => throughput.push({ c, system, samples: samples[i]! }));
      console.log(`  throughput, ${c.window} in flight, ${ACK_NAME[c.level].concord} done`);
    }
  } finally {
    await Promise.all(systems.map((s) => s.stop()));
  }

  const lagMedian = (s: ReplicatedSystem): LatencySummary => {
    const reps = lag.get(s)!;
    return { p50: median(reps.map((l) => l.p50)), p99: median(reps.map((l) => l.p99)), max: median(reps.map((l) => l.max)) };
  };
  console.log(`\nprimary: replication lag, ${LAG_N.toLocaleString("en-US")} sequential writes of ${VALUE_BYTES} B, from the write's call on the primary to visible to a client of the replica, ms`);
  console.table(
    systems.map((s) => {
      const l = lagMedian(s);
      return { system: s.name, p50: round(l.p50, 3), p99: round(l.p99, 3), max: round(l.max, 3) };
    }),
  );

  const rows: Row[] = [];
  const rowOf = new Map<string, Row>();
  const key = (system: ReplicatedSystem, window: number, level: WriteLevel) => `${system.name}|${window}|${level}`;
  for (const t of throughput) {
    const ack = t.system.name === CONCORD ? ACK_NAME[t.c.level].concord : ACK_NAME[t.c.level].redis;
    // systems[0] ran first on every case: the others' baseline.
    const r = row(`${t.system.name}, ${ack}, ${t.c.window} in flight`, t.c.n, t.samples, rowOf.get(key(systems[0]!, t.c.window, t.c.level)));
    rows.push(r);
    rowOf.set(key(t.system, t.c.window, t.c.level), r);
  }
  printTable(
    `primary: write throughput, writes of ${VALUE_BYTES} B acknowledged per second (x baseline: time relative to ${systems[0]!.name} on the same workload, lower is better)`,
    rows,
  );

  const comparisons: { persistence: RedisPersistence; rows: ComparisonRow[] }[] = [];
  const concord = systems.find((s) => s.name === CONCORD)!;
  const opsPerSec = (system: ReplicatedSystem, window: number, level: WriteLevel) => rowOf.get(key(system, window, level))!.opsPerSec;
  for (const p of redisServer === undefined ? [] : PERSISTENCES) {
    const redis = systems.find((s) => s.name === REDIS_NAME[p])!;
    const ours = lagMedian(concord);
    const theirs = lagMedian(redis);
    const tput = (window: number, level: WriteLevel, goal: number | null): ComparisonRow =>
      compare(
        `writes/s, ${ACK_NAME[level].concord} vs ${ACK_NAME[level].redis}, ${window} in flight`,
        opsPerSec(redis, window, level),
        opsPerSec(concord, window, level),
        "higher",
        0,
        goal,
      );
    // The goals (level with Redis) are stated against the configuration that does the same work.
    const goal = p === "aof-always" ? 1 : null;
    comparisons.push({
      persistence: p,
      rows: [
        compare(`lag p50, ms (${LAG_N.toLocaleString("en-US")} sequential writes, primary -> visible on replica)`, theirs.p50, ours.p50, "lower", 3, goal),
        compare("lag p99, ms", theirs.p99, ours.p99, "lower", 3, goal),
        compare("lag max, ms", theirs.max, ours.max, "lower", 3, null),
        tput(WINDOW, "local", goal),
        tput(1, "local", goal),
        tput(WINDOW, "replica", null),
        tput(1, "replica", null),
      ],
    });
  }
  for (const { persistence, rows: cmp } of comparisons) {
    printComparison(
      persistence === "default"
        ? `primary: Concord vs ${REDIS_NAME.default} (Redis's default persistence, no AOF): how most deployments run; no goal.\n` +
            "  NOT the same work: this Redis fsyncs nothing, Concord fsyncs every write on the primary before acknowledging or\n" +
            "  shipping it and on the replica before applying it; WAIT 1 0 means the replica received it, { replicas: 1 } that it is durable there."
        : `primary: Concord vs ${REDIS_NAME["aof-always"]} (appendonly yes, appendfsync always): THE APPLES-TO-APPLES ONE, the goals (level with Redis) are stated against it.\n` +
            "  Both fsync on the primary before acknowledging and shipping a write and on the replica before a reader there hears of it\n" +
            "  or (WAIT) the primary hears its ack; both group writes that arrive together under one fsync.",
      "redis",
      cmp,
    );
  }

  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg()[0]!;
  // Every process of both systems shares the machine's cores: anything else running skews the ratios.
  console.log(`whole bench: ${seconds.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (cores: ${availableParallelism()})`);
  const file = writeResults("primary", {
    reps: REPS,
    lagN: LAG_N,
    throughputN: N,
    window: WINDOW,
    serialN: N_SERIAL,
    valueBytes: VALUE_BYTES,
    redis: redisServer === undefined ? "skipped: redis-server not on PATH" : { version: redisVersion, configurations: PERSISTENCES.map((p) => REDIS_NAME[p]) },
    lag: systems.map((s) => ({ system: s.name, median: lagMedian(s), runs: lag.get(s)!.map((l) => ({ p50: round(l.p50, 3), p99: round(l.p99, 3), max: round(l.max, 3) })) })),
    throughput: rows,
    throughputRunsMs: throughput.map((t) => ({ system: t.system.name, window: t.c.window, level: t.c.level, ms: t.samples.map((s) => round(s.ms, 1)) })),
    comparisons,
    staleBuildFiles: stale,
    loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2), cores: availableParallelism() },
    seconds: round(seconds, 1),
  });
  if (CPU_PROF_DIR !== undefined) console.log(`cpu profiles of both Concord nodes: ${CPU_PROF_DIR}`);
  console.log(`results: ${file}`);
}
