/**
 * `npm run bench -- eventual-local`: the cost of Concord's eventual mode over raw Yjs, embedded,
 * no network. 100k sets of distinct keys, (a) one transaction each, all in flight, and (b) batched
 * in transactions of 1,000, through Concord with memory storage and with file storage (group
 * commit, real fsync), against raw `Y.Map` sets in the same run, without and with a
 * `doc.on("update")` listener (the floor any persistence or sync layer pays).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Y from "yjs";
import { openStore } from "../src/open-store.js";
import { fileStorage } from "../src/storage/file-storage.js";
import { memoryStorage } from "../src/storage/memory-storage.js";
import type { Persistence } from "../src/storage/storage.js";
import { heapUsed, interleave, printTable, row, writeResults, type Row, type Sample } from "./harness.js";

const N = Number(process.env["BENCH_N"] ?? 100_000);
const BATCH = 1_000;
const REPS = Number(process.env["BENCH_REPS"] ?? 7);
const value = (i: number) => ({ title: `todo ${i}`, done: i % 2 === 0 });

async function rawYjs(batched: boolean, listener: boolean): Promise<Sample> {
  const before = heapUsed();
  const doc = new Y.Doc();
  const map = doc.getMap("concord");
  const updates: Uint8Array[] = [];
  if (listener) doc.on("update", (u: Uint8Array) => updates.push(u));
  const t0 = performance.now();
  if (batched) {
    for (let b = 0; b < N; b += BATCH) {
      doc.transact(() => {
        for (let i = b; i < Math.min(N, b + BATCH); i++) map.set(`k${i}`, value(i));
      });
    }
  } else {
    for (let i = 0; i < N; i++) map.set(`k${i}`, value(i));
  }
  const ms = performance.now() - t0;
  const heapBytes = heapUsed() - before;
  doc.destroy();
  return { ms, heapBytes };
}

async function concord(persistence: () => Persistence, batched: boolean): Promise<Sample> {
  const before = heapUsed();
  const store = await openStore({ mode: "eventual", doc: "bench", persistence: persistence() });
  const t0 = performance.now();
  const acks: Promise<unknown>[] = [];
  if (batched) {
    for (let b = 0; b < N; b += BATCH) {
      acks.push(
        store.transact((tx) => {
          for (let i = b; i < Math.min(N, b + BATCH); i++) tx.set(`k${i}`, value(i));
        }),
      );
    }
  } else {
    for (let i = 0; i < N; i++) acks.push(store.set(`k${i}`, value(i)));
  }
  await Promise.all(acks);
  const ms = performance.now() - t0;
  const heapBytes = heapUsed() - before;
  await store.close();
  return { ms, heapBytes };
}

export async function run(): Promise<void> {
  const dirs: string[] = [];
  const files = (): Persistence => {
    const dir = mkdtempSync(join(tmpdir(), "concord-bench-"));
    dirs.push(dir);
    return fileStorage(dir);
  };
  const rows: Row[] = [];
  try {
    for (const batched of [false, true]) {
      const shape = batched ? `batched x${BATCH}` : "1 per transaction";
      const [rawS, rawListenerS, memS, fileS] = await interleave(REPS, [
        () => rawYjs(batched, false),
        () => rawYjs(batched, true),
        () => concord(() => memoryStorage(), batched),
        () => concord(files, batched),
      ]);
      const raw = row(`raw Yjs, ${shape}`, N, rawS!);
      const rawListener = row(`raw Yjs + update listener, ${shape}`, N, rawListenerS!, raw);
      const mem = row(`Concord memory storage, ${shape}`, N, memS!, raw);
      const file = row(`Concord file storage (fsync, group commit), ${shape}`, N, fileS!, raw);
      rows.push(raw, rawListener, mem, {
        ...mem,
        name: `  same, vs raw Yjs + listener`,
        ratio: Math.round((mem.medianMs / rawListener.medianMs) * 100) / 100,
        baseline: rawListener.name,
      }, file);
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  printTable(`eventual-local: ${N.toLocaleString("en-US")} sets of distinct keys, median of ${REPS}`, rows);
  console.log(`results: ${writeResults("eventual-local", { n: N, reps: REPS, rows })}`);
}
