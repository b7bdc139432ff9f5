/**
 * `npm run bench -- retained-heap`: what a loaded document costs in memory once the garbage is
 * gone, the part of the sync bench's RSS figure that is data rather than V8 heap slack. 100
 * documents x 1,000 keys, each key set arriving as its own client update (as through a server):
 * (a) what the stock y-websocket server holds per room, a `Y.Doc` with the updates applied, and
 * (b) what `concord serve` holds per room, an eventual store over file storage (real fsync) that
 * persisted every update. Heap after a forced GC, same process, variants run one after the other.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Y from "yjs";
import { openStore } from "../src/open-store.js";
import { fileStorage } from "../src/storage/file-storage.js";
import { heapUsed, round, writeResults } from "./harness.js";

const DOCS = Number(process.env["BENCH_DOCS"] ?? 100);
const KEYS = Number(process.env["BENCH_KEYS"] ?? 1_000);

/** One update per key set, as clients send them. */
function clientUpdates(doc: number): Uint8Array[] {
  const src = new Y.Doc();
  const updates: Uint8Array[] = [];
  src.on("update", (u: Uint8Array) => updates.push(u));
  const map = src.getMap("concord");
  for (let k = 0; k < KEYS; k++) map.set(`key-${k}`, { doc, k, text: `value ${k} of doc ${doc}` });
  return updates;
}

async function measure(load: (held: unknown[]) => Promise<void>): Promise<number> {
  const before = heapUsed();
  const held: unknown[] = [];
  await load(held);
  const bytes = heapUsed() - before;
  if (held.length !== DOCS) throw new Error(`held ${held.length} documents, expected ${DOCS}`);
  return bytes;
}

export async function run(): Promise<void> {
  const inputs = Array.from({ length: DOCS }, (_, d) => clientUpdates(d));
  const dir = mkdtempSync(join(tmpdir(), "concord-bench-heap-"));
  try {
    const raw = await measure(async (held) => {
      for (const updates of inputs) {
        const doc = new Y.Doc();
        for (const u of updates) Y.applyUpdate(doc, u, "client");
        held.push(doc);
      }
    });
    const ours = await measure(async (held) => {
      const persistence = fileStorage(dir, { fsync: "always" });
      for (const [d, updates] of inputs.entries()) {
        const store = await openStore({ mode: "eventual", doc: `doc-${d}`, persistence });
        for (const u of updates) Y.applyUpdate(store.ydoc, u, "client");
        // Durable in order: once this write is acked, every update before it is on disk too.
        await store.set("bench:persisted", true);
        held.push(store);
      }
    });
    const rows = [
      { variant: `Y.Doc per room (what the stock server holds)`, "retained MB": round(raw / 1e6, 1), ratio: "1x" },
      { variant: `Concord eventual store per room, file storage`, "retained MB": round(ours / 1e6, 1), ratio: `${round(ours / raw, 2)}x` },
    ];
    console.log(`\nretained heap after GC, ${DOCS} documents x ${KEYS.toLocaleString("en-US")} keys (one client update per key)`);
    console.table(rows);
    console.log(`results: ${writeResults("retained-heap", { docs: DOCS, keys: KEYS, rawBytes: raw, oursBytes: ours })}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
