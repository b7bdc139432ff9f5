/**
 * `npm run bench -- scale`: how costs grow, against the same peers, in one run.
 *
 * 1. Documents that grow (`BENCH_SCALE_KEYS`, default 10k, 100k and 1M keys): an eventual store
 *    on memory storage against raw Yjs (a `Y.Map`, no listener), in this process, after a warm-up
 *    of both. Per size: the
 *    cost of one more write once the document holds that many keys (`BENCH_SCALE_OPS` single-key
 *    sets of existing keys, one transaction each, in microseconds per set) and the heap the
 *    document holds after a forced GC.
 * 2. A room whose audience grows (`BENCH_SCALE_CLIENTS`, default 10, 100 and 1,000 stock
 *    `WebsocketProvider` clients in this process): `concord serve` against the stock y-websocket
 *    server, each in a child process. Per audience: the time to connect every client and sync it,
 *    the server's resident memory per connection ((RSS with them - RSS idle) / clients), and the
 *    fan-out latency of one set by one client until every client holds it (median of
 *    `BENCH_SCALE_FANOUTS`).
 *
 * Prints a table per part with ratios, writes the JSON to bench/results/ and an SVG chart of every
 * figure against the size next to it (same name, `.svg`).
 */
import { writeFileSync } from "node:fs";
import * as Y from "yjs";
import type { EventualStore } from "../src/eventual/eventual-store.js";
import { openStore } from "../src/open-store.js";
import { memoryStorage } from "../src/storage/memory-storage.js";
import { chartSvg, type Panel } from "./chart.js";
import { compare, gc, heapUsed, median, printComparison, round, withTimeout, writeResults, type ComparisonRow } from "./harness.js";
import { benchTempDir, ensureBuilt, removeTempDir } from "./processes.js";
import { startServerProcess, type ServerKind } from "./sync-servers.js";
import { providerSynced, stockClient } from "./sync-peers.js";

const list = (name: string, fallback: string): number[] => (process.env[name] ?? fallback).split(",").map((s) => Number(s.trim()));
const KEYS = list("BENCH_SCALE_KEYS", "10000,100000,1000000");
const CLIENTS = list("BENCH_SCALE_CLIENTS", "10,100,1000");
const OPS = Number(process.env["BENCH_SCALE_OPS"] ?? 20_000);
const FANOUTS = Number(process.env["BENCH_SCALE_FANOUTS"] ?? 20);
const LOAD_BATCH = 10_000;

interface DocFigures {
  readonly keys: number;
  readonly usPerSet: number;
  readonly heapMB: number;
  readonly loadS: number;
}

/** Raw Yjs: a Y.Map of `keys` keys, then `OPS` single-key sets of existing keys. */
async function rawDoc(keys: number): Promise<DocFigures> {
  gc();
  const before = heapUsed();
  const started = performance.now();
  const doc = new Y.Doc();
  const map = doc.getMap<number>("concord");
  for (let i = 0; i < keys; i += LOAD_BATCH) doc.transact(() => {
    for (let k = i; k < Math.min(keys, i + LOAD_BATCH); k++) map.set(`k${k}`, k);
  });
  const loadS = (performance.now() - started) / 1_000;
  const t0 = performance.now();
  for (let i = 0; i < OPS; i++) map.set(`k${(i * 7919) % keys}`, -i);
  const usPerSet = ((performance.now() - t0) * 1_000) / OPS;
  gc();
  const heapMB = (heapUsed() - before) / 1e6;
  doc.destroy();
  return { keys, usPerSet, heapMB, loadS };
}

/** An eventual store on memory storage: the same load, then the same sets (each awaited: local ack). */
async function ourDoc(keys: number): Promise<DocFigures> {
  gc();
  const before = heapUsed();
  const started = performance.now();
  const store: EventualStore = await openStore({ mode: "eventual", doc: "scale", persistence: memoryStorage() });
  for (let i = 0; i < keys; i += LOAD_BATCH) {
    await store.transact((tx) => {
      for (let k = i; k < Math.min(keys, i + LOAD_BATCH); k++) tx.set(`k${k}`, k);
    });
  }
  const loadS = (performance.now() - started) / 1_000;
  const t0 = performance.now();
  const acks: Promise<unknown>[] = [];
  for (let i = 0; i < OPS; i++) acks.push(store.set(`k${(i * 7919) % keys}`, -i));
  await Promise.all(acks);
  const usPerSet = ((performance.now() - t0) * 1_000) / OPS;
  gc();
  const heapMB = (heapUsed() - before) / 1e6;
  await store.close();
  return { keys, usPerSet, heapMB, loadS };
}

interface RoomFigures {
  readonly clients: number;
  readonly connectS: number;
  readonly kbPerConnection: number;
  readonly fanoutMs: number;
}

/** `clients` stock clients on one room of a fresh `kind` server. */
async function room(kind: ServerKind, clients: number): Promise<RoomFigures> {
  const dataDir = kind === "concord" ? benchTempDir("concord-bench-scale-") : undefined;
  const server = await startServerProcess(kind, dataDir === undefined ? {} : { dataDir });
  const peers: ReturnType<typeof stockClient>[] = [];
  try {
    await new Promise((r) => setTimeout(r, 300)); // the server settles before its idle RSS is read
    const idle = server.rssMB();
    // Each stock WebsocketProvider listens to the process's exit (y-websocket does, in Node).
    process.setMaxListeners(Math.max(process.getMaxListeners(), clients + 20));
    const started = performance.now();
    for (let i = 0; i < clients; i++) peers.push(stockClient(server.url, "room"));
    await Promise.all(peers.map((p, i) => providerSynced(p.provider, `client ${i}`, 120_000)));
    const connectS = (performance.now() - started) / 1_000;
    await new Promise((r) => setTimeout(r, 300));
    const kbPerConnection = ((server.rssMB() - idle) * 1_024) / clients;
    const writer = peers[0]!.doc.getMap<number>("concord");
    const fanouts: number[] = [];
    for (let round = 0; round < FANOUTS; round++) {
      const key = `f${round}`;
      const t0 = performance.now();
      const arrived = Promise.all(
        peers.map(
          (p) =>
            new Promise<void>((resolve) => {
              const map = p.doc.getMap<number>("concord");
              if (map.has(key)) return resolve();
              const onChange = (): void => {
                if (!map.has(key)) return;
                map.unobserve(onChange);
                resolve();
              };
              map.observe(onChange);
            }),
        ),
      );
      writer.set(key, round);
      await withTimeout(arrived, 30_000, `fan-out ${round} to ${clients} clients of the ${kind} server`);
      fanouts.push(performance.now() - t0);
    }
    return { clients, connectS, kbPerConnection, fanoutMs: median(fanouts) };
  } finally {
    for (const p of peers) {
      p.provider.destroy();
      p.doc.destroy();
    }
    await server.stop();
    if (dataDir !== undefined) removeTempDir(dataDir);
  }
}

/** The chart of a run's figures (every panel against the size), as SVG. */
export function scaleChart(docs: readonly { raw: DocFigures; ours: DocFigures }[], rooms: readonly { stock: RoomFigures; ours: RoomFigures }[]): string {
  const series = <T>(rows: readonly T[], name: string, x: (r: T) => number, y: (r: T) => number) => ({ name, points: rows.map((r) => [x(r), y(r)] as const) });
  const panels: Panel[] = [
    {
      title: "one more set, as the document grows",
      xLabel: "keys in the document",
      yLabel: "us per set",
      series: [series(docs, "raw Yjs", (d) => d.raw.keys, (d) => round(d.raw.usPerSet, 2)), series(docs, "Concord (eventual, memory storage)", (d) => d.ours.keys, (d) => round(d.ours.usPerSet, 2))],
    },
    {
      title: "heap the document holds",
      xLabel: "keys in the document",
      yLabel: "MB",
      series: [series(docs, "raw Yjs", (d) => d.raw.keys, (d) => round(d.raw.heapMB, 1)), series(docs, "Concord", (d) => d.ours.keys, (d) => round(d.ours.heapMB, 1))],
    },
    {
      title: "time to connect and sync every client",
      xLabel: "clients in the room",
      yLabel: "s",
      series: [series(rooms, "stock y-websocket server", (r) => r.stock.clients, (r) => round(r.stock.connectS, 2)), series(rooms, "concord serve", (r) => r.ours.clients, (r) => round(r.ours.connectS, 2))],
    },
    {
      title: "server memory per connection",
      xLabel: "clients in the room",
      yLabel: "KB RSS",
      series: [series(rooms, "stock y-websocket server", (r) => r.stock.clients, (r) => round(r.stock.kbPerConnection, 1)), series(rooms, "concord serve", (r) => r.ours.clients, (r) => round(r.ours.kbPerConnection, 1))],
    },
    {
      title: "fan-out of one set to every client",
      xLabel: "clients in the room",
      yLabel: "ms (median)",
      series: [series(rooms, "stock y-websocket server", (r) => r.stock.clients, (r) => round(r.stock.fanoutMs, 2)), series(rooms, "concord serve", (r) => r.ours.clients, (r) => round(r.ours.fanoutMs, 2))],
    },
  ];
  return chartSvg("Concord at scale, against its peers in the same run", panels);
}

export async function run(): Promise<void> {
  ensureBuilt();
  console.log(`scale: documents of ${KEYS.map((k) => k.toLocaleString("en-US")).join(", ")} keys; rooms of ${CLIENTS.join(", ")} stock clients`);
  // Warm-up: both paths compiled and optimized before anything is timed.
  await rawDoc(10_000);
  await ourDoc(10_000);
  const docs: { raw: DocFigures; ours: DocFigures }[] = [];
  for (const keys of KEYS) {
    const raw = await rawDoc(keys);
    const ours = await ourDoc(keys);
    docs.push({ raw, ours });
    console.log(`  document of ${keys.toLocaleString("en-US")} keys: raw Yjs ${raw.usPerSet.toFixed(1)} us/set, ours ${ours.usPerSet.toFixed(1)} us/set`);
  }
  const rooms: { stock: RoomFigures; ours: RoomFigures }[] = [];
  for (const clients of CLIENTS) {
    const stock = await room("stock", clients);
    const ours = await room("concord", clients);
    rooms.push({ stock, ours });
    console.log(`  room of ${clients} clients: connect ${stock.connectS.toFixed(2)} s (stock) / ${ours.connectS.toFixed(2)} s (ours)`);
  }

  const docRows: ComparisonRow[] = docs.flatMap(({ raw, ours }) => {
    const n = raw.keys.toLocaleString("en-US");
    return [
      compare(`${n} keys: us per set (one transaction each)`, raw.usPerSet, ours.usPerSet, "lower", 2, 1.3),
      compare(`${n} keys: heap held, MB`, raw.heapMB, ours.heapMB, "lower", 1, null),
    ];
  });
  printComparison("scale: a document that grows (eventual store on memory storage vs raw Yjs, this process)", "raw Yjs", docRows);
  const roomRows: ComparisonRow[] = rooms.flatMap(({ stock, ours }) => [
    compare(`${stock.clients} clients: time to connect and sync all, s`, stock.connectS, ours.connectS, "lower", 2),
    compare(`${stock.clients} clients: server RSS per connection, KB`, stock.kbPerConnection, ours.kbPerConnection, "lower", 1),
    compare(`${stock.clients} clients: fan-out of one set to all, ms (median)`, stock.fanoutMs, ours.fanoutMs, "lower", 2),
  ]);
  printComparison("scale: a room whose audience grows (concord serve vs the stock y-websocket server, child processes)", "stock", roomRows);

  const file = writeResults("scale", { ops: OPS, fanouts: FANOUTS, docs, rooms, docRows, roomRows });
  const svg = file.replace(/\.json$/, ".svg");
  writeFileSync(svg, scaleChart(docs, rooms));
  console.log(`results: ${file}\nchart: ${svg}`);
}
