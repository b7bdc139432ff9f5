/**
 * `npm run bench -- scale-out`: `concord serve` scaled out over one Redis (AOF, fsync always) and
 * one PostgreSQL on loopback, with 1, 2 and 3 instances (child processes of the built CLI), stock
 * y-websocket clients spread over them, against one `concord serve` on files in the same run:
 *
 * - propagation latency: writer A on the first instance, observer B on the last (another instance
 *   from 2 up), `LATENCY_N` sequential sets, p50 / p99;
 * - throughput: three writers spread over the instances, `THROUGHPUT_N` single-set transactions in
 *   all, until an observer on the last instance holds them all (the same clients in every
 *   deployment, so what changes is the servers' work);
 * - connections held per instance and each instance's RSS, with `CLIENTS` clients spread over them.
 *
 * y/hub (y-redis), the Yjs world's scale-out server, is not on the npm registry (`@y/hub`,
 * `@y/redis`: 404), so it can't be installed here to run beside ours; the bench says so. Redis and
 * PostgreSQL come from Debian's packages (`test/engines/engines.ts` starts them in temp folders);
 * without them the bench says so and stops.
 */
import { readFileSync } from "node:fs";
import type * as Y from "yjs";
import { haveRedis, havePostgres, startPostgres, startRedis, type Engine } from "../test/engines/engines.js";
import { compare, latencySummary, printComparison, round, withTimeout, writeResults, type LatencySummary } from "./harness.js";
import { benchTempDir, ensureBuilt, freePort, OUR_CLI, removeTempDir, startProcess, type BenchProcess } from "./processes.js";
import { providerSynced, stockClient } from "./sync-peers.js";

const LATENCY_N = Number(process.env["BENCH_SCALE_OUT_LATENCY_N"] ?? 1_000);
const THROUGHPUT_N = Number(process.env["BENCH_SCALE_OUT_THROUGHPUT_N"] ?? 9_000);
const CLIENTS = Number(process.env["BENCH_SCALE_OUT_CLIENTS"] ?? 300);
const TIMEOUT_MS = 60_000;
const WARM_UP = 300;

type Client = ReturnType<typeof stockClient>;

interface Deployment {
  readonly name: string;
  readonly urls: readonly string[];
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

async function single(): Promise<Deployment> {
  const dir = benchTempDir("concord-bench-scale-out-one-");
  const port = await freePort();
  const p = await startProcess({ name: "concord serve (files)", command: process.execPath, args: [OUR_CLI, "serve", "--port", String(port), "--data", dir, "--static", "none", "--log-level", "warn"], ready: /listening on/, readyTimeoutMs: 20_000 });
  return { name: "one concord serve (files)", urls: [`ws://127.0.0.1:${port}`], pids: [p.pid], stop: async () => (await p.stop(), removeTempDir(dir)) };
}

async function instances(n: number, redis: Engine, postgres: Engine): Promise<Deployment> {
  const procs: BenchProcess[] = [];
  const urls: string[] = [];
  for (let i = 0; i < n; i++) {
    const port = await freePort();
    procs.push(
      await startProcess({
        name: `concord serve instance i${i}`,
        command: process.execPath,
        args: [OUR_CLI, "serve", "--port", String(port), "--static", "none", "--redis", redis.url, "--postgres", postgres.url, "--instance", `i${i}`, "--log-level", "warn"],
        ready: /listening on/,
        readyTimeoutMs: 20_000,
      }),
    );
    urls.push(`ws://127.0.0.1:${port}`);
  }
  return { name: `${n} instance${n > 1 ? "s" : ""} (Redis + PostgreSQL)`, urls, pids: procs.map((p) => p.pid), stop: async () => void (await Promise.all(procs.map((p) => p.stop()))) };
}

async function clientOn(url: string, room: string): Promise<Client> {
  const c = stockClient(url, room);
  await providerSynced(c.provider, `a client of ${url}`, 15_000);
  return c;
}

function close(clients: readonly Client[]): void {
  for (const c of clients) {
    c.provider.destroy();
    c.doc.destroy();
  }
}

async function latency(d: Deployment, room: string): Promise<LatencySummary> {
  const a = await clientOn(d.urls[0]!, room);
  const b = await clientOn(d.urls[d.urls.length - 1]!, room);
  const seen = b.doc.getMap("concord");
  const times: number[] = [];
  try {
    // The first WARM_UP sets are not timed: every process's JIT warms up on them.
    for (let i = 0; i < LATENCY_N + WARM_UP; i++) {
      const arrived = new Promise<void>((resolve) => {
        const on = (e: Y.YMapEvent<unknown>): void => {
          if (e.keysChanged.has("lat") && seen.get("lat") === i) {
            seen.unobserve(on);
            resolve();
          }
        };
        seen.observe(on);
      });
      const t0 = performance.now();
      a.doc.getMap("concord").set("lat", i);
      await withTimeout(arrived, 10_000, `${d.name}: set #${i} never reached the observer`);
      if (i >= WARM_UP) times.push(performance.now() - t0);
    }
  } finally {
    close([a, b]);
  }
  return latencySummary(times);
}

/** Writers spread over the instances (as many in every deployment) and ONE observer on the last instance, so the clients' own work is the same whatever the deployment. */
const WRITERS = 3;

/** `THROUGHPUT_N` sets from `WRITERS` writers spread over the instances; ms until the observer holds them all. */
async function throughput(d: Deployment, room: string, n = THROUGHPUT_N): Promise<number> {
  const writers = await Promise.all(Array.from({ length: WRITERS }, (_, i) => clientOn(d.urls[i % d.urls.length]!, room)));
  const observer = await clientOn(d.urls[d.urls.length - 1]!, room);
  const map = observer.doc.getMap("concord");
  try {
    const all = new Promise<number>((resolve) => {
      const on = (): void => {
        if (map.size >= n) {
          map.unobserve(on);
          resolve(performance.now());
        }
      };
      map.observe(on);
    });
    const t0 = performance.now();
    const per = Math.ceil(n / WRITERS);
    for (let i = 0; i < n; i++) {
      writers[Math.floor(i / per)]!.doc.getMap("concord").set(`t${i}`, i);
      if (i % 500 === 499) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const done = await withTimeout(all, TIMEOUT_MS, `${d.name}: throughput`).catch((e: unknown) => {
      throw new Error(`${String(e)}; the observer holds ${map.size} of ${n}`);
    });
    return done - t0;
  } finally {
    close([...writers, observer]);
  }
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function connections(d: Deployment, room: string): Promise<{ perInstance: number[]; rssMB: number[] }> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => clientOn(d.urls[i % d.urls.length]!, room)));
  try {
    const perInstance = await Promise.all(
      d.urls.map(async (u) => ((await (await fetch(`${u.replace(/^ws/, "http")}/healthz`)).json()) as { connections: number }).connections),
    );
    return { perInstance, rssMB: d.pids.map((p) => round(rssMB(p), 1)) };
  } finally {
    close(clients);
  }
}

export async function run(): Promise<void> {
  ensureBuilt();
  console.log("\nscale-out: y/hub (y-redis) is not on the npm registry (@y/hub, @y/redis: 404), so it is not run beside ours");
  if (!haveRedis || !havePostgres) {
    console.log(`scale-out: skipped: needs Debian's ${!haveRedis ? "redis-server " : ""}${!havePostgres ? "postgresql" : ""} (apt-get install -y redis-server postgresql)`);
    return;
  }
  const [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
  const results: { name: string; instances: number; latency: LatencySummary; setsPerSec: number; perInstance: number[]; rssMB: number[] }[] = [];
  try {
    const makers: [number, () => Promise<Deployment>][] = [[0, single], [1, () => instances(1, redis, postgres)], [2, () => instances(2, redis, postgres)], [3, () => instances(3, redis, postgres)]];
    for (const [n, make] of makers) {
      const d = await make();
      try {
        // Warm-up, as bench/sync.ts does: every process's JIT optimizes the paths the runs take.
        console.log(`  ${d.name}: warm-up...`);
        await throughput(d, `warm-${n}`, 5_000);
        console.log(`  ${d.name}: latency...`);
        const l = await latency(d, `lat-${n}`);
        console.log(`  ${d.name}: throughput...`);
        const ms = await throughput(d, `tput-${n}`);
        console.log(`  ${d.name}: ${CLIENTS} connections...`);
        const c = await connections(d, `conn-${n}`);
        results.push({ name: d.name, instances: n, latency: l, setsPerSec: round((THROUGHPUT_N / ms) * 1000, 0), ...c });
      } finally {
        await d.stop();
      }
    }
  } finally {
    await Promise.all([redis.stop(), postgres.stop()]);
  }
  console.log(`\nscale-out: stock y-websocket clients; latency: ${LATENCY_N} sequential sets, writer on the first instance, observer on the last; throughput: ${THROUGHPUT_N} single-set transactions from ${WRITERS} writers spread over the instances, until an observer on the last holds all`);
  console.table(
    results.map((r) => ({
      deployment: r.name,
      "p50 ms": round(r.latency.p50, 3),
      "p99 ms": round(r.latency.p99, 3),
      "sets/s": r.setsPerSec,
      [`${CLIENTS} clients: per instance`]: r.perInstance.join(" / "),
      "RSS MB per instance": r.rssMB.join(" / "),
    })),
  );
  const one = results[0]!;
  const three = results[3]!;
  printComparison(
    "scale-out: 3 instances vs one concord serve on files (goals: latency across instances within 1.5x, throughput growing with instances)",
    "one serve",
    [
      compare("propagation p50 across instances, ms", one.latency.p50, three.latency.p50, "lower", 3, 1.5),
      compare("propagation p99 across instances, ms", one.latency.p99, three.latency.p99, "lower", 3, 1.5),
      compare("throughput, sets/s", one.setsPerSec, three.setsPerSec, "higher", 0, null),
      compare("throughput 3 instances vs 1 instance, sets/s", results[1]!.setsPerSec, three.setsPerSec, "higher", 0, 1),
    ],
  );
  console.log(`results: ${writeResults("scale-out", { latencyN: LATENCY_N, throughputN: THROUGHPUT_N, clients: CLIENTS, yHub: "not on the npm registry", results })}`);
}
