/**
 * `npm run bench -- strong`: Concord's strong mode (3 x `concord node --mode strong`) against etcd
 * (3 x Debian's `etcd-server`), on loopback, every member in a child process of its own, fsync on
 * both, all clients in this process, values of `VALUE_BYTES`, in the same run:
 *
 * - sequential puts, one client, one at a time: ops/s, p50 and p99 of each put's latency;
 * - puts with `WINDOW` in flight (one client): ops/s;
 * - linearizable gets, one at a time and `WINDOW` in flight (etcd's default get; Concord's
 *   default read, ReadIndex on the leader);
 * - failover: SIGKILL the leader, time until a put (retried at once on every error, by a client
 *   that knows every member) succeeds; the member is restarted between rounds. Both run with the
 *   same heartbeat interval and election timeout (etcd's defaults, `strong-systems.ts`).
 *
 * The throughput clients talk to the leader (etcd's members forward to theirs, which would cost
 * etcd a hop). Without `etcd` on PATH the etcd side is skipped, said so, and only Concord's figures
 * are printed. Measures the BUILT CLI (`dist/`; built when missing, warned about when stale).
 *
 * Environment: BENCH_REPS (3), BENCH_STRONG_N (20000 puts or gets with BENCH_STRONG_WINDOW in
 * flight), BENCH_STRONG_WINDOW (64), BENCH_STRONG_N1 (2000 one at a time), BENCH_STRONG_FAILOVERS
 * (5), BENCH_STRONG_CPU_PROF=<dir> (Concord's members run under `node --cpu-prof`).
 */
import { availableParallelism, loadavg } from "node:os";
import { compare, interleave, latencySummary, median, printComparison, printTable, round, row, writeResults, type ComparisonRow, type LatencySummary, type Row, type Sample } from "./harness.js";
import { ensureBuilt, findOnPath, staleBuildFiles } from "./processes.js";
import { CONCORD, ELECTION_MS, etcdVersion, HEARTBEAT_MS, startConcordCluster, startEtcdCluster, type ConsensusClient, type ConsensusSystem } from "./strong-systems.js";

const REPS = Number(process.env["BENCH_REPS"] ?? 3);
const N = Number(process.env["BENCH_STRONG_N"] ?? 20_000);
const WINDOW = Number(process.env["BENCH_STRONG_WINDOW"] ?? 64);
const N_SERIAL = Number(process.env["BENCH_STRONG_N1"] ?? 2_000);
const FAILOVERS = Number(process.env["BENCH_STRONG_FAILOVERS"] ?? 5);
const CPU_PROF_DIR = process.env["BENCH_STRONG_CPU_PROF"];
const VALUE_BYTES = 100;
/** Pause after a failed put during failover, ms: short, the same for both. */
const RETRY_PAUSE_MS = 5;

let runs = 0;
const value = (run: number, i: number): string => `${run}/${i}/`.padEnd(VALUE_BYTES, "x");

type Op = "put" | "get";

interface Measured extends Sample {
  readonly latency?: LatencySummary;
}

/** `n` operations of `op`, `window` in flight until the last; wall time, and latencies when one at a time. */
async function measure(client: ConsensusClient, op: Op, n: number, window: number): Promise<Measured> {
  const run = ++runs;
  let next = 0;
  const times: number[] = [];
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const key = `k/${i % 1000}`;
      const t = performance.now();
      if (op === "put") await client.put(key, value(run, i));
      else await client.get(key);
      if (window === 1) times.push(performance.now() - t);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  const ms = performance.now() - t0;
  return window === 1 ? { ms, latency: latencySummary(times) } : { ms };
}

/** Fills the keys the gets read. */
async function fill(client: ConsensusClient): Promise<void> {
  const run = ++runs;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < 1000) {
      const i = next++;
      await client.put(`k/${i}`, value(run, i));
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
}

/** SIGKILLs the leader; ms until a put through a client that knows every member succeeds. Restarts the member after. */
async function failover(system: ConsensusSystem, round: number): Promise<number> {
  const leader = await system.leader();
  await system.kill(leader);
  const t0 = performance.now();
  for (;;) {
    try {
      await system.anyClient.put(`failover/${round}`, value(round, 0));
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  }
  const ms = performance.now() - t0;
  await system.restart(leader);
  return ms;
}

interface Case {
  readonly op: Op;
  readonly window: number;
  readonly n: number;
}

const CASES: readonly Case[] = [
  { op: "put", window: 1, n: N_SERIAL },
  { op: "put", window: WINDOW, n: N },
  { op: "get", window: 1, n: N_SERIAL },
  { op: "get", window: WINDOW, n: N },
];

const caseName = (c: Case): string => `${c.op === "put" ? "puts" : "linearizable gets"}, ${c.window === 1 ? "1 client, one at a time" : `${c.window} in flight`}`;

export async function run(): Promise<void> {
  ensureBuilt();
  const started = performance.now();
  const loadBefore = loadavg()[0]!;
  const stale = staleBuildFiles();
  const etcd = findOnPath("etcd");
  const version = etcd === undefined ? undefined : etcdVersion(etcd);
  console.log(`\nstrong: 3 x concord node --mode strong vs 3 x etcd, loopback, fsync on both, heartbeat ${HEARTBEAT_MS} ms, election timeout ${ELECTION_MS} ms; clients in this process`);
  if (stale.length > 0) console.log(`  WARNING: dist/ is older than ${stale.join(", ")}: run npm run build to measure the working tree`);
  if (version === undefined) console.log("  etcd is NOT on PATH: the etcd baseline is SKIPPED (Debian: apt-get install etcd-server). Concord's figures only, no ratios.");

  const systems: ConsensusSystem[] = [];
  const results = new Map<string, Measured[]>();
  const failovers = new Map<ConsensusSystem, number[]>();
  const key = (s: ConsensusSystem, c: Case) => `${s.name}|${c.op}|${c.window}`;
  try {
    if (etcd !== undefined && version !== undefined) systems.push(await startEtcdCluster(etcd, version));
    systems.push(await startConcordCluster(CPU_PROF_DIR !== undefined ? { cpuProfDir: CPU_PROF_DIR } : {}));
    console.log(`  every member ready; etcd ${version ?? "(skipped)"}; median of ${REPS} interleaved rounds after a warm-up`);
    for (const s of systems) await fill(s.client);
    for (const c of CASES) {
      const samples = await interleave(REPS, systems.map((s) => () => measure(s.client, c.op, c.n, c.window)));
      systems.forEach((s, i) => results.set(key(s, c), samples[i]!));
      console.log(`  ${caseName(c)} done: ${systems.map((s, i) => `${s.name} ${Math.round(c.n / (median(samples[i]!.map((x) => x.ms)) / 1000)).toLocaleString("en-US")}/s`).join(", ")}`);
    }
    for (const s of systems) failovers.set(s, []);
    for (let r = 0; r < FAILOVERS; r++) {
      for (const s of systems) {
        const ms = await failover(s, r);
        failovers.get(s)!.push(ms);
        console.log(`  failover ${r + 1}/${FAILOVERS}, ${s.name}: ${Math.round(ms)} ms`);
      }
    }
  } finally {
    await Promise.all(systems.map((s) => s.stop()));
  }

  const rows: Row[] = [];
  for (const c of CASES) {
    const base = rows.length;
    for (const s of systems) rows.push(row(`${s.name}, ${caseName(c)}`, c.n, results.get(key(s, c))!, s === systems[0] ? undefined : rows[base]));
  }
  printTable(`strong: throughput, ${VALUE_BYTES} B values (x baseline: time relative to ${systems[0]!.name} on the same workload, lower is better)`, rows);

  const latency = (s: ConsensusSystem, op: Op): LatencySummary => {
    const reps = results.get(key(s, { op, window: 1, n: N_SERIAL }))!.map((m) => m.latency!);
    return { p50: median(reps.map((l) => l.p50)), p99: median(reps.map((l) => l.p99)), max: median(reps.map((l) => l.max)) };
  };
  console.log(`\nstrong: latency one at a time, ms (median over rounds of each round's percentile)`);
  console.table(systems.flatMap((s) => (["put", "get"] as const).map((op) => ({ system: s.name, op, ...Object.fromEntries(Object.entries(latency(s, op)).map(([k, v]) => [k, round(v, 3)])) }))));
  console.log(`\nstrong: failover, ms from SIGKILL of the leader to the first successful put`);
  console.table(systems.map((s) => ({ system: s.name, median: Math.round(median(failovers.get(s)!)), min: Math.round(Math.min(...failovers.get(s)!)), max: Math.round(Math.max(...failovers.get(s)!)) })));

  let comparison: ComparisonRow[] = [];
  const concord = systems.find((s) => s.name === CONCORD)!;
  const baseline = systems.find((s) => s !== concord);
  if (baseline !== undefined) {
    const ops = (s: ConsensusSystem, op: Op, window: number) => rows.find((r) => r.name === `${s.name}, ${caseName({ op, window, n: 0 })}`)!.opsPerSec;
    comparison = [
      compare(`puts/s, ${WINDOW} in flight`, ops(baseline, "put", WINDOW), ops(concord, "put", WINDOW), "higher", 0, 2),
      compare("put p50, ms, one at a time", latency(baseline, "put").p50, latency(concord, "put").p50, "lower", 3, 1),
      compare("put p99, ms, one at a time", latency(baseline, "put").p99, latency(concord, "put").p99, "lower", 3, null),
      compare("puts/s, one at a time", ops(baseline, "put", 1), ops(concord, "put", 1), "higher", 0, null),
      compare(`linearizable gets/s, ${WINDOW} in flight`, ops(baseline, "get", WINDOW), ops(concord, "get", WINDOW), "higher", 0, null),
      compare("linearizable gets/s, one at a time", ops(baseline, "get", 1), ops(concord, "get", 1), "higher", 0, null),
      compare("failover, ms (median)", median(failovers.get(baseline)!), median(failovers.get(concord)!), "lower", 0, 1),
    ];
    printComparison(`strong: Concord vs etcd ${baseline.version} (goals: puts at ${WINDOW} in flight >= 2x, put p50 <= etcd's, failover faster)`, "etcd", comparison);
  }

  const seconds = (performance.now() - started) / 1000;
  const loadAfter = loadavg()[0]!;
  console.log(`whole bench: ${seconds.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (cores: ${availableParallelism()})`);
  const file = writeResults("strong", {
    reps: REPS,
    n: N,
    window: WINDOW,
    serialN: N_SERIAL,
    valueBytes: VALUE_BYTES,
    heartbeatMs: HEARTBEAT_MS,
    electionMs: ELECTION_MS,
    etcd: version ?? "skipped: etcd not on PATH",
    throughput: rows,
    latency: systems.map((s) => ({ system: s.name, put: latency(s, "put"), get: latency(s, "get") })),
    runsMs: systems.map((s) => ({ system: s.name, cases: CASES.map((c) => ({ op: c.op, window: c.window, ms: results.get(key(s, c))!.map((m) => round(m.ms, 1)) })) })),
    failoverMs: systems.map((s) => ({ system: s.name, ms: failovers.get(s)!.map((x) => Math.round(x)) })),
    comparison,
    staleBuildFiles: stale,
    loadAverage: { before: round(loadBefore, 2), after: round(loadAfter, 2), cores: availableParallelism() },
    seconds: round(seconds, 1),
  });
  console.log(`results: ${file}`);
}
