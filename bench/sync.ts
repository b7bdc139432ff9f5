/**
 * `npm run bench -- sync`: `concord serve` against the stock y-websocket server, in the same run,
 * on loopback, each server in a child process of its own. Stock y-websocket clients talk to both,
 * so the comparison isolates the server; rows with Concord's own clients follow.
 *
 * Not a like-for-like durability comparison, and the output says so: ours persists every update
 * (file storage, fsync, group commit), forwarding it at once and acknowledging it once durable; the
 * stock server keeps documents in memory only and persists nothing.
 *
 * Workloads, per server:
 * - latency: one set on A until B's document holds it, `LATENCY_N` times in sequence (p50, p99);
 * - throughput: `THROUGHPUT_N` single-set transactions from A until B holds all of them;
 * - memory (fresh server processes): RSS idle; with `DOCS` documents x `KEYS` keys written through
 *   clients that then left (rooms loaded: ours with a long idle unload); ours again with a short
 *   idle unload, once every room unloaded.
 *
 * Environment: BENCH_REPS (3), BENCH_SYNC_LATENCY_N (2000), BENCH_SYNC_THROUGHPUT_N (50000),
 * BENCH_SYNC_DOCS (100), BENCH_SYNC_KEYS (1000), BENCH_SYNC_CPU_PROF=<dir> (our server of the
 * latency/throughput phase runs under `node --cpu-prof`, profile written to <dir> when it stops).
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type * as Y from "yjs";
import { compare, latencySummary, median, pollUntil, printComparison, round, withTimeout, writeResults, type ComparisonRow, type LatencySummary } from "./harness.js";
import { loadRoom, openPair, type ClientKind, type PeerPair } from "./sync-peers.js";
import { benchTempDir, ensureBuilt, removeTempDir, staleBuildFiles } from "./processes.js";
import { startServerProcess, type ServerKind, type ServerProcess } from "./sync-servers.js";

const REPS = Number(process.env["BENCH_REPS"] ?? 3);
const LATENCY_N = Number(process.env["BENCH_SYNC_LATENCY_N"] ?? 2_000);
const THROUGHPUT_N = Number(process.env["BENCH_SYNC_THROUGHPUT_N"] ?? 50_000);
const DOCS = Number(process.env["BENCH_SYNC_DOCS"] ?? 100);
const KEYS = Number(process.env["BENCH_SYNC_KEYS"] ?? 1_000);
const CPU_PROF_DIR = process.env["BENCH_SYNC_CPU_PROF"];
/** Sets sent by A per macrotask in the throughput run; A yields in between, as an app would. */
const THROUGHPUT_CHUNK = 1_000;
/** Documents loaded at once in the memory phase. */
const LOAD_CONCURRENCY = 10;
/** Ours in the memory phase: long enough that no room unloads while measured / short enough to watch them go. */
const LONG_IDLE_UNLOAD_MS = 600_000;
const SHORT_IDLE_UNLOAD_MS = 200;
/** Pause before reading RSS, so that sockets closed and timers ran. */
const SETTLE_MS = 1_000;
const MEASURE_TIMEOUT_MS = 90_000;

const value = (i: number) => ({ title: `todo ${i}`, done: i % 2 === 0 });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Variant {
  readonly server: ServerKind;
  readonly clients: ClientKind;
}
const VARIANTS: readonly Variant[] = [
  { server: "stock", clients: "stock" },
  { server: "concord", clients: "stock" },
  { server: "concord", clients: "concord" },
  { server: "stock", clients: "concord" },
];
const SERVER_NAME: Record<ServerKind, string> = { stock: "stock y-websocket server", concord: "concord serve" };
const variantName = (v: Variant) => `${v.clients} clients -> ${SERVER_NAME[v.server]}`;

/** `n` sets in sequence: each on A, then wait until B's map holds it. Times in ms. */
async function measureLatency(pair: PeerPair, n: number): Promise<LatencySummary> {
  const times: number[] = [];
  let want = -1;
  let sentAt = 0;
  let arrived: (() => void) | undefined;
  const onChange = (event: Y.YMapEvent<unknown>): void => {
    if (arrived === undefined || !event.keysChanged.has("lat") || pair.seen.get("lat") !== want) return;
    times.push(performance.now() - sentAt);
    const done = arrived;
    arrived = undefined;
    done();
  };
  pair.seen.observe(onChange);
  try {
    for (let i = 0; i < n; i++) {
      want = i;
      const step = new Promise<void>((resolve) => (arrived = resolve));
      sentAt = performance.now();
      pair.set("lat", i);
      await withTimeout(step, 10_000, `latency set #${i} never reached B`);
    }
  } finally {
    pair.seen.unobserve(onChange);
  }
  return latencySummary(times);
}

/** `n` single-set transactions from A; ms until B holds every one. */
async function measureThroughput(pair: PeerPair, n: number): Promise<number> {
  let seen = 0;
  let doneAt = 0;
  let allSeen!: () => void;
  const all = new Promise<void>((resolve) => (allSeen = resolve));
  const onChange = (event: Y.YMapEvent<unknown>): void => {
    seen += event.keysChanged.size;
    if (seen >= n && doneAt === 0) {
      doneAt = performance.now();
      allSeen();
    }
  };
  pair.seen.observe(onChange);
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      pair.set(`t${i}`, i);
      if ((i + 1) % THROUGHPUT_CHUNK === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await withTimeout(all, MEASURE_TIMEOUT_MS, `throughput: B saw ${seen} of ${n} sets`);
    return doneAt - t0;
  } finally {
    pair.seen.unobserve(onChange);
  }
}

async function withPair<T>(v: Variant, server: ServerProcess, room: string, fn: (pair: PeerPair) => Promise<T>): Promise<T> {
  const pair = await openPair(v.clients, server.url, room);
  try {
    return await fn(pair);
  } finally {
    await pair.close();
  }
}

interface SpeedResult {
  readonly variant: Variant;
  readonly latency: LatencySummary[];
  readonly throughputMs: number[];
}

/** Latency and throughput of every variant, warm-up first, then REPS interleaved rounds. */
async function speedPhase(): Promise<{ results: SpeedResult[]; ourDataBytes: number; profile: string | undefined }> {
  const dataDir = benchTempDir("concord-bench-sync-");
  const servers = new Map<ServerKind, ServerProcess>();
  try {
    const [stock, ours] = await Promise.all([
      startServerProcess("stock"),
      startServerProcess("concord", { dataDir, ...(CPU_PROF_DIR !== undefined ? { cpuProfDir: CPU_PROF_DIR } : {}) }),
    ]);
    servers.set("stock", stock).set("concord", ours);
    const results: SpeedResult[] = VARIANTS.map((variant) => ({ variant, latency: [], throughputMs: [] }));
    const tag = (v: Variant) => `${v.clients}-${v.server}`;
    for (const v of VARIANTS) {
      const server = servers.get(v.server)!;
      await withPair(v, server, `warm-lat-${tag(v)}`, (p) => measureLatency(p, 200));
      await withPair(v, server, `warm-tput-${tag(v)}`, (p) => measureThroughput(p, 5_000));
    }
    for (let rep = 0; rep < REPS; rep++) {
      for (const r of results) {
        const server = servers.get(r.variant.server)!;
        r.latency.push(await withPair(r.variant, server, `lat-${tag(r.variant)}-${rep}`, (p) => measureLatency(p, LATENCY_N)));
      }
      for (const r of results) {
        const server = servers.get(r.variant.server)!;
        r.throughputMs.push(await withPair(r.variant, server, `tput-${tag(r.variant)}-${rep}`, (p) => measureThroughput(p, THROUGHPUT_N)));
      }
      process.stdout.write(`  speed round ${rep + 1}/${REPS} done\n`);
    }
    await Promise.all([...servers.values()].map((s) => s.stop()));
    const profile = CPU_PROF_DIR !== undefined ? newestFile(CPU_PROF_DIR, ".cpuprofile") : undefined;
    return { results, ourDataBytes: folderBytes(dataDir), profile };
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    removeTempDir(dataDir);
  }
}

interface MemoryResult {
  readonly idleMB: number;
  /** DOCS x KEYS written, clients gone, rooms loaded (not measured with a short idle unload). */
  readonly loadedMB?: number;
  /** Peak RSS of the process over the whole phase. */
  readonly peakMB: number;
  /** Ours with a short idle unload: once every room unloaded. */
  readonly unloadedMB?: number;
  readonly loadSeconds: number;
  readonly dataBytes?: number;
}

async function loadRooms(server: ServerProcess, prefix: string): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < DOCS) {
      const d = next++;
      await loadRoom(server.url, `${prefix}-${d}`, KEYS, value);
    }
  };
  await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
  return (performance.now() - t0) / 1000;
}

/** Polls our `/healthz` until it reports `documents` loaded rooms. */
async function waitForDocuments(server: ServerProcess, documents: number, timeoutMs: number): Promise<void> {
  let last = "";
  await pollUntil(
    () => `concord serve to report ${documents} documents (last /healthz: ${last})`,
    async () => {
      last = await server.get("/healthz");
      return (JSON.parse(last) as { documents: number }).documents === documents;
    },
    50,
    timeoutMs,
  );
}

async function memoryPhase(kind: ServerKind, idleUnloadMs?: number): Promise<MemoryResult> {
  const dataDir = kind === "concord" ? benchTempDir("concord-bench-sync-mem-") : undefined;
  let server: ServerProcess | undefined;
  try {
    server = await startServerProcess(kind, {
      ...(dataDir !== undefined ? { dataDir } : {}),
      ...(idleUnloadMs !== undefined ? { idleUnloadMs } : {}),
    });
    await sleep(SETTLE_MS);
    const idleMB = server.rssMB();
    const loadSeconds = await loadRooms(server, "mem");
    const short = kind === "concord" && idleUnloadMs !== undefined && idleUnloadMs < SETTLE_MS;
    if (kind === "concord") await waitForDocuments(server, short ? 0 : DOCS, 30_000);
    await sleep(SETTLE_MS);
    const rss = server.rssMB();
    return {
      idleMB,
      peakMB: server.peakRssMB(),
      ...(short ? { unloadedMB: rss } : { loadedMB: rss }),
      loadSeconds,
      ...(dataDir !== undefined ? { dataBytes: folderBytes(dataDir) } : {}),
    };
  } catch (error) {
    if (server) console.error(`${kind} server stderr (tail):\n${server.stderrTail()}`);
    throw error;
  } finally {
    await server?.stop();
    if (dataDir !== undefined) removeTempDir(dataDir);
  }
}

function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? folderBytes(path) : statSync(path).size;
  }
  return total;
}

function newestFile(dir: string, suffix: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return files[0];
}

function summarize(r: SpeedResult): { p50: number; p99: number; setsPerSec: number } {
  return {
    p50: median(r.latency.map((l) => l.p50)),
    p99: median(r.latency.map((l) => l.p99)),
    setsPerSec: (THROUGHPUT_N / median(r.throughputMs)) * 1000,
  };
}

export async function run(): Promise<void> {
  ensureBuilt();
  // Every WebsocketProvider adds a process "exit" listener; the memory phase holds 2 per loading room.
  process.setMaxListeners(Math.max(process.getMaxListeners(), 2 * LOAD_CONCURRENCY + 10));
  const started = performance.now();
  console.log(
    `\nsync: ${SERVER_NAME.stock} (y-websocket 2.1.0 bin/server.cjs) vs ${SERVER_NAME.concord}, loopback, each server in its own process; ` +
      `clients in this process`,
  );
  const stale = staleBuildFiles();
  if (stale.length > 0) console.log(`  WARNING: dist/ is older than ${stale.join(", ")}: run npm run build to measure the working tree`);
  console.log("  speed phase...");
  const speed = await speedPhase();
  console.log("  memory phase...");
  const memStock = await memoryPhase("stock");
  const memOurs = await memoryPhase("concord", LONG_IDLE_UNLOAD_MS);
  const memOursShort = await memoryPhase("concord", SHORT_IDLE_UNLOAD_MS);

  const byVariant = (server: ServerKind, clients: ClientKind) =>
    summarize(speed.results.find((r) => r.variant.server === server && r.variant.clients === clients)!);
  const stock = byVariant("stock", "stock");
  const ours = byVariant("concord", "stock");
  const load = `${DOCS} docs x ${KEYS.toLocaleString("en-US")} keys`;
  const rows: ComparisonRow[] = [
    compare(`latency p50, ms (${LATENCY_N.toLocaleString("en-US")} sequential sets A -> B)`, stock.p50, ours.p50, "lower", 3),
    compare("latency p99, ms", stock.p99, ours.p99, "lower", 3),
    compare(`throughput, sets/s (${THROUGHPUT_N.toLocaleString("en-US")} single-set txns A -> all at B)`, stock.setsPerSec, ours.setsPerSec, "higher", 0),
    compare("server RSS idle, MB", memStock.idleMB, memOurs.idleMB, "lower", 1),
    compare(`server RSS, ${load} loaded (clients gone), MB`, memStock.loadedMB!, memOurs.loadedMB!, "lower", 1),
    compare(
      `server RSS after clients left, MB (stock never unloads; ours idle-unload ${SHORT_IDLE_UNLOAD_MS} ms, all unloaded)`,
      memStock.loadedMB!,
      memOursShort.unloadedMB!,
      "lower",
      1,
    ),
    compare(`server peak RSS while loading ${load}, MB`, memStock.peakMB, memOurs.peakMB, "lower", 1),
  ];

  printComparison(
    `sync: stock y-websocket 3.1 clients (BroadcastChannel off) against both servers; median of ${REPS} rounds, interleaved\n` +
      "  NOTE: the stock server persists NOTHING (documents live in its memory only); concord serve persists every update\n" +
      "  durably (file storage, fsync per update, batched behind a sync in flight): forwarded at once, acknowledged once durable.\n" +
      "  Not the same work: ours does more.",
    "stock",
    rows,
  );

  const clientRows = speed.results.map((r) => {
    const s = summarize(r);
    return {
      variant: variantName(r.variant),
      p50Ms: round(s.p50, 3),
      p99Ms: round(s.p99, 3),
      setsPerSec: Math.round(s.setsPerSec),
      p50VsStock: round(s.p50 / stock.p50, 2),
      throughputVsStock: round(s.setsPerSec / stock.setsPerSec, 2),
      latencyRuns: r.latency.map((l) => ({ p50: round(l.p50, 3), p99: round(l.p99, 3), max: round(l.max, 3) })),
      throughputRunsMs: r.throughputMs.map((ms) => round(ms, 1)),
    };
  });
  console.log("\nsync: every client/server pair (ratios against stock clients -> stock server)");
  console.table(
    clientRows.map((r) => ({
      "clients -> server": r.variant,
      "p50 ms": r.p50Ms,
      "p99 ms": r.p99Ms,
      "sets/s": r.setsPerSec.toLocaleString("en-US"),
      "p50 x stock": `${r.p50VsStock}x`,
      "sets/s x stock": `${r.throughputVsStock}x`,
    })),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `memory phase: loading ${load} took ${memStock.loadSeconds.toFixed(1)} s (stock) / ${memOurs.loadSeconds.toFixed(1)} s (ours); ` +
      `ours wrote ${(memOurs.dataBytes! / 1e6).toFixed(1)} MB to disk for it. Whole bench: ${seconds.toFixed(0)} s.`,
  );
  if (speed.profile) console.log(`cpu profile of concord serve (speed phase): ${speed.profile}`);
  const file = writeResults("sync", {
    reps: REPS,
    latencyN: LATENCY_N,
    throughputN: THROUGHPUT_N,
    docs: DOCS,
    keysPerDoc: KEYS,
    persistence: { stock: "none (in memory only)", concord: "file storage, fsync, group commit, persisted before forwarded" },
    comparison: rows,
    pairs: clientRows,
    memory: { stock: memStock, concordLongIdleUnload: memOurs, concordShortIdleUnload: memOursShort },
    speedPhaseDataBytes: speed.ourDataBytes,
    staleBuildFiles: stale,
    seconds: round(seconds, 1),
  });
  console.log(`results: ${file}`);
}
