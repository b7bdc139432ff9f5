/**
 * `npm run bench [-- name...]`: runs the named benchmarks (all when none is named);
 * `npm run bench -- --help` lists them with their options. Each prints its progress, then a table
 * with ratios against a peer measured in the same run, and writes JSON to bench/results/.
 */

interface Bench {
  /** What it measures, against what peer. */
  readonly about: string;
  /** Environment variables it reads, with their defaults. */
  readonly options: readonly (readonly [name: string, meaning: string])[];
  /** About how long a run with the defaults takes on the 2-core machine. */
  readonly takes: string;
  readonly load: () => Promise<{ run: () => Promise<void> }>;
}

const BENCHES: Record<string, Bench> = {
  "eventual-local": {
    about: "eventual mode embedded, no network: 100k sets (one per transaction, and batched) on memory and file storage, vs raw Yjs",
    options: [
      ["BENCH_N=100000", "sets per variant"],
      ["BENCH_REPS=7", "rounds (median)"],
    ],
    takes: "1 min",
    load: () => import("./eventual-local.js"),
  },
  sync: {
    about: "concord serve vs the stock y-websocket server (child processes, loopback): latency A -> B, throughput, server memory",
    options: [
      ["BENCH_REPS=3", "rounds (median)"],
      ["BENCH_SYNC_LATENCY_N=2000", "sequential sets timed"],
      ["BENCH_SYNC_THROUGHPUT_N=50000", "single-set transactions for throughput"],
      ["BENCH_SYNC_DOCS=100, BENCH_SYNC_KEYS=1000", "documents x keys of the memory phase"],
      ["BENCH_SYNC_CPU_PROF=<dir>", "run our server under node --cpu-prof"],
    ],
    takes: "1 min",
    load: () => import("./sync.js"),
  },
  "retained-heap": {
    about: "heap a loaded document keeps after GC: a store per room (ours) vs a Y.Doc per room (stock server)",
    options: [["BENCH_DOCS=100, BENCH_KEYS=1000", "documents x keys"]],
    takes: "5 s",
    load: () => import("./retained-heap.js"),
  },
  "raft-core": {
    about: "the pure Raft core: committed entries/s of 3 nodes in one process vs 1 node, and election times",
    options: [
      ["BENCH_N=50000", "entries per variant"],
      ["BENCH_REPS=5", "rounds (median)"],
      ["BENCH_TRIALS=1000", "elections timed"],
    ],
    takes: "1 min",
    load: () => import("./raft-core.js"),
  },
  primary: {
    about: "primary mode (concord node, a primary and a replica) vs Redis replication (redis-server, skipped when missing): lag, write throughput",
    options: [
      ["BENCH_REPS=3", "rounds (median)"],
      ["BENCH_PRIMARY_LAG_N=2000", "writes timed until the replica has them"],
      ["BENCH_PRIMARY_N=20000, BENCH_PRIMARY_WINDOW=64", "writes with that many in flight"],
      ["BENCH_PRIMARY_N1=1000", "writes one at a time"],
      ["BENCH_PRIMARY_CPU_PROF=<dir>", "run our nodes under node --cpu-prof"],
    ],
    takes: "1 min",
    load: () => import("./primary.js"),
  },
  strong: {
    about: "strong mode (3 x concord node --mode strong) vs etcd 3.4 (3 x etcd, skipped when missing): puts, gets, failover",
    options: [
      ["BENCH_REPS=3", "rounds (median)"],
      ["BENCH_STRONG_N=20000, BENCH_STRONG_WINDOW=64", "operations with that many in flight"],
      ["BENCH_STRONG_N1=2000", "operations one at a time"],
      ["BENCH_STRONG_FAILOVERS=5", "leader kills timed"],
      ["BENCH_STRONG_CPU_PROF=<dir>", "run our members under node --cpu-prof"],
    ],
    takes: "2 min",
    load: () => import("./strong.js"),
  },
  "scale-out": {
    about: "concord serve scaled out over Redis + PostgreSQL, 1 to 3 instances, vs one concord serve on files: propagation across instances, throughput, connections and RSS per instance (skipped without redis-server/postgresql)",
    options: [
      ["BENCH_SCALE_OUT_LATENCY_N=1000", "sequential sets timed"],
      ["BENCH_SCALE_OUT_THROUGHPUT_N=9000", "single-set transactions for throughput"],
      ["BENCH_SCALE_OUT_CLIENTS=300", "clients spread over the instances"],
    ],
    takes: "1 min",
    load: () => import("./scale-out.js"),
  },
  scale: {
    about: "how costs grow: a document of 10k to 1M keys (eventual store vs raw Yjs) and a room of 10 to 1,000 clients (concord serve vs the stock server); SVG chart next to the JSON",
    options: [
      ["BENCH_SCALE_KEYS=10000,100000,1000000", "document sizes"],
      ["BENCH_SCALE_CLIENTS=10,100,1000", "audiences"],
      ["BENCH_SCALE_OPS=20000", "sets timed per document size"],
      ["BENCH_SCALE_FANOUTS=20", "fan-outs timed per audience (median)"],
    ],
    takes: "3 min",
    load: () => import("./scale.js"),
  },
  demo: {
    about: "the browser side: bundle sizes vs raw Yjs + y-websocket, and the demo page's load in Chromium (skipped without it)",
    options: [["BENCH_LOADS=10", "page loads timed"]],
    takes: "15 s",
    load: () => import("./demo.js"),
  },
};

/** The text of `--help`. */
function help(): string {
  const lines = [
    "npm run bench [-- <name>...]   runs the named benchmarks, all of them when none is named",
    "npm run bench -- --help        this list",
    "",
    "Each prints its progress, then a table of our figures, the peer's measured in the same run, and",
    "their ratio; and writes JSON to bench/results/. Options are environment variables.",
    "",
  ];
  for (const [name, b] of Object.entries(BENCHES)) {
    lines.push(`${name} (about ${b.takes})`, `    ${b.about}`);
    for (const [option, meaning] of b.options) lines.push(`    ${option.padEnd(48)} ${meaning}`);
    lines.push("");
  }
  return lines.join("\n");
}

const names = process.argv.slice(2);
if (names.includes("--help") || names.includes("-h")) {
  process.stdout.write(help());
  process.exit(0);
}
const unknown = names.filter((n) => !Object.hasOwn(BENCHES, n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHES).join(", ")} (npm run bench -- --help says more)`);
  process.exit(2);
}
for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
  const started = performance.now();
  console.log(`\n=== bench ${name}: ${BENCHES[name]!.about}`);
  await (await BENCHES[name]!.load()).run();
  console.log(`=== bench ${name} done in ${((performance.now() - started) / 1_000).toFixed(0)} s`);
}
